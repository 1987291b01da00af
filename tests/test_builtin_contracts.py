"""The built-in plugins pass the same contract checks that dimred.testing offers plugin authors."""

from __future__ import annotations

import numpy as np
import pytest

from dimred.plugin import Data, RunRecord
from dimred.plugins.classical import IsomapModel, KernelPCAModel, PCAModel, TSNEModel
from dimred.plugins.file import DataFile
from dimred.plugins.metrics import (
    Continuity,
    IntrinsicSpearman,
    KnnAccuracy,
    KnnPreservation,
    ReconstructionError,
    RnxCurve,
    Silhouette,
    Trustworthiness,
)
from dimred.plugins.metrics_table import MetricsTable
from dimred.plugins.mlp_ae import MLPAutoencoder
from dimred.plugins.mse import MeanSquaredLoss
from dimred.plugins.plots import CodesPlot, InputPlot, LossCurve, ReconstructionPlot, RnxPlot, TrustMap
from dimred.plugins.swissroll import SwissRoll
from dimred.testing import (
    check_dataset_plugin,
    check_loss_plugin,
    check_metric_plugin,
    check_model_plugin,
    check_reporter_plugin,
)


def test_swissroll():
    data = check_dataset_plugin(SwissRoll, {"n_samples": 300})
    assert data.X.shape == (300, 3)
    assert data.intrinsic.shape == (300, 2)


def test_digits():
    from dimred.plugins.digits import Digits

    assert check_dataset_plugin(Digits).X.shape == (1797, 64)


def test_file(tmp_path):
    np.save(tmp_path / "data.npy", np.random.default_rng(0).random((20, 4)))
    assert check_dataset_plugin(DataFile, {"path": str(tmp_path / "data.npy")}).X.shape == (20, 4)


@pytest.mark.parametrize("options", [None, {"n_components": 3, "hidden": (16,), "batch_norm": False}])
def test_mlp_ae(options):
    check_model_plugin(MLPAutoencoder, options)


@pytest.mark.parametrize("model", [PCAModel, KernelPCAModel, IsomapModel, TSNEModel])
def test_classical_models(model):
    check_model_plugin(model, {"n_components": 2})


def test_a_one_call_model_is_checked_within_the_widths_its_options_take():
    """t-SNE takes at most 3 components: asked for one more than 3, the check had failed it."""
    check_model_plugin(TSNEModel, {"n_components": 3}, n_features=5)


@pytest.mark.parametrize("metric", [ReconstructionError, Trustworthiness, Continuity, KnnPreservation, RnxCurve,
                                    IntrinsicSpearman, KnnAccuracy, Silhouette])  # fmt: skip
def test_metrics_return_named_values_of_their_own(metric):
    values = check_metric_plugin(metric)
    assert values, f"metric '{metric.name}' gave no values of its own"


def _brute_force_knn_preservation(X: np.ndarray, Z: np.ndarray, k: int) -> float:
    def neighbours(rows: np.ndarray) -> np.ndarray:
        distances = ((rows[:, None, :] - rows[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(distances, np.inf)
        return np.argsort(distances, axis=1, kind="stable")[:, :k]

    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(neighbours(X), neighbours(Z), strict=True)]))


def test_every_built_in_metric_gives_what_an_independent_computation_gives():
    """The contract check above only asks for values of a metric's own names: continuity answering with
    trustworthiness, or silhouette with the labels shuffled, had passed every test."""
    import torch
    from scipy.spatial.distance import pdist
    from scipy.stats import spearmanr
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import silhouette_score
    from sklearn.neighbors import KNeighborsClassifier

    from dimred.plugin import MetricContext

    rng = np.random.default_rng(0)
    n, k = 90, 7
    X = rng.normal(size=(n, 6))
    Z = X[:, :2] + 0.5 * rng.normal(size=(n, 2))  # keeps some neighbourhoods, loses others
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    reconstruction = X + 0.1 * rng.normal(size=X.shape)
    tensor = torch.as_tensor
    context = MetricContext(tensor(X), tensor(Z), tensor(X[:, 2:4]), tensor(X), tensor(reconstruction), k, 0, labels)
    values = {}
    for metric in (ReconstructionError, Trustworthiness, Continuity, KnnPreservation, RnxCurve, Silhouette):
        values.update(metric().compute(context))
    preserved = _brute_force_knn_preservation(X, Z, k)
    assert values["rmse"] == pytest.approx(np.sqrt(np.mean((X - reconstruction) ** 2)))
    assert values["trustworthiness"] == pytest.approx(trustworthiness(X, Z, n_neighbors=k))
    assert values["continuity"] == pytest.approx(trustworthiness(Z, X, n_neighbors=k))
    assert values["continuity"] != pytest.approx(values["trustworthiness"])
    assert values["knn_preservation"] == pytest.approx(preserved)
    curve = dict(zip(values["rnx_curve"]["K"], values["rnx_curve"]["R_NX"], strict=True))
    # R_NX(K) rescales the share of K neighbours kept so that chance scores 0 (Lee & Verleysen)
    assert curve[k] == pytest.approx(((n - 1) * preserved - k) / (n - 1 - k))
    assert values["silhouette"] == pytest.approx(silhouette_score(Z, labels))
    assert values["silhouette"] != pytest.approx(silhouette_score(Z, labels[::-1]))

    spearman = {
        pairs: IntrinsicSpearman(IntrinsicSpearman.Options(pairs=pairs)).compute(context) for pairs in (10, 200_000)
    }
    every_pair = spearmanr(pdist(Z), pdist(X[:, 2:4])).statistic
    assert spearman[200_000]["spearman_intrinsic"] == pytest.approx(every_pair, abs=0.01)  # pairs drawn at random
    assert spearman[10]["spearman_intrinsic"] != pytest.approx(spearman[200_000]["spearman_intrinsic"], abs=1e-3)

    held_out = MetricContext(tensor(X[:30]), tensor(Z[:30]), None, tensor(X[:30]), None, k, 0, labels[:30],
                             tensor(Z[30:]), labels[30:])  # fmt: skip
    classifier = KNeighborsClassifier(3).fit(Z[30:], labels[30:])
    accuracy = KnnAccuracy(KnnAccuracy.Options(k=3)).compute(held_out)["knn_accuracy"]
    assert accuracy == pytest.approx(classifier.score(Z[:30], labels[:30]))


def test_the_rnx_plot_draws_the_runs_curve_and_the_trust_map_colours_each_point_by_its_own_trust():
    import torch

    from dimred.plugin import MetricContext

    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4))
    Z = X[:, :2] + 0.5 * rng.normal(size=(60, 2))
    context = MetricContext(torch.as_tensor(X), torch.as_tensor(Z), None, torch.as_tensor(X), None, 5, 0)
    metrics = {**RnxCurve().compute(context), **Trustworthiness().compute(context)}
    record = RunRecord("d", "pca", Data(X=X), X, Z, None, [], metrics, None, metric_context=context)
    (line,) = RnxPlot().draw(record).axes[0].get_lines()
    assert list(line.get_xdata()) == metrics["rnx_curve"]["K"]
    assert list(line.get_ydata()) == metrics["rnx_curve"]["R_NX"]
    colours = TrustMap().draw(record).axes[0].collections[0].get_array()
    assert len(colours) == 60
    assert colours.std() > 0.01  # points told apart, not one colour
    assert colours.mean() == pytest.approx(metrics["trustworthiness"])  # the points' own trust averages to T


def test_mse():
    check_loss_plugin(MeanSquaredLoss)


@pytest.mark.parametrize(
    "reporter", [InputPlot, CodesPlot, ReconstructionPlot, LossCurve, RnxPlot, TrustMap, MetricsTable]
)
def test_reporters(reporter):
    check_reporter_plugin(reporter)


def test_rows_that_are_images_are_drawn_as_pictures_labelled_with_their_class():
    rng = np.random.default_rng(0)
    X = rng.random((30, 64))
    data = Data(X=X, labels=np.arange(30) % 10, images=(8, 8))
    record = RunRecord("digits", "pca", data, X, X[:, :2], 0.9 * X, [], {"rmse": 0.1}, None)
    for reporter, pictures in ((InputPlot, 10), (ReconstructionPlot, 20)):
        figure = reporter().draw(record)
        images = [axes.images[0] for axes in figure.axes if axes.images]
        assert len(images) == pictures
        assert images[0].get_array().shape == (8, 8)
        assert [axes.get_title() for axes in figure.axes[:10]] == [str(label) for label in range(10)]
    np.testing.assert_allclose(images[10].get_array(), 0.9 * X[0].reshape(8, 8))  # the first reconstruction


def test_an_image_grid_of_data_sorted_by_class_shows_one_image_of_each_class():
    """MNIST-5k's rows come sorted by class: the grid of the first ten rows had shown ten zeros."""
    X = np.random.default_rng(0).random((60, 64))
    labels = np.repeat([f"digit {n}" for n in (3, 1, 2)], 20)  # three classes, sorted; named, not numbered
    figure = InputPlot().draw(RunRecord("sorted", "pca", Data(X=X, labels=labels, images=(8, 8)), X, X[:, :2], None,
                                        [], {}, None))  # fmt: skip
    titles = [axes.get_title() for axes in figure.axes]
    assert titles[:3] == ["digit 1", "digit 2", "digit 3"]  # one of each, in the legend's order
    assert len(titles) == 10
    assert set(titles[3:]) <= set(titles[:3])
    unlabelled = InputPlot().draw(RunRecord("sorted", "pca", Data(X=X, images=(8, 8)), X, X[:, :2], None, [], {},
                                            None))  # fmt: skip
    first = [axes.images[0].get_array() for axes in unlabelled.axes]
    np.testing.assert_allclose(first[-1], X[-1].reshape(8, 8))  # spread to the last row, not the first ten


def test_legends_list_classes_in_natural_order_and_more_than_20_get_distinct_colours():
    """25 clusters had been listed cluster_1, cluster_10, ..., cluster_2, and coloured by turbo samples, whose
    neighbours look alike; names in lower case had followed all those in upper case."""
    from dimred.plugin import class_colours, legend_classes

    names = np.array([f"cluster_{n}" for n in range(25, 0, -1)] + ["NK cells", "monocytes"])
    ordered = legend_classes(names)
    assert ordered[:3] == ["cluster_1", "cluster_2", "cluster_3"]
    assert ordered[-2:] == ["monocytes", "NK cells"]
    assert len(set(class_colours(ordered).values())) == len(ordered)  # tab20 and tab20b: 40 apart
    assert legend_classes(np.array(["1.0", "1", "01"])) == ["01", "1", "1.0"]  # equal numbers: one order


def test_plots_of_points_draw_at_most_max_points_and_plots_of_curves_take_no_such_option():
    import torch

    from dimred.plugin import MetricContext

    X = torch.as_tensor(np.random.default_rng(0).random((50, 3)))
    context = MetricContext(X, X[:, :2], None, X, None, 5, 0, None, None, None)
    record = RunRecord("d", "pca", Data(X=X.numpy()), X.numpy(), X[:, :2].numpy(), None, [], {}, None,
                       metric_context=context)  # fmt: skip
    for reporter in (TrustMap, CodesPlot):
        figure = reporter(reporter.Options(max_points=10)).draw(record)
        assert len(figure.axes[0].collections[0].get_offsets()) == 10
    for reporter in (LossCurve, RnxPlot):
        assert not hasattr(reporter.Options(), "max_points")


def test_codes_plot_shows_the_held_out_rows_beside_the_training_rows_on_one_scale():
    """codes.png had drawn the training rows alone: where the trained model maps new rows was in no figure."""
    from dimred.plugin import HeldOut

    rng = np.random.default_rng(0)
    codes, held_codes = rng.normal(size=(40, 2)), 3 + rng.normal(size=(12, 2))
    data, held = Data(X=codes, color=np.arange(40.0)), Data(X=held_codes, color=100 + np.arange(12.0))
    record = RunRecord("d", "pca", data, codes, codes, None, [], {}, None, held_out=HeldOut(held, held_codes))
    figure = CodesPlot().draw(record)
    training, mapped = (axes for axes in figure.axes if axes.get_xlabel() == "code 1")
    np.testing.assert_array_equal(mapped.collections[0].get_offsets(), held_codes)
    assert mapped.get_title().startswith("held-out rows (12)")
    assert training.get_xlim() == mapped.get_xlim()
    assert training.get_ylim() == mapped.get_ylim()
    colour_scales = {(axes.collections[0].norm.vmin, axes.collections[0].norm.vmax) for axes in (training, mapped)}
    assert colour_scales == {(0.0, 111.0)}  # one colour scale over both sides' values
    alone = CodesPlot().draw(RunRecord("d", "pca", data, codes, codes, None, [], {}, None))
    assert [axes.get_xlabel() for axes in alone.axes] == ["code 1", ""]  # the codes and their colour bar


def test_a_check_fails_on_a_broken_plugin():
    class Constant(MeanSquaredLoss):
        name = "constant"

        def __call__(self, batch):
            return batch.x.sum() * 0

    with pytest.raises(AssertionError, match="does not depend on the model's output"):
        check_loss_plugin(Constant)


def test_the_loss_check_also_hands_a_step_of_every_row_without_row_numbers():
    class ByRowNumber(MeanSquaredLoss):
        name = "by-row-number"

        def __call__(self, batch):  # as if every step came with row numbers: the full batch has none
            return (batch.x_hat - batch.x.index_select(0, batch.index * 0)).square().mean()

    with pytest.raises(AssertionError, match=r"fails on a step of every row, where batch\.index is None"):
        check_loss_plugin(ByRowNumber)


class _Wrong(MLPAutoencoder):
    """The tutorial's network with one mistake in its encode, chosen by ``mistake``."""

    name = "wrong-ae"
    mistake = ""

    def build(self, n_features):
        network, mistake = super().build(n_features), self.mistake
        encode = network.encode

        def wrong_encode(x):
            z = encode(x)
            if mistake == "rows":
                return z[:5]
            if mistake == "float64":
                return z.double()
            if mistake == "nan":
                return z * float("nan")
            raise RuntimeError("encode exploded")

        network.encode = wrong_encode
        return network


@pytest.mark.parametrize(
    ("mistake", "message"),
    [("rows", r"encode gave shape \(5, 2\) for 16 rows"), ("float64", "encode turned float32 rows into torch.float64"),
     ("nan", "encode gave NaN or infinite codes"), ("raise", "encode failed: RuntimeError: encode exploded")],
)  # fmt: skip
def test_the_model_check_names_a_wrong_encode(mistake, message):
    wrong = type("WrongAe", (_Wrong,), {"mistake": mistake})
    with pytest.raises(AssertionError, match=f"model 'wrong-ae': {message}"):
        check_model_plugin(wrong)


def test_the_model_check_asks_for_a_registered_plugin():
    registered_only_in_name = type("Unregistered", (MLPAutoencoder,), {"name": "not-installed-ae"})
    with pytest.raises(AssertionError, match="model 'not-installed-ae' is not registered: install your package"):
        check_model_plugin(registered_only_in_name)


def test_the_metric_check_refuses_a_name_another_metric_reports():
    class ShadowingError(ReconstructionError):  # the rmse metric under another name
        name = "shadow"

    with pytest.raises(AssertionError, match="metric 'shadow' gave rmse, which metric 'rmse' already reports"):
        check_metric_plugin(ShadowingError)


def test_geodesic_loss_and_geo_ae():
    from dimred.plugins.geometry import GeoAutoencoder, GeodesicLoss

    check_loss_plugin(GeodesicLoss, {"neighbours": 6, "landmarks": 10})
    check_model_plugin(GeoAutoencoder)
