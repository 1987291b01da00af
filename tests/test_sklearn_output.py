"""scikit-learn's output conventions: feature names out, set_output, ColumnTransformer, GridSearchCV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from dimred import Reducer

QUICK = {"steps": 20, "batch_size": 100, "random_state": 0}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    from dimred.plugins.swissroll import SwissRoll

    X = SwissRoll(SwissRoll.Options(n_samples=300)).load(0).X
    return pd.DataFrame(X, columns=["x", "y", "z"], index=pd.RangeIndex(1000, 1300, name="row"))


def test_feature_names_out_are_the_class_name_and_an_index(frame):
    with pytest.raises(NotFittedError):
        Reducer().get_feature_names_out()
    reducer = Reducer(n_components=3, **QUICK).fit(frame)
    assert list(reducer.get_feature_names_out()) == ["reducer0", "reducer1", "reducer2"]
    assert list(reducer.get_feature_names_out(["x", "y", "z"])) == ["reducer0", "reducer1", "reducer2"]
    with pytest.raises(ValueError, match="input_features"):
        reducer.get_feature_names_out(["a", "b", "c"])


def test_set_output_pandas_gives_named_columns_and_keeps_the_index(frame):
    reducer = Reducer(**QUICK).set_output(transform="pandas")
    codes = reducer.fit_transform(frame)
    assert isinstance(codes, pd.DataFrame)
    assert list(codes.columns) == ["reducer0", "reducer1"]
    assert codes.index.equals(frame.index)
    again = reducer.transform(frame)
    assert isinstance(again, pd.DataFrame)
    np.testing.assert_allclose(again.to_numpy(), codes.to_numpy(), atol=1e-6)
    assert isinstance(reducer.inverse_transform(again.to_numpy()), np.ndarray)  # inverse stays an array


def test_a_column_transformer_names_the_codes(frame):
    data = frame.assign(label=np.arange(len(frame)) % 3)
    columns = ColumnTransformer([("roll", Reducer(**QUICK), ["x", "y", "z"]), ("keep", "passthrough", ["label"])])
    columns.set_output(transform="pandas")
    out = columns.fit_transform(data)
    assert list(out.columns) == ["roll__reducer0", "roll__reducer1", "keep__label"]
    assert list(columns.get_feature_names_out()) == list(out.columns)
    assert out.shape == (300, 3)


def _negative_reconstruction_error(pipeline, X, y=None):
    return -float(np.mean((pipeline.inverse_transform(pipeline.transform(X)) - np.asarray(X)) ** 2))


def test_a_pipeline_in_grid_search_over_n_components(frame):
    pipeline = Pipeline([("scale", StandardScaler()), ("reduce", Reducer(**QUICK))]).set_output(transform="pandas")
    search = GridSearchCV(pipeline, {"reduce__n_components": [1, 2]}, cv=2, scoring=_negative_reconstruction_error)
    search.fit(frame)
    assert list(search.cv_results_["param_reduce__n_components"]) == [1, 2]
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = search.best_params_["reduce__n_components"]
    assert list(search.best_estimator_.get_feature_names_out()) == [f"reducer{i}" for i in range(best)]
    named = search.best_estimator_.transform(frame)
    assert list(named.columns) == [f"reducer{i}" for i in range(best)]
    assert named.shape == (300, best)


@pytest.mark.parametrize(("model", "settings"), [("ne-ae", {"steps": 3}), ("pca", {}), ("kernel-pca", {})])
def test_the_callers_pandas_output_setting_does_not_reach_dimreds_own_scikit_learn(model, settings):
    import sklearn

    # 120 columns: ne-ae finds its neighbours among 50 principal components, computed by scikit-learn's PCA
    X = np.random.default_rng(0).normal(size=(150, 120))
    with sklearn.config_context(transform_output="pandas"):
        reducer = Reducer(model=model, random_state=0, callbacks=["no-progress"], **settings).fit(X)
        codes = reducer.transform(X)
        assert isinstance(codes, pd.DataFrame)  # the reducer's own output follows the setting
        rows = reducer.inverse_transform(codes.to_numpy())
    np.testing.assert_allclose(codes.to_numpy(), Reducer(model=model, random_state=0, callbacks=["no-progress"],
                                                         **settings).fit_transform(X), atol=1e-6)  # fmt: skip
    assert rows.shape == X.shape
    assert np.isfinite(rows).all()
