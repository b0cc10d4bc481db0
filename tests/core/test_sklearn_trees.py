"""core/model/sklearn_trees.py reads private attributes of scikit-learn's HistGradientBoosting;
these fail loudly when the locked version changes under it (then re-read the scikit-learn code
named in that module's docstring and adjust it, and the compiled scorer if the arithmetic
changed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.preprocessing import OrdinalEncoder

from core.model.sklearn_trees import BITSET_WORDS, ENCODER, bitset, fitted_trees


def _frame(rows: int = 600, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], rows).astype(object)
    colour[rng.random(rows) < 0.05] = None
    size = rng.normal(size=rows)
    size[rng.random(rows) < 0.05] = np.nan
    shape = rng.choice(["round", "square"], rows).astype(object)
    frame = pd.DataFrame({"size": size, "colour": colour, "weight": rng.normal(size=rows)})
    frame["shape"] = shape
    label = ((colour == "red") ^ (size > 0.3)).astype(np.int64)
    return frame, label


def _fitted(categorical: list[str] | None) -> HistGradientBoostingClassifier:
    frame, label = _frame()
    model = HistGradientBoostingClassifier(
        categorical_features=categorical, max_iter=15, max_leaf_nodes=7, random_state=0
    )
    return model.fit(frame, label)


def test_the_locked_version_is_the_one_this_was_written_against() -> None:
    assert sklearn.__version__ == "1.9.1"


def test_a_tree_node_has_the_fields_and_types_read() -> None:
    fields = PREDICTOR_RECORD_DTYPE.fields
    assert fields is not None
    expected = {
        "value": np.float64,
        "feature_idx": np.intp,
        "num_threshold": np.float64,
        "missing_go_to_left": np.uint8,
        "left": np.uint32,
        "right": np.uint32,
        "is_leaf": np.uint8,
        "is_categorical": np.uint8,
        "bitset_idx": np.uint32,
    }
    for name, dtype in expected.items():
        assert name in fields, f"tree nodes have no field {name!r} any more"
        assert fields[name][0] == np.dtype(dtype), f"node field {name!r} changed type"


def test_a_fitted_model_holds_one_predictor_per_iteration_and_a_baseline() -> None:
    model = _fitted(["colour", "shape"])
    assert model.n_trees_per_iteration_ == 1
    assert len(model._predictors) == model.n_iter_
    for per_iteration in model._predictors:
        (predictor,) = per_iteration
        assert isinstance(predictor, TreePredictor)
        assert predictor.nodes.dtype == PREDICTOR_RECORD_DTYPE
        assert predictor.raw_left_cat_bitsets.dtype == np.uint32
        assert predictor.raw_left_cat_bitsets.shape[1:] == (BITSET_WORDS,)
    assert np.asarray(model._baseline_prediction).shape == (1, 1)


def test_the_encoder_puts_categorical_columns_first_and_knows_their_categories() -> None:
    model = _fitted(["colour", "shape"])
    preprocessor = model._preprocessor
    assert preprocessor is not None
    names = [name for name, _, _ in preprocessor.transformers_]
    assert names[:2] == [ENCODER, "numerical"], "the encoder's output is no longer first"
    encoder = preprocessor.named_transformers_[ENCODER]
    assert isinstance(encoder, OrdinalEncoder)
    assert list(model.is_categorical_) == [False, True, False, True]
    assert preprocessor.output_indices_[ENCODER] == slice(0, 2)
    # Sorted categories; None (not NaN) is one more category, coded after the strings.
    assert [list(c) for c in encoder.categories_] == [
        ["blue", "green", "red", None],
        ["round", "square"],
    ]
    known, f_idx_map = model._bin_mapper.make_known_categories_bitsets()
    assert known.shape == (2, BITSET_WORDS) and known.dtype == np.uint32
    assert list(f_idx_map[:2]) == [0, 1]  # encoded features 0 and 1 are the categorical ones
    assert bitset(known[0]) == 0b1111 and bitset(known[1]) == 0b11


def test_a_model_without_categorical_columns_has_no_encoder() -> None:
    frame, label = _frame()
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0)
    model.fit(frame[["size", "weight"]], label)
    assert model._preprocessor is None
    trees = fitted_trees(model)
    assert trees.column_order == (0, 1) and trees.category_codes == ()


def test_the_plain_trees_give_predict_proba() -> None:
    """A naive walk of the plain data equals scikit-learn (compiled.py walks the same data)."""
    model = _fitted(["colour", "shape"])
    frame, _ = _frame(200, seed=4)
    frame.loc[frame.index[:10], "colour"] = "purple"  # a category never seen in fit
    trees = fitted_trees(model)
    assert trees.column_order == (1, 3, 0, 2)
    assert trees.category_codes == (
        {"blue": 0.0, "green": 1.0, "red": 2.0, None: 3.0},
        {"round": 0.0, "square": 1.0},
    )

    def encode(row: list[object]) -> list[float]:
        out = []
        for i, source in enumerate(trees.column_order):
            value = row[source]
            if i < len(trees.category_codes):
                out.append(trees.category_codes[i].get(value, np.nan))
            else:
                out.append(np.nan if value is None else float(value))
        return out

    def leaf_value(tree: tuple, x: list[float]) -> float:
        node = tree[0]
        while not node.is_leaf:
            v = x[node.feature]
            if np.isnan(v):
                go_left = node.missing_left
            elif node.categorical:
                code = int(v)
                if node.left_categories >> code & 1:
                    go_left = True
                elif node.known_categories >> code & 1:
                    go_left = False
                else:
                    go_left = node.missing_left
            else:
                go_left = v <= node.threshold
            node = tree[node.left if go_left else node.right]
        return float(node.value)

    rows = frame.astype(object).where(frame.notna(), None).values.tolist()
    raw = [trees.baseline + sum(leaf_value(t, encode(r)) for t in trees.trees) for r in rows]
    got = 1 / (1 + np.exp(-np.asarray(raw)))
    np.testing.assert_allclose(got, model.predict_proba(frame)[:, 1], rtol=0, atol=1e-12)


def test_a_multiclass_model_is_refused() -> None:
    frame, label = _frame()
    model = HistGradientBoostingClassifier(max_iter=3, random_state=0)
    model.fit(frame[["size", "weight"]], label + (frame["weight"] > 1).to_numpy())
    with pytest.raises(TypeError, match="binary"):
        fitted_trees(model)
