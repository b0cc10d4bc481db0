"""A fitted HistGradientBoostingClassifier's trees, category codes and baseline as plain data.

scikit-learn has no public API for any of these: its predictors, bin mapper, built-in encoder
and baseline are private attributes (`_predictors`, `_bin_mapper`, `_preprocessor`,
`_baseline_prediction`) read by its own Cython predictor. This module is the only place that
reads them; tests/core/test_sklearn_trees.py pins the locked scikit-learn version and the
structure relied on here, and fails loudly when an upgrade changes it (then re-read
`sklearn/ensemble/_hist_gradient_boosting/{gradient_boosting.py,_predictor.pyx,common.pyx}`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

# Words of a scikit-learn category bitset (uint32 each, least significant first: codes 0-255).
BITSET_WORDS = 8
# The name scikit-learn gives its encoder of categorical columns inside `_preprocessor`.
ENCODER = "encoder"


@dataclass(frozen=True)
class Node:
    """One node of a tree; `left`/`right` index the nodes of the same tree."""

    is_leaf: bool
    value: float  # the raw score added by a leaf
    feature: int  # index into the encoded row (see FittedTrees.column_order)
    threshold: float  # numeric split: a value <= threshold goes left
    missing_left: bool  # where a missing value (NaN) goes
    left: int
    right: int
    categorical: bool  # a categorical split (never a leaf)
    left_categories: int  # categorical split: bitset of the category codes sent left
    known_categories: int  # categorical split: bitset of the codes seen in fit
    count: int = 0  # training samples that reached the node (the weights of explanations)


@dataclass(frozen=True)
class FittedTrees:
    """What scoring one row needs, in the order and encoding the trees were fitted on.

    The trees read an encoded row: encoded feature i is input column `column_order[i]`. The
    first `len(category_codes)` encoded features are the categorical columns, as the codes of
    `category_codes[i]` (a category not in it, or a value that is not a string or None, is
    missing); the others are numbers, NaN when missing. P(class 1) is
    sigmoid(baseline + the leaf value of every tree, summed in tree order).
    """

    column_order: tuple[int, ...]
    category_codes: tuple[dict[str | None, float], ...]
    baseline: float
    trees: tuple[tuple[Node, ...], ...]


def bitset(words: Any) -> int:
    """A scikit-learn bitset (8 uint32 words, least significant first) as one Python int."""
    return sum(int(word) << (32 * i) for i, word in enumerate(words))


def _encoding(
    model: HistGradientBoostingClassifier,
) -> tuple[tuple[int, ...], tuple[dict[str | None, float], ...]]:
    n_features = int(model.n_features_in_)
    preprocessor = model._preprocessor
    if preprocessor is None:  # no categorical column: the trees read the columns as given
        return tuple(range(n_features)), ()
    # The model's own encoder outputs the categorical columns first, then the numeric ones.
    is_cat = [bool(flag) for flag in model.is_categorical_]
    order = [i for i, cat in enumerate(is_cat) if cat] + [
        i for i, cat in enumerate(is_cat) if not cat
    ]
    categories = preprocessor.named_transformers_[ENCODER].categories_
    # The encoder takes NaN as missing but None as a category of its own; a category's code is
    # its position among the sorted categories it saw.
    codes = tuple(
        {c: float(i) for i, c in enumerate(cats) if isinstance(c, str) or c is None}
        for cats in categories
    )
    return tuple(order), codes


def _tree(predictor: Any, known: list[int], f_idx_map: Any) -> tuple[Node, ...]:
    raw_bitsets = [bitset(row) for row in predictor.raw_left_cat_bitsets]
    nodes = []
    for node in predictor.nodes:
        is_leaf = bool(node["is_leaf"])
        is_cat = bool(node["is_categorical"]) and not is_leaf
        feature = int(node["feature_idx"])
        nodes.append(
            Node(
                is_leaf=is_leaf,
                value=float(node["value"]),
                feature=feature,
                threshold=float(node["num_threshold"]),
                missing_left=bool(node["missing_go_to_left"]),
                left=int(node["left"]),
                right=int(node["right"]),
                categorical=is_cat,
                left_categories=raw_bitsets[int(node["bitset_idx"])] if is_cat else 0,
                known_categories=known[int(f_idx_map[feature])] if is_cat else 0,
                count=int(node["count"]),
            )
        )
    return tuple(nodes)


def fitted_trees(model: HistGradientBoostingClassifier) -> FittedTrees:
    """The trees of a fitted binary classifier, read once (not on a scoring path)."""
    if model.n_trees_per_iteration_ != 1:
        raise TypeError("only a binary classifier's trees can be read")
    order, codes = _encoding(model)
    known_bitsets, f_idx_map = model._bin_mapper.make_known_categories_bitsets()
    known = [bitset(row) for row in known_bitsets]
    trees = tuple(_tree(predictor, known, f_idx_map) for (predictor,) in model._predictors)
    baseline = float(np.asarray(model._baseline_prediction).ravel()[0])
    return FittedTrees(order, codes, baseline, trees)
