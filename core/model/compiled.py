"""Single-row scoring of a fitted boosting pipeline without pandas or per-tree numpy calls.

scikit-learn's `predict_proba` on one row costs milliseconds (DataFrame checks, the column
encoder, one Cython call per tree). The API scores one loan at a time, so this module
flattens the fitted category codes and trees into plain Python lists once and walks them per
row with the same arithmetic as `sklearn/ensemble/_hist_gradient_boosting/_predictor.pyx`
(float64 comparisons, leaf values summed in tree order onto the baseline). The result equals
`predict_proba` up to the last bits of the final sigmoid; training checks that on its whole
holdout and stores a sample that the API re-checks when it loads the artifact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline

from core.model.columns import ModelColumns

NAN = float("nan")
# The compiled scorer repeats scikit-learn's arithmetic; anything above rounding is a bug.
COMPILED_TOLERANCE = 1e-9


def _bits(words: np.ndarray) -> int:
    """A scikit-learn bitset (8 uint32 words, least significant first) as one Python int."""
    return sum(int(word) << (32 * i) for i, word in enumerate(words))


@dataclass
class _Trees:
    """Every node of every tree in flat lists; `roots[t]` is tree t's first node."""

    roots: list[int] = field(default_factory=list)
    leaf: list[bool] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    feature: list[int] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    missing_left: list[bool] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    right: list[int] = field(default_factory=list)
    categorical: list[bool] = field(default_factory=list)
    left_categories: list[int] = field(default_factory=list)  # bitset of codes sent left
    known_categories: list[int] = field(default_factory=list)  # bitset of codes seen in fit


def _flatten(model: HistGradientBoostingClassifier) -> _Trees:
    if model.n_trees_per_iteration_ != 1:
        raise TypeError("only binary classifiers can be compiled")
    known, f_idx_map = model._bin_mapper.make_known_categories_bitsets()
    known_bits = [_bits(row) for row in known]
    trees = _Trees()
    for (predictor,) in model._predictors:
        offset = len(trees.leaf)
        trees.roots.append(offset)
        raw_bitsets = [_bits(row) for row in predictor.raw_left_cat_bitsets]
        for node in predictor.nodes:
            is_cat = bool(node["is_categorical"]) and not bool(node["is_leaf"])
            feature = int(node["feature_idx"])
            trees.leaf.append(bool(node["is_leaf"]))
            trees.value.append(float(node["value"]))
            trees.feature.append(feature)
            trees.threshold.append(float(node["num_threshold"]))
            trees.missing_left.append(bool(node["missing_go_to_left"]))
            trees.left.append(offset + int(node["left"]))
            trees.right.append(offset + int(node["right"]))
            trees.categorical.append(is_cat)
            trees.left_categories.append(raw_bitsets[int(node["bitset_idx"])] if is_cat else 0)
            trees.known_categories.append(known_bits[int(f_idx_map[feature])] if is_cat else 0)
    return trees


class CompiledModel:
    """P(default) of one row given as values in `ModelColumns.names` order."""

    def __init__(self, pipeline: Pipeline, columns: ModelColumns) -> None:
        model: HistGradientBoostingClassifier = pipeline.named_steps["model"]
        names = list(getattr(model, "feature_names_in_", []))
        if names != columns.names:
            raise TypeError(f"the model was fitted on columns {names}, not {columns.names}")
        if model._preprocessor is None:  # no categorical column: trees read columns as given
            order, codes = list(range(len(names))), []
        else:
            # The model's own encoder puts categorical columns first, then the numeric ones.
            is_cat = [bool(flag) for flag in model.is_categorical_]
            order = [i for i, cat in enumerate(is_cat) if cat]
            order += [i for i, cat in enumerate(is_cat) if not cat]
            categories = model._preprocessor.named_transformers_["encoder"].categories_
            # scikit-learn's encoder takes NaN as missing but None as a category of its own.
            codes = [
                {c: float(i) for i, c in enumerate(cats) if isinstance(c, str) or c is None}
                for cats in categories
            ]
        self._order = order
        self._codes = codes
        self._baseline = float(model._baseline_prediction.ravel()[0])
        self._trees = _flatten(model)
        self.n_trees = len(self._trees.roots)

    def encode(self, row: Sequence[object]) -> list[float]:
        """The row as the trees see it: category codes first (NaN if missing or unseen)."""
        out: list[float] = []
        n_codes = len(self._codes)
        for i, source in enumerate(self._order):
            value = row[source]
            if i < n_codes:
                if isinstance(value, str) or value is None:
                    out.append(self._codes[i].get(value, NAN))
                else:  # not a string: a category no encoder knows
                    out.append(NAN)
            else:
                out.append(NAN if value is None else float(value))  # type: ignore[arg-type]
        return out

    def raw(self, x: list[float]) -> float:
        """Baseline plus the leaf of every tree, summed in tree order like scikit-learn."""
        t = self._trees
        leaf, value, feature, threshold = t.leaf, t.value, t.feature, t.threshold
        missing_left, left, right = t.missing_left, t.left, t.right
        categorical, left_cats, known_cats = t.categorical, t.left_categories, t.known_categories
        total = self._baseline
        for node in t.roots:
            while not leaf[node]:
                v = x[feature[node]]
                if v != v:  # NaN: a missing value or an unseen category
                    node = left[node] if missing_left[node] else right[node]
                elif categorical[node]:
                    code = int(v)
                    if left_cats[node] >> code & 1:
                        node = left[node]
                    elif known_cats[node] >> code & 1:
                        node = right[node]
                    else:  # a category no tree saw in fit: treated as missing
                        node = left[node] if missing_left[node] else right[node]
                else:
                    node = left[node] if v <= threshold[node] else right[node]
            total += value[node]
        return total

    def predict_one(self, row: Sequence[object]) -> float:
        """P(default) of one row of model-column values (str/None or number/None)."""
        raw = self.raw(self.encode(row))
        if raw < -700:  # exp would overflow; the probability is 0 to double precision
            return 0.0
        return 1.0 / (1.0 + math.exp(-raw))
