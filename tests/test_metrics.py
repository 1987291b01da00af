from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.manifold import trustworthiness as sklearn_trustworthiness

import dimred
from dimred._core import measures as metrics


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


def test_wide_rows_rank_their_neighbours_as_distances_summed_term_by_term_do(monkeypatch):
    """Wide rows take matrix products (16 times faster at 20 000 columns): the same ranks, duplicate rows too."""
    rng = np.random.default_rng(0)
    X = rng.lognormal(3.0, 1.0, size=(300, 500)).astype(np.float32)  # far from the origin, as raw counts are
    X[150:170], X[170:180] = X[:20], X[:10]  # duplicated rows: neighbours at distance 0, ties among three
    X, Z = torch.from_numpy(X), torch.from_numpy(rng.random((300, 2)))
    wide = metrics.neighbourhoods(X, Z, k=7)
    monkeypatch.setattr(metrics, "SUMMED_UP_TO_COLUMNS", 10**6)
    summed = metrics.neighbourhoods(X, Z, k=7)
    assert torch.equal(wide.trust_penalty, summed.trust_penalty)
    assert torch.equal(wide.continuity_penalty, summed.continuity_penalty)
    assert torch.equal(wide.coranking, summed.coranking)


def test_a_perfect_embedding_scores_one():
    X = torch.from_numpy(np.random.default_rng(1).random((100, 2)))
    assert metrics.trustworthiness(X, 3 * X, 10) == pytest.approx(1.0)
    assert metrics.continuity(X, 3 * X, 10) == pytest.approx(1.0)


def test_too_many_neighbours_is_refused():
    X = torch.rand(10, 2)
    with pytest.raises(ValueError, match="k must be at least 1 and below n/2"):
        metrics.trustworthiness(X, X, 5)


def test_rmse_over_all_entries():
    X = torch.zeros(4, 3)
    assert metrics.rmse(X, X + 0.5) == pytest.approx(0.5)


def brute_force_coranking(X: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """The co-ranking matrix Q[k, l] = #{(i, j): j is i's (k+1)-th neighbour in X and (l+1)-th in Z}."""
    n = len(X)

    def ranks(points):
        distances = np.linalg.norm(points[:, None] - points[None], axis=2)
        np.fill_diagonal(distances, np.inf)
        return np.argsort(np.argsort(distances, axis=1, kind="stable"), axis=1, kind="stable")

    rank_x, rank_z = ranks(X), ranks(Z)
    Q = np.zeros((n - 1, n - 1), dtype=np.int64)
    for i in range(n):
        for j in range(n):
            if i != j:
                Q[rank_x[i, j], rank_z[i, j]] += 1
    return Q


def test_q_nx_r_nx_and_knn_preservation_match_a_brute_force_coranking_matrix():
    rng = np.random.default_rng(3)
    X = rng.random((60, 4))
    Z = X[:, :2] + 0.2 * rng.standard_normal((60, 2))
    Q = brute_force_coranking(X, Z)
    n = len(X)
    expected_q = np.array([Q[:K, :K].sum() / (K * n) for K in range(1, n - 1)])
    found = metrics.neighbourhoods(torch.from_numpy(X), torch.from_numpy(Z), k=10)
    assert np.array_equal(found.q_nx().numpy(), expected_q)
    expected_r = ((n - 1) * expected_q - np.arange(1, n - 1)) / (n - 1 - np.arange(1, n - 1))
    np.testing.assert_allclose(found.r_nx().numpy(), expected_r, rtol=0, atol=1e-15)
    weights = 1 / np.arange(1, n - 1)
    assert found.r_nx_area() == pytest.approx((expected_r * weights).sum() / weights.sum(), abs=1e-15)
    assert found.knn_preservation() == expected_q[9]


@pytest.mark.parametrize("offset", [0.0, 1000.5])
def test_exactly_tied_distances_go_to_the_lower_row_number_wherever_the_rows_lie(offset):
    """Whole-number data and codes on a grid tie many distances exactly: each tie goes to the lower row number, as
    in the brute force, also away from the origin (moving such rows to their mean rounded their ties apart, which
    then ordered them instead)."""
    rng = np.random.default_rng(0)
    rng.normal(size=(60, 7))  # on to a draw where moving the rows to their mean changed the order of ties
    X = rng.integers(0, 3, (60, 5)).astype(float) + offset
    Z = rng.integers(0, 3, (60, 2)).astype(float) + offset / 10
    Q, n = brute_force_coranking(X, Z), len(X)
    found = metrics.neighbourhoods(torch.from_numpy(X), torch.from_numpy(Z), k=10)
    assert np.array_equal(found.q_nx().numpy(), np.array([Q[:K, :K].sum() / (K * n) for K in range(1, n - 1)]))
    penalty = sum(max(0, rank_x - 9) for rank_x, rank_z in np.argwhere(Q > 0) for _ in range(Q[rank_x, rank_z])
                  if rank_z < 10)  # fmt: skip
    assert found.trust_penalty.sum().item() == penalty


def test_a_perfect_embedding_keeps_every_neighbourhood():
    X = torch.from_numpy(np.random.default_rng(1).random((80, 2)))
    found = metrics.neighbourhoods(X, 2 * X, k=10)
    assert found.knn_preservation() == pytest.approx(1.0)
    assert found.r_nx_area() == pytest.approx(1.0)
    assert torch.allclose(found.pointwise_trustworthiness(), torch.ones(80, dtype=torch.float64))


def test_distance_spearman_is_one_for_a_monotone_map_and_matches_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(4)
    truth = torch.from_numpy(rng.random((300, 2)))
    assert metrics.distance_spearman(3 * truth, truth, pairs=20000, seed=0) == pytest.approx(1.0)
    Z = torch.from_numpy(rng.random((300, 2))) + truth
    everything = spearmanr(torch.pdist(Z).numpy(), torch.pdist(truth).numpy()).statistic
    assert metrics.distance_spearman(Z, truth, pairs=20000, seed=0) == pytest.approx(everything, abs=0.01)
    # no more pairs than it draws (44 850): every pair, once, as scipy takes them (a draw had been 0.5 % off)
    assert metrics.distance_spearman(Z, truth, pairs=200000, seed=0) == pytest.approx(everything, abs=1e-12)


def test_distance_spearman_gives_tied_distances_their_mean_rank_and_none_for_collapsed_codes():
    """Codes in two tight clusters have two distances only, whole-number coordinates many equal ones: Spearman's
    correlation with ties ranks them by their mean place, as scipy does (ranking them in sorted order instead
    gave 0.41 for 0.47 here). Codes all in one place correlate with nothing: no figure."""
    from scipy.stats import rankdata, spearmanr

    values = torch.tensor([3.0, 1.0, 3.0, 2.0, 1.0, 3.0], dtype=torch.float64)
    assert metrics._mid_ranks(values).tolist() == (rankdata(values.numpy()) - 1).tolist()
    rng = np.random.default_rng(6)
    truth = torch.from_numpy(rng.integers(0, 20, (300, 2)).astype(np.float64))
    Z = (truth[:, :1] > 9).double().repeat(1, 2) * 2.0  # two clusters, as far apart as the true halves
    everything = spearmanr(torch.pdist(Z).numpy(), torch.pdist(truth).numpy()).statistic
    assert metrics.distance_spearman(Z, truth, pairs=200000, seed=0) == pytest.approx(everything, abs=0.01)
    assert metrics.distance_spearman(torch.zeros(300, 2, dtype=torch.float64), truth, pairs=1000, seed=0) is None


@pytest.mark.parametrize("components", [2, 20])  # a k-d tree's search, and all the distances'
@pytest.mark.parametrize(("block", "offset"), [(None, 0.0), (7, 0.0), (None, 1e8)])
def test_knn_accuracy_matches_scikit_learns_classifier_in_blocks_or_at_once(block, offset, components, monkeypatch):
    """Held-out rows by the training codes, training rows by the others (leave-one-out), as scikit-learn's 5-NN
    classifier scores them; computed a few rows at a time (as held-out rows against a million training codes are)
    or at once, the same; and the same for codes far from the origin (a matrix product's distances lose the
    neighbours' order there)."""
    from sklearn.neighbors import KNeighborsClassifier

    from dimred.plugins import metrics as metric_plugins

    if block is not None:
        monkeypatch.setattr(metric_plugins, "DISTANCE_BLOCK", block * 200)  # 7 rows a block
    rng = np.random.default_rng(5)
    train, test = rng.random((200, components)), rng.random((50, components))
    train_labels = (rng.random(200) < 0.5 + 0.4 * (train[:, 0] > 0.5)).astype(int)
    test_labels = (rng.random(50) < 0.5 + 0.4 * (test[:, 0] > 0.5)).astype(int)
    context = metrics_context(test + offset, test_labels, reference=(train + offset, train_labels))
    found = metric_plugins.KnnAccuracy().compute(context)["knn_accuracy"]
    assert found == KNeighborsClassifier(5).fit(train, train_labels).score(test, test_labels)
    leave_one_out = metric_plugins.KnnAccuracy().compute(metrics_context(train + offset, train_labels))["knn_accuracy"]
    neighbours = KNeighborsClassifier(6).fit(train, train_labels).kneighbors(train, return_distance=False)[:, 1:]
    votes = train_labels[neighbours].sum(axis=1)
    assert leave_one_out == np.mean((votes >= 3) == train_labels)


def metrics_context(codes, labels, reference=None):
    from dimred.plugin import MetricContext

    codes = torch.from_numpy(codes)
    ref_codes, ref_labels = (None, None) if reference is None else (torch.from_numpy(reference[0]), reference[1])
    return MetricContext(codes, codes, None, codes, None, 10, 0, labels, ref_codes, ref_labels)


class _BlowsUpInTrainMode(torch.nn.Module):
    """Maps rows to their first two columns and back; in train mode (as the tutorial's error is measured) its
    reconstructions overflow."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :2]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        rows = torch.cat([z, z.sum(dim=1, keepdim=True)], dim=1)
        return rows * math.inf if self.training else rows


def test_train_mode_error_that_is_not_finite_is_a_failed_value_not_a_result():
    from dimred._engine import evaluation

    module = _BlowsUpInTrainMode()
    X = torch.from_numpy(np.random.default_rng(0).random((60, 3))).float()
    codes = module.encode(X)
    results, _ = evaluation.score(X, codes, module.decode(codes), 0, [], module=module)
    assert "rmse_train_mode" not in results
    assert results[evaluation.FAILED_METRICS] == {
        "rmse_train_mode": "the reconstruction error in train mode is inf, not a finite number"
    }


def test_train_mode_error_is_computed_as_eval_modes_is_in_float64_on_the_cpu():
    """A layer that maps 1e25 to 1e40 overflows float32: the error in train mode had been inf or NaN where eval
    mode's, computed in float64, was finite."""
    from dimred._engine import evaluation

    module = _BlowsUpInTrainMode().eval()
    X = torch.from_numpy(np.random.default_rng(0).random((60, 3)) * 1e25).float()
    module.decode = lambda z: torch.cat([z, 1e15 * z.sum(dim=1, keepdim=True)], dim=1)  # the same in both modes
    codes = module.encode(X)
    results, _ = evaluation.score(X, codes, module.decode(codes), 0, [], module=module)
    assert results["rmse_train_mode"] == pytest.approx(float(metrics.rmse(X.double(), module.decode(codes.double()))))


def test_rmse_of_errors_whose_squares_overflow_or_underflow_is_their_own():
    """Errors of 1e-169 (PCA's reconstructions of unscaled data that small) had been reported as an RMSE of 0."""
    X = torch.zeros(4, 3, dtype=torch.float64)
    X_hat = torch.full((4, 3), 1e200, dtype=torch.float64)
    X_hat[0, 0] = 3e200
    expected = 1e200 * math.sqrt((9 + 11) / 12)
    assert metrics.rmse(X, X_hat) == pytest.approx(expected, rel=1e-12)
    assert metrics.rmse(X, X_hat / 1e200) == pytest.approx(expected / 1e200, rel=1e-12)
    assert metrics.rmse(X, X_hat / 1e200 * 1e-169) == pytest.approx(expected / 1e200 * 1e-169, rel=1e-12, abs=0)
    assert metrics.rmse(X, X) == 0
    from dimred.plugin import MetricContext
    from dimred.plugins import metrics as metric_plugins

    context = MetricContext(X, X[:, :2], None, X, X_hat, 10, 0)
    assert metric_plugins.ReconstructionError().compute(context)["rmse"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("rows", "said"),
    [(np.random.default_rng(0).random((16, 3)),
      ["neighbourhood scores over only 8 rows say little",
       "neighbourhood scores over only 8 held-out rows say little"]),
     (np.repeat([[0.0, 0.0, 1.0], [1.0, 2.0, 0.0], [0.5, 0.1, 0.2]], 100, axis=0),
      ["neighbourhood scores over 150 rows of only 3 distinct points say little",
       "neighbourhood scores over 150 held-out rows of only 3 distinct points say little"])],
    ids=["few rows", "few distinct points"],
)  # fmt: skip
def test_the_few_rows_warning_says_which_rows_it_is_about(tmp_path, rows, said):
    """A run scores its training and held-out rows apart: the two warnings had been the same line twice. Three
    points, each 100 times over, scored 1.0 on every neighbourhood figure (true, and saying nothing) unwarned."""
    np.save(tmp_path / "rows.npy", rows)
    with pytest.warns(UserWarning, match="say little") as caught:
        dimred.run("file", "pca", settings={"dataset.path": str(tmp_path / "rows.npy")}, holdout=0.5, out=None,
                   reporters=[])  # fmt: skip
    assert [str(warning.message) for warning in caught if "say little" in str(warning.message)] == said


@pytest.mark.parametrize("scale", [2.0**-560, 2.0**560])
def test_every_distance_figure_is_the_same_for_data_and_codes_near_the_ends_of_float64(scale):
    """Rows and codes of about 1e-170 (unscaled data, PCA's codes): their squared distances underflowed to 0, every
    distance tied, and every neighbourhood figure read 1.0 with exit 0; about 1e170 overflowed to inf alike."""
    from dimred.plugins import metrics as metric_plugins

    rng = np.random.default_rng(0)
    X, Z, truth = rng.normal(size=(200, 5)), rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    labels = rng.integers(0, 3, 200)
    found, expected = (
        (
            metrics.neighbourhoods(torch.from_numpy(X * factor), torch.from_numpy(Z * factor)),
            metrics.distance_spearman(torch.from_numpy(Z * factor), torch.from_numpy(truth * factor), 5000, 0),
            metric_plugins.KnnAccuracy().compute(metrics_context(Z * factor, labels))["knn_accuracy"],
            metric_plugins.Silhouette().compute(metrics_context(Z * factor, labels))["silhouette"],
        )
        for factor in (scale, 1.0)
    )
    assert found[0].trustworthiness == expected[0].trustworthiness < 0.9
    assert found[0].continuity == expected[0].continuity
    assert found[0].knn_preservation() == expected[0].knn_preservation()
    assert found[1:3] == expected[1:3]
    assert found[3] == pytest.approx(expected[3], rel=1e-9)


@pytest.mark.parametrize("columns", [5, 80])  # distances summed term by term, and through a matrix product
def test_rows_beside_one_at_1e170_keep_their_neighbourhoods(columns):
    """One row (and its code) at 1e170 beside rows near 1: brought to unit scale, the others' distances underflowed
    to 0, and `dimred evaluate` reported every neighbourhood figure 1.0 with exit 0; wide rows centred on their mean
    had all taken that row's column value. The other rows' figures are those they have beside a row at 1e6."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, columns))
    Z = X[:, :2] + 0.5 * rng.normal(size=(60, 2))
    penalties = {}
    for far in (1e6, 1e170):
        X[0, 0], Z[0, 0] = far, far
        found = metrics.neighbourhoods(torch.from_numpy(X), torch.from_numpy(Z), 5)
        penalties[far] = (found.trust_penalty[1:], found.continuity_penalty[1:])
    for trust_or_continuity in (0, 1):
        assert torch.equal(penalties[1e170][trust_or_continuity], penalties[1e6][trust_or_continuity])
        assert penalties[1e6][trust_or_continuity].sum() > 0


def test_codes_of_equal_rows_apart_by_rounding_alone_score_as_equal_codes():
    """Equal rows' codes 1e-15 apart (a model's blocked matrix products) had ordered their neighbours by that
    noise: PCA's exact codes of 3 points x 8 copies scored an R_NX area of 0.72. Codes further apart are the
    model's own (t-SNE places copies apart) and scored as they are."""
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(3, 3)), 8, axis=0)
    Z = X @ np.linalg.qr(rng.normal(size=(3, 3)))[0]  # a rotation: every distance kept
    figures = {}
    for name, noise in (("exact", 0.0), ("rounding", 1e-15), ("float32 rounding", 1e-7), ("apart", 1e-3)):
        codes = torch.from_numpy(Z + noise * rng.normal(size=Z.shape))
        codes = codes.float() if name.startswith("float32") else codes  # a float32 model's rounding is its own
        found = metrics.neighbourhoods(torch.from_numpy(X), codes, 5)
        figures[name] = (found.trustworthiness, found.continuity, found.knn_preservation(), found.r_nx_area())
    assert figures["exact"] == pytest.approx((1.0, 1.0, 1.0, 1.0))
    assert figures["rounding"] == figures["float32 rounding"] == figures["exact"]
    assert figures["apart"][3] < 0.99


def test_passes_over_big_data_hold_a_bounded_number_of_values_whatever_the_rows_width(monkeypatch):
    """The scaler's pass over a memory-mapped file took 2^20 rows at a time whatever their width (5 GB for rows of
    128 columns), and the RMSE made whole float64 copies of the data (2.5 GB for 10^6 rows of 64 columns)."""
    from dimred._engine import rows
    from dimred._io import validation

    monkeypatch.setattr(validation, "CHUNK_VALUES", 30_000)
    X = np.random.default_rng(0).normal(size=(5000, 300)).astype(np.float32)
    sizes = [chunk.numel() for chunk in rows.chunks(X, torch.float32)]
    assert max(sizes) <= 30_000
    assert sum(sizes) == X.size
    X_hat = X + np.random.default_rng(1).normal(size=X.shape).astype(np.float32)
    whole = float(np.sqrt(np.mean((X_hat.astype(np.float64) - X) ** 2)))
    monkeypatch.setattr(metrics, "_CHUNK_ELEMENTS", 30_000)
    assert metrics.rmse(torch.from_numpy(X), torch.from_numpy(X_hat)) == pytest.approx(whole, rel=1e-12)
