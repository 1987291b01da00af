from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.manifold import trustworthiness as sklearn_trustworthiness

from dimred.engine import metrics


@pytest.fixture
def data_and_embedding():
    rng = np.random.default_rng(0)
    X = rng.random((240, 5))
    Z = X[:, :2] + 0.3 * rng.standard_normal((240, 2))
    return X, Z


@pytest.mark.parametrize("k", [1, 5, 10, 40])
def test_trustworthiness_matches_scikit_learn(data_and_embedding, k):
    X, Z = data_and_embedding
    ours = metrics.trustworthiness(torch.from_numpy(X), torch.from_numpy(Z), k)
    assert ours == pytest.approx(sklearn_trustworthiness(X, Z, n_neighbors=k), abs=1e-9)


@pytest.mark.parametrize("k", [3, 10])
def test_continuity_is_trustworthiness_with_the_roles_swapped(data_and_embedding, k):
    X, Z = data_and_embedding
    ours = metrics.continuity(torch.from_numpy(X), torch.from_numpy(Z), k)
    assert ours == pytest.approx(sklearn_trustworthiness(Z, X, n_neighbors=k), abs=1e-9)


def test_chunking_does_not_change_the_result(data_and_embedding, monkeypatch):
    X, Z = (torch.from_numpy(array) for array in data_and_embedding)
    whole = metrics.trustworthiness(X, Z, 10)
    monkeypatch.setattr(metrics, "_CHUNK_ELEMENTS", 7 * len(X))
    assert metrics.trustworthiness(X, Z, 10) == whole


def test_a_perfect_embedding_scores_one():
    X = torch.from_numpy(np.random.default_rng(1).random((100, 2)))
    assert metrics.trustworthiness(X, 3 * X, 10) == pytest.approx(1.0)
    assert metrics.continuity(X, 3 * X, 10) == pytest.approx(1.0)


def test_too_many_neighbours_is_refused():
    X = torch.rand(10, 2)
    with pytest.raises(ValueError, match="k must be between 1 and n/2"):
        metrics.trustworthiness(X, X, 5)


def test_rmse_over_all_entries():
    X = torch.zeros(4, 3)
    assert metrics.rmse(X, X + 0.5) == pytest.approx(0.5)
