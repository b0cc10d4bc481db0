"""Single-row scoring of a fitted boosting pipeline without pandas or per-tree numpy calls.

scikit-learn's `predict_proba` on one row costs milliseconds (DataFrame checks, the column
encoder, one Cython call per tree). The API scores one loan at a time, so this module
flattens the fitted category codes and trees (read by `sklearn_trees`, the one module that
knows scikit-learn's internals) into plain Python lists once and walks them per row with the
same arithmetic as `sklearn/ensemble/_hist_gradient_boosting/_predictor.pyx` (float64
comparisons, leaf values summed in tree order onto the baseline). The result equals
`predict_proba` up to the last bits of the final sigmoid; training checks that on its whole
holdout and stores a sample that the API re-checks when it loads the artifact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline

from core.model.columns import ModelColumns
from core.model.sklearn_trees import FittedTrees, Node, fitted_trees

NAN = float("nan")
# The compiled scorer repeats scikit-learn's arithmetic; anything above rounding is a bug.
COMPILED_TOLERANCE = 1e-9


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
    # The training-weighted mean leaf value below each node (a leaf: its own value).
    mean: list[float] = field(default_factory=list)


def _means(tree: tuple[Node, ...]) -> list[float]:
    """Each node's mean leaf value below it, weighted by training counts (bottom-up)."""
    means = [0.0] * len(tree)
    weights = [0.0] * len(tree)

    def visit(i: int) -> None:
        node = tree[i]
        if node.is_leaf:
            means[i], weights[i] = node.value, float(max(node.count, 1))
            return
        visit(node.left)
        visit(node.right)
        weights[i] = weights[node.left] + weights[node.right]
        means[i] = (
            means[node.left] * weights[node.left] + means[node.right] * weights[node.right]
        ) / weights[i]

    visit(0)
    return means


def _flatten(fitted: FittedTrees) -> _Trees:
    trees = _Trees()
    for tree in fitted.trees:
        offset = len(trees.leaf)
        trees.roots.append(offset)
        for node in tree:
            trees.leaf.append(node.is_leaf)
            trees.value.append(node.value)
            trees.feature.append(node.feature)
            trees.threshold.append(node.threshold)
            trees.missing_left.append(node.missing_left)
            trees.left.append(offset + node.left)
            trees.right.append(offset + node.right)
            trees.categorical.append(node.categorical)
            trees.left_categories.append(node.left_categories)
            trees.known_categories.append(node.known_categories)
        trees.mean.extend(_means(tree))
    return trees


class CompiledModel:
    """P(default) of one row given as values in `ModelColumns.names` order."""

    def __init__(self, pipeline: Pipeline, columns: ModelColumns) -> None:
        model: HistGradientBoostingClassifier = pipeline.named_steps["model"]
        names = list(getattr(model, "feature_names_in_", []))
        if names != columns.names:
            raise TypeError(f"the model was fitted on columns {names}, not {columns.names}")
        fitted = fitted_trees(model)
        self._order = list(fitted.column_order)
        self._codes = list(fitted.category_codes)
        self._baseline = fitted.baseline
        self._trees = _flatten(fitted)
        self.n_trees = len(self._trees.roots)
        self.n_columns = len(columns.names)
        # What every explanation starts from: the baseline plus each tree's mean leaf value.
        self.base_margin = self._baseline + sum(self._trees.mean[r] for r in self._trees.roots)

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
        return self._walk(x)[0]

    def explain(self, row: Sequence[object]) -> tuple[float, list[float]]:
        """(margin, one contribution per model column) of one row, with
        `base_margin + sum(contributions) == margin` up to rounding.

        Path attribution (Saabas): walking a tree, each split moves the expected outcome from
        the node's training-weighted mean leaf value to the child's; that move is credited to
        the split's column. Per tree the moves add up to its leaf value minus its mean, so the
        contributions are exact for this row's margin; they come from the scoring walk itself.
        """
        return self._walk(self.encode(row))

    def _walk(self, x: list[float]) -> tuple[float, list[float]]:
        """One walk of every tree for an encoded row: (margin, contributions per column),
        with scikit-learn's arithmetic for the margin (float64 comparisons, leaves summed in
        tree order onto the baseline)."""
        t = self._trees
        leaf, mean, feature, threshold = t.leaf, t.mean, t.feature, t.threshold
        missing_left, left, right = t.missing_left, t.left, t.right
        categorical, left_cats, known_cats = t.categorical, t.left_categories, t.known_categories
        order = self._order
        contributions = [0.0] * self.n_columns
        margin = self._baseline
        for node in t.roots:
            while not leaf[node]:
                f = feature[node]
                v = x[f]
                if v != v:  # NaN: a missing value or an unseen category
                    child = left[node] if missing_left[node] else right[node]
                elif categorical[node]:
                    code = int(v)
                    if left_cats[node] >> code & 1:
                        child = left[node]
                    elif known_cats[node] >> code & 1:
                        child = right[node]
                    else:  # a category no tree saw in fit: treated as missing
                        child = left[node] if missing_left[node] else right[node]
                else:
                    child = left[node] if v <= threshold[node] else right[node]
                contributions[order[f]] += mean[child] - mean[node]
                node = child
            margin += t.value[node]
        return margin, contributions

    def predict_one(self, row: Sequence[object]) -> float:
        """P(default) of one row of model-column values (str/None or number/None)."""
        return probability(self.raw(self.encode(row)))


def probability(margin: float) -> float:
    """P(class 1) of a margin (log-odds), as scikit-learn's sigmoid."""
    if margin < -700:  # exp would overflow; the probability is 0 to double precision
        return 0.0
    return 1.0 / (1.0 + math.exp(-margin))
