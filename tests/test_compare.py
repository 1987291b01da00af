"""Classical methods through dimred run, and dimred compare end to end."""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import dimred
from dimred._api.compare import _mean_and_spread
from dimred.cli import cli


def test_label_figures_labels_give_none_of_are_shown_as_not_available_and_absent_without_labels(tmp_path):
    """Labels of one class had dropped the columns, as if the data had none."""
    rows = np.random.default_rng(0).random((80, 4))
    np.savez(tmp_path / "one.npz", X=rows, y=np.zeros(80, dtype=int))
    np.save(tmp_path / "bare.npy", rows)
    for data, labelled in (("one.npz", True), ("bare.npy", False)):
        arguments = ["--set", f"dataset.path={tmp_path / data}", "--model", "pca", "--holdout", "0.2"]
        result = CliRunner().invoke(
            cli, ["compare", "--dataset", "file", *arguments, "--out", str(tmp_path / data[:4])]
        )
        assert result.exit_code == 0, result.output
        header = next(line for line in result.stdout.splitlines() if line.startswith("| method |"))
        columns = [column.strip() for column in header.strip("|").split("|")]
        assert ("kNN accuracy" in columns and "held-out silhouette" in columns) == labelled
        if labelled:
            row = next(line for line in result.stdout.splitlines() if line.startswith("| pca |"))
            cells = dict(zip(columns, (cell.strip() for cell in row.strip("|").split("|")), strict=True))
            assert cells["kNN accuracy"] == cells["held-out silhouette"] == "n/a"
        assert columns.index("held-out continuity") < columns.index("held-out kNN preservation")  # as the training's


def test_plugins_says_what_a_method_cannot_do():
    output = CliRunner().invoke(cli, ["plugins"]).stdout
    assert "has no transform or inverse_transform" in output  # t-SNE
    assert "has no inverse_transform" in output  # Isomap
    # Isomap's, t-SNE's and UMAP's state is their training rows: their runs keep no model file to encode with
    listed = {block.split()[0]: block for block in re.split(r"\n  (?=\S)", output)[1:]}  # a plugin per block
    for model in ("isomap", "tsne", "umap", "pca", "kernel-pca", "mlp-ae"):
        keeps = "keeps no model file (its state is its training rows)" not in listed[model]
        assert keeps == (model in ("pca", "kernel-pca", "mlp-ae")), model


@pytest.mark.slow
def test_compare_reproduces_the_known_ordering_on_knn_preservation(tmp_path):
    out = tmp_path / "comparison"
    result = CliRunner().invoke(cli, ["compare", "--dataset", "swissroll", "--model", "mlp-ae", "--model", "pca",
                                      "--model", "isomap", "--seeds", "3", "--steps", "400",
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| isomap |" in result.stdout
    rows = {row["method"]: row for row in csv.DictReader((out / "comparison.csv").open())}
    knn = {method: float(row["knn_preservation_mean"]) for method, row in rows.items()}
    assert knn["isomap"] > knn["mlp-ae"] > knn["pca"]
    assert rows["isomap"]["rmse_mean"] == ""  # not available, not faked
    assert float(rows["isomap"]["spearman_intrinsic_mean"]) > 0.9
    assert {"comparison.md", "comparison.csv", "comparison.json", "embeddings.png", "rnx.png"} <= {
        path.name for path in out.iterdir()
    }


def test_compare_from_python_and_its_errors():
    comparison = dimred.compare("swissroll", ["pca"], seeds=2, out=None, settings={"dataset.n_samples": 300})
    assert comparison.path is None
    mean, spread = comparison.summary("trustworthiness", "pca")
    assert 0.8 < mean < 1
    seeds = [run.metrics["trustworthiness"] for run in comparison.runs["pca"]]
    assert len(set(seeds)) == 2  # two rolls, two figures: a spread to show
    assert mean == pytest.approx(statistics.mean(seeds))
    assert spread == pytest.approx(statistics.stdev(seeds))
    with pytest.raises(dimred.UsageError, match=r"model\.NAME\.OPTION for one model's, not 'model.n_components'"):
        dimred.compare("swissroll", ["pca"], settings={"model.n_components": 3}, out=None)
    with pytest.raises(dimred.UsageError, match=r"'model.mlp-ae.hidden' is for model 'mlp-ae', which is not compared"):
        dimred.compare("swissroll", ["pca"], settings={"model.mlp-ae.hidden": (8,)}, out=None)
    with pytest.raises(dimred.UsageError, match="unknown model 'umapp'"):
        dimred.compare("swissroll", ["pca", "umapp"], out=None)


def test_a_models_own_options_go_to_that_model_only():
    comparison = dimred.compare("swissroll", ["pca", "kernel-pca"], out=None, settings={
        "dataset.n_samples": 300, "model.pca.n_components": 3, "metric.knn-accuracy.k": 3})  # fmt: skip
    pca, kernel_pca = comparison.runs["pca"][0], comparison.runs["kernel-pca"][0]
    assert pca.codes.shape[1] == 3
    assert kernel_pca.codes.shape[1] == 2
    assert pca.config["model"]["options"]["n_components"] == 3


@pytest.mark.parametrize(
    ("number", "mean", "spread", "shown"),
    [("{:.3f}", 0.9691, 0.00031, "0.969 ± 0.00031"), ("{:.3f}", 0.9691, 0.0123, "0.969 ± 0.012"),
     ("{:.3f}", 0.5, 0.0, "0.500 ± 0.000"), ("{:.3g}", 4e-4, 1e-5, "0.0004 ± 1e-05")],
)  # fmt: skip
def test_a_spread_below_a_thousandth_shows_its_digits(number, mean, spread, shown):
    assert _mean_and_spread(number, mean, spread) == shown


def test_one_seed_shows_no_spread_rather_than_a_spread_of_zero():
    comparison = dimred.compare("swissroll", ["pca"], seeds=1, out=None, settings={"dataset.n_samples": 300})
    mean, spread = comparison.summary("trustworthiness", "pca")
    assert 0.8 < mean < 1
    assert spread is None
    table = comparison.markdown()
    assert "±" not in table
    assert f"| {mean:.3f} |" in table
    assert "one seed, dataset swissroll" in table
    row = next(csv.DictReader(comparison.csv().splitlines()))
    assert float(row["trustworthiness_mean"]) == pytest.approx(mean, rel=1e-5)
    assert row["trustworthiness_std"] == ""


def test_a_plugins_metric_is_a_column_of_the_comparison_and_dimreds_own_fields_are_not(register_in_process):
    from conftest import plugin_module
    from dimred.plugin import Metric

    class CodeSpread(Metric):
        name = "code-spread"
        description = "the codes' standard deviation"

        def compute(self, context):
            return {"code_spread": float(context.codes.std())}

    register_in_process(plugin_module("spread", register_metrics=lambda register: register(CodeSpread)))
    comparison = dimred.compare("swissroll", ["pca"], seeds=2, out=None, settings={"dataset.n_samples": 300},
                                holdout=0.2)  # fmt: skip
    columns = dict(comparison.columns())
    assert columns["code_spread"] == "code_spread"
    assert columns["holdout.code_spread"] == "held-out code_spread"
    assert not {"n_samples", "evaluated_rows", "holdout.rows", "neighbours"} & set(columns)
    assert "code_spread" in comparison.markdown()
    assert comparison.summary("code_spread", "pca")[0] > 0


def test_a_plugin_metric_near_the_largest_float_is_summarised_not_an_overflow(register_in_process, tmp_path):
    """Its mean over seeds had overflowed in the sums: "unexpected OverflowError", and the comparison was lost."""
    from conftest import plugin_module
    from dimred.plugin import Metric

    class Huge(Metric):
        name = "huge"
        description = "a finite value near the largest float, of either sign by seed"

        def compute(self, context):
            return {"huge": math.copysign(1.7e308, float(context.codes.sum()))}

    register_in_process(plugin_module("huge", register_metrics=lambda register: register(Huge)))
    comparison = dimred.compare("swissroll", ["pca"], seeds=2, out=tmp_path / "c",
                                settings={"dataset.n_samples": 300}, holdout=0)  # fmt: skip
    values = [run.metrics["huge"] for run in comparison.runs["pca"]]
    mean, spread = comparison.summary("huge", "pca")
    assert mean == statistics.fmean([value / 2 for value in values]) * 2  # the same figure, without overflowing
    assert spread is None or math.isfinite(spread)
    assert (tmp_path / "c" / "comparison.md").exists()


def test_figures_three_decimals_would_hide_are_shown_in_three_digits(register_in_process, tmp_path):
    """A metric of 4e-4 had read 0.000 in the table, and one of 1e300 as a number of 301 digits; the metrics table
    of a run alike (four decimals)."""
    from conftest import plugin_module
    from dimred.plugin import Metric

    class Scales(Metric):
        name = "scales"
        description = "figures far from 1"

        def compute(self, context):
            return {"tiny": 4e-4, "huge": 1e300, "plain": 0.5}

    register_in_process(plugin_module("scales", register_metrics=lambda register: register(Scales)))
    comparison = dimred.compare("swissroll", ["pca"], out=None, settings={"dataset.n_samples": 300}, holdout=0)
    row = dict(zip([label for _key, label in comparison.columns()],
                   comparison.markdown().splitlines()[2].strip("| ").split(" | ")[1:], strict=True))  # fmt: skip
    assert (row["tiny"], row["huge"], row["plain"]) == ("0.0004", "1e+300", "0.500")
    said: list[str] = []
    dimred.run("swissroll", "pca", settings={"dataset.n_samples": 300, "model.n_components": 3}, holdout=0,
               out=None, reporters=["metrics-table"], echo=said.append)  # fmt: skip
    [rmse] = [line for line in said if line.startswith("reconstruction RMSE")]
    assert re.fullmatch(r"reconstruction RMSE \(eval mode\) +\d\.\d{3}e-\d\d", rmse), rmse  # not 0.0000


def test_how_many_rows_voted_is_a_note_on_the_accuracy_not_a_column_of_its_own(tmp_path):
    """k = 1000 on 48 training rows: the accuracy cells say k=47 and k=48, as the metrics table does."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "rows.npz", X=rng.random((60, 4)), y=np.repeat([0, 1, 2], 20))
    settings = {"dataset.path": str(tmp_path / "rows.npz"), "metric.knn-accuracy.k": 1000}
    comparison = dimred.compare("file", ["pca"], seeds=2, out=None, settings=settings, holdout=0.2)
    assert not [key for key, _label in comparison.columns() if key.endswith("_k")]
    row = comparison.markdown().splitlines()[2].split(" | ")
    labels = [label for _key, label in comparison.columns()]
    assert row[1 + labels.index("kNN accuracy")].endswith(" (k=47)")
    assert row[1 + labels.index("held-out kNN accuracy")].endswith(" (k=48)")
    assert "(k=" not in row[1 + labels.index("trustworthiness")]


def test_neighbourhood_figures_of_fewer_neighbours_say_their_k():
    """12 held-out rows give neighbourhoods of 5 against the training rows' 10: the figures side by side had read
    as comparable (the metrics table of one run says its k)."""
    comparison = dimred.compare("swissroll", ["pca"], out=None, settings={"dataset.n_samples": 60}, holdout=0.2)
    row = comparison.markdown().splitlines()[2].split(" | ")
    labels = [label for _key, label in comparison.columns()]
    for figure in ("trustworthiness", "continuity", "kNN preservation"):
        assert "(k=" not in row[1 + labels.index(figure)]
        assert row[1 + labels.index(f"held-out {figure}")].endswith(" (k=5)")
    # and 16 training rows their 7, against the table's usual 10 (it had said only the held-out rows' k)
    comparison = dimred.compare("swissroll", ["pca"], out=None, settings={"dataset.n_samples": 20}, holdout=0.2)
    row = comparison.markdown().splitlines()[2].split(" | ")
    for figure in ("trustworthiness", "continuity", "kNN preservation"):
        assert row[1 + labels.index(figure)].endswith(" (k=7)")
        assert row[1 + labels.index(f"held-out {figure}")].endswith(" (k=1)")


def test_a_saved_pca_run_loads_and_gives_scikit_learns_codes(tmp_path):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MinMaxScaler

    import dimred
    from dimred.plugins.swissroll import SwissRoll

    out = tmp_path / "pca"
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "pca", "--holdout", "0",
                                      "--set", "dataset.n_samples=400", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    X = SwissRoll(SwissRoll.Options(n_samples=400)).load(0).X
    scaler = MinMaxScaler().fit(X)
    expected = PCA(2, random_state=0).fit(scaler.transform(X))
    new_rows = SwissRoll(SwissRoll.Options(n_samples=50)).load(7).X
    loaded = dimred.load(out)
    np.testing.assert_allclose(loaded.transform(new_rows), expected.transform(scaler.transform(new_rows)), atol=1e-9)
    codes = loaded.transform(new_rows)
    np.testing.assert_allclose(loaded.inverse_transform(codes),
                               scaler.inverse_transform(expected.inverse_transform(codes)), atol=1e-9)  # fmt: skip


@pytest.mark.parametrize("model", ["tsne", "isomap"])
def test_a_method_that_keeps_no_model_file_is_refused_as_a_reducer_before_it_fits(monkeypatch, model):
    import dimred
    from dimred.plugin import UsageError
    from dimred.plugins.classical import IsomapModel, TSNEModel

    for method in (TSNEModel, IsomapModel):
        monkeypatch.setattr(method, "fit_transform", lambda *_arguments: pytest.fail("fitted before the refusal"))
    with pytest.raises(UsageError, match="keeps its training rows as its state"):
        dimred.Reducer(model=model).fit(np.random.default_rng(0).random((50, 3)))


def test_compare_save_keeps_every_model_that_can_be_kept(tmp_path):
    out = tmp_path / "cmp"
    arguments = ["--dataset", "swissroll", "--model", "pca", "--model", "isomap", "--save", "--out", str(out)]
    result = CliRunner().invoke(cli, ["compare", *arguments, "--set", "dataset.n_samples=300"])
    assert result.exit_code == 0, result.output
    assert "isomap keeps no model file" in result.output
    assert sorted(path.name for path in (out / "models").iterdir()) == ["pca.safetensors"]
    rows = np.random.default_rng(5).normal(size=(50, 3)) * 5
    kept = dimred.load(out / "models" / "pca.safetensors")
    same = dimred.run("swissroll", "pca", settings={"dataset.n_samples": 300}, out=None, reporters=[]).reducer
    np.testing.assert_allclose(kept.transform(rows), same.transform(rows), atol=1e-9)
    np.testing.assert_allclose(kept.inverse_transform(kept.transform(rows)), same.inverse_transform(
        same.transform(rows)), atol=1e-9)  # fmt: skip
    again = CliRunner().invoke(cli, ["compare", *arguments, "--set", "dataset.n_samples=200", "--overwrite"])
    assert again.exit_code == 0, again.output
    refitted = dimred.run("swissroll", "pca", settings={"dataset.n_samples": 200}, out=None, reporters=[]).reducer
    np.testing.assert_allclose(dimred.load(out / "models" / "pca.safetensors").transform(rows),
                               refitted.transform(rows), atol=1e-9)  # fmt: skip
    isomap_only = ["compare", "--dataset", "swissroll", "--model", "isomap", "--save", "--out", str(out), "--overwrite",
                   "--set", "dataset.n_samples=200"]  # fmt: skip
    assert CliRunner().invoke(cli, isomap_only).exit_code == 0
    assert list((out / "models").glob("*.safetensors")) == []  # pca's file no longer matches the tables: removed


def test_a_saved_kernel_pca_run_loads_and_gives_scikit_learns_codes_and_reconstructions(tmp_path):
    from sklearn.decomposition import KernelPCA
    from sklearn.preprocessing import MinMaxScaler

    from dimred.plugins.swissroll import SwissRoll

    out = tmp_path / "kpca"
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "kernel-pca", "--holdout", "0",
                                      "--set", "dataset.n_samples=300", "--reporter", "metrics-table",
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    X = SwissRoll(SwissRoll.Options(n_samples=300)).load(0).X
    scaler = MinMaxScaler().fit(X)
    expected = KernelPCA(2, kernel="rbf", gamma=10.0, fit_inverse_transform=True, random_state=0)
    expected.fit(scaler.transform(X))
    new_rows = scaler.transform(SwissRoll(SwissRoll.Options(n_samples=50)).load(7).X)
    loaded = dimred.load(out)
    codes = loaded.transform(scaler.inverse_transform(new_rows))
    np.testing.assert_allclose(codes, expected.transform(new_rows), atol=1e-8)
    np.testing.assert_allclose(scaler.transform(loaded.inverse_transform(codes)), expected.inverse_transform(codes),
                               atol=1e-8)  # fmt: skip


def test_kernel_pca_beyond_its_landmarks_fits_a_seeded_sample_and_still_saves(tmp_path):
    result = dimred.run("swissroll", "kernel-pca", settings={"dataset.n_samples": 400, "model.landmarks": 150},
                        holdout=0, out=tmp_path / "kpca", reporters=[])  # fmt: skip
    loaded = dimred.load(tmp_path / "kpca")
    rows = np.random.default_rng(1).normal(size=(20, 3)) * 5
    np.testing.assert_allclose(loaded.transform(rows), result.reducer.transform(rows), atol=1e-10)
    assert result.codes.shape == (400, 2)


def test_kernel_pca_warns_where_its_gamma_makes_the_kernel_nearly_the_identity():
    """Standardised rows under the default gamma (meant for [0, 1]) had given meaningless codes with exit 0 and no
    word (trustworthiness 0.51 on 600 Gaussian rows, 0.71 scaled to [0, 1])."""
    rows = np.random.default_rng(0).normal(size=(300, 6))
    with pytest.warns(
        UserWarning,
        match=r"model 'kernel-pca': with gamma=10 a row's RBF kernel value to its nearest "
        r"neighbour is about .* lower model.gamma \(about [0-9.]+ here\) or scale the data to \[0, 1\]",
    ):
        dimred.Reducer(model="kernel-pca", scaler="standard").fit(rows)
    # rows in [0, 1] already (--scaler minmax): the advice is gamma's alone
    with pytest.warns(UserWarning, match=r"lower model.gamma \(about [0-9.]+ here\)$"):
        dimred.Reducer(model="kernel-pca", model_options={"gamma": 1000.0}).fit(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dimred.Reducer(model="kernel-pca").fit(rows)  # scaled to [0, 1]: the kernel the default is for


def test_the_loss_and_the_training_loops_settings_go_to_the_networks_only(tmp_path):
    arguments = ["compare", "--dataset", "swissroll", "--model", "mlp-ae", "--model", "pca", "--steps", "20", "--set",
                 "dataset.n_samples=300", "--out", str(tmp_path / "cmp")]  # fmt: skip
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    assert set(json.loads((tmp_path / "cmp" / "comparison.json").read_text())) == {"mlp-ae", "pca", "failed", "skipped"}
    comparison = dimred.compare("swissroll", ["mlp-ae", "pca"], out=None, loss="mse+ne-tsne", steps=20,
                                settings={"dataset.n_samples": 300})  # fmt: skip
    assert comparison.failed == {}
    network, pca = comparison.runs["mlp-ae"][0].config, comparison.runs["pca"][0].config
    assert [term["name"] for term in network["loss"]] == ["mse", "ne-tsne"]
    assert network["training"]["steps"] == 20
    assert [term["name"] for term in pca["loss"]] == ["mse"]
    assert pca["training"]["steps"] != 20


@pytest.mark.parametrize(
    ("settings", "options", "message"),
    [({"dataset.bogus": 1}, {}, "unknown option 'dataset.bogus'"),
     ({"metric.trustworthiness.k": 5}, {}, "unknown option 'metric.trustworthiness.k'"),
     ({}, {"holdout": 1.5}, "bad holdout 1.5"),
     ({}, {"dtype": "float8"}, "bad dtype 'float8'"),
     ({}, {"lr": -1}, "bad lr -1"),
     ({}, {"checkpoint_every": 5}, "compare's runs write no folders of their own, so checkpoint_every has nothing"),
     ({}, {"random_state": 3}, r"^dimred.compare: unknown setting 'random_state'; allowed: loss, callbacks, holdout, "
                               r"steps, .*, scaler, device$")],
)  # fmt: skip
def test_a_setting_every_run_shares_is_refused_once_before_any_model_runs(tmp_path, settings, options, message):
    said: list[str] = []
    with pytest.raises(dimred.UsageError, match=message):
        dimred.compare("swissroll", ["pca", "kernel-pca"], settings=settings, out=tmp_path / "c", echo=said.append,
                       **options)  # fmt: skip
    assert said == []  # no model started, none "failed"
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("out", "options", "message"),
    [("a_file/c", {}, "cannot create the output folder a_file/c"),
     ("c", {"save": True}, "output folder c holds models, which no dimred run there listed"),
     ("linked", {"save": True}, "output folder linked holds models, which no dimred run there listed"),
     ("kept", {"save": True}, "output folder kept holds models/pca.safetensors, which no dimred run there listed"),
     ("held", {}, "held is being written by another dimred process"),
     ("shown", {}, "output folder shown holds explorer.html, which no dimred run there listed")],
)  # fmt: skip
def test_an_output_folder_compare_cannot_have_is_refused_before_any_model_runs(tmp_path, monkeypatch, out, options,
                                                                               message):  # fmt: skip
    """These had been found only after every model had run, and the finished comparison was lost."""
    from dimred._io.folderlock import locked_folder

    monkeypatch.chdir(tmp_path)
    Path("a_file").write_text("mine")
    Path("c").mkdir()
    Path("c", "models").write_text("mine")
    Path("held").mkdir()
    Path("linked").mkdir()
    Path("linked", "models").symlink_to("/nonexistent")
    Path("kept", "models").mkdir(parents=True)
    Path("kept", "models", "pca.safetensors").write_text("mine")
    Path("shown").mkdir()
    Path("shown", "explorer.html").write_text("mine")  # the page compare's explorer writes
    said: list[str] = []
    with locked_folder(Path("held")), pytest.raises(dimred.UsageError, match=message):  # another compare's
        dimred.compare("swissroll", ["pca"], out=out, overwrite=True, echo=said.append, **options)
    assert said == []
    assert Path("c", "models").read_text() == "mine"


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [("two.csv", {}, r"dataset 'file' \(two.csv\) has 2 rows: too few to score a model on; give at least 3"),
     ("nowhere.csv", {}, "no such file: nowhere.csv"),
     ("rows.csv", {"device": "mps"}, "device 'mps' is not available on this machine"),
     ("rows.csv", {"holdout": 0.95}, r"--holdout 0.95 of 30 rows leaves 1 to train on and 29 to test on")],
)  # fmt: skip
def test_data_no_run_could_take_or_an_absent_device_is_refused_once_before_any_model_runs(data, options, message):
    Path("two.csv").write_text("1,2\n3,4\n")
    Path("rows.csv").write_text("".join(f"{row},{row % 7}\n" for row in range(30)))
    said: list[str] = []
    with pytest.raises(dimred.DimredError, match=message):
        dimred.compare("file", ["pca", "mlp-ae"], settings={"dataset.path": data}, out="c", echo=said.append,
                       **options)  # fmt: skip
    assert said == []
    assert not Path("c").exists()


def test_more_components_than_columns_for_one_model_is_refused_before_any_model_runs_as_compare_names_it():
    """As dimred run refuses it: it had been found by that model's first run, after the others had fitted (exit
    1)."""
    said: list[str] = []
    with pytest.raises(
        dimred.UsageError,
        match=r"model 'pca' would make 9 components from 3 columns: a reduction "
        r"needs n_components at most 3 \(--set model.pca.n_components=N;",
    ):
        dimred.compare("swissroll", ["kernel-pca", "pca"], out="c", echo=said.append,
                       settings={"dataset.n_samples": 100, "model.pca.n_components": 9})  # fmt: skip
    assert said == []
    assert not Path("c").exists()


def test_a_training_setting_that_applies_to_no_compared_model_is_refused_as_dimred_run_refuses_it():
    """--steps with one-call models alone had been dropped without a word, exit 0."""
    small = {"out": None, "settings": {"dataset.n_samples": 100}}
    for option, flag in (({"steps": 20}, "--steps (steps)"), ({"lr": 0.01}, "--lr (lr)")):
        with pytest.raises(dimred.UsageError, match=re.escape(f"model 'pca' is fitted in one call, without training "
                                                              f"steps: {flag} does not apply to it")):  # fmt: skip
            dimred.compare("swissroll", ["pca", "isomap"], **small, **option)
    # what dimred run takes for such a model: a loss, the settings' own defaults, those a run records
    for option in ({"loss": "mse"}, {"lr": "AUTO"}, {"precision": "float32"}):
        assert set(dimred.compare("swissroll", ["pca"], **small, **option).runs) == {"pca"}
        dimred.run("swissroll", "pca", **small, **option)
    kept = dimred.compare("swissroll", ["pca", "mlp-ae"], steps=5, **small)
    assert set(kept.runs) == {"pca", "mlp-ae"}
    # the batch a run records is its training rows' (450 of 500 held out by a tenth), as dimred run checks it
    rows = {"out": None, "settings": {"dataset.n_samples": 500}}
    recorded = dimred.run("swissroll", "pca", **rows).config["training"]["batch_size"]
    assert recorded == 450
    assert set(dimred.compare("swissroll", ["pca"], batch_size=recorded, **rows).runs) == {"pca"}
    with pytest.raises(dimred.UsageError, match="--batch-size"):
        dimred.compare("swissroll", ["pca"], batch_size=500, **rows)


def test_the_warnings_of_a_model_that_fails_are_said_too():
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        dimred.compare("swissroll", ["tsne", "isomap"], out=None, callbacks=["early-stopping"],
                       settings={"dataset.n_samples": 150, "model.tsne.perplexity": 500.0})  # fmt: skip
    about = sorted(
        text.split("'")[1] for text in map(str, (warning.message for warning in said)) if "early-stopping" in text
    )
    assert about == ["isomap", "tsne"]
    with warnings.catch_warnings():  # filters that make the warnings errors but inside dimred: each failure is kept
        warnings.simplefilter("error")
        warnings.filterwarnings("default", module="dimred")
        comparison = dimred.compare("swissroll", ["tsne", "isomap"], out=None, callbacks=["early-stopping"],
                                    settings={"dataset.n_samples": 150, "model.tsne.perplexity": 500.0})  # fmt: skip
    assert "needs more rows than its perplexity (500)" in comparison.failed["tsne"]
    assert set(comparison.runs) == {"isomap"}


def test_a_models_warning_names_its_option_as_compare_takes_it():
    """kernel-PCA's advice to lower model.gamma had been said as is, an option compare refuses."""
    with pytest.warns(UserWarning, match="the kernel is nearly the identity") as caught:
        dimred.compare("swissroll", ["kernel-pca"], out=None, scaler="standard", settings={
            "dataset.n_samples": 150, "model.kernel-pca.gamma": 1000.0})  # fmt: skip
    said = [str(warning.message) for warning in caught if "kernel is nearly the identity" in str(warning.message)]
    assert all("lower model.kernel-pca.gamma (about" in text for text in said)


def test_a_scikit_learn_model_imports_its_library_when_it_is_made_so_a_fit_times_the_fit_alone():
    """The first fit of a compare counted about a second of importing scikit-learn's module."""
    import sys

    code = ("import sys; from dimred.plugins.classical import TSNEModel; before = 'sklearn.manifold' in sys.modules; "
            "TSNEModel(); print(before, 'sklearn.manifold' in sys.modules)")  # fmt: skip
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert imported.stdout.split() == ["False", "True"]


def test_umap_without_its_extra_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed
    with pytest.raises(dimred.UsageError, match=re.escape("model 'umap' needs umap-learn: pip install 'dimred[umap]'")):
        dimred.compare("swissroll", ["pca", "umap"], out=None)


def test_compare_save_of_methods_that_keep_nothing_leaves_no_empty_models_folder(tmp_path):
    out = tmp_path / "cmp"
    result = CliRunner().invoke(cli, ["compare", "--dataset", "swissroll", "--set", "dataset.n_samples=300", "--model",
                                      "isomap", "--save", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "isomap keeps no model file" in result.output
    assert (out / "comparison.csv").exists()
    assert not (out / "models").exists()


def test_a_reporter_failing_on_the_comparison_is_listed_among_its_skipped_plugins(register_in_process, tmp_path):
    from conftest import plugin_module
    from dimred.plugin import Reporter

    class Failing(Reporter):
        name = "fails-on-comparisons"
        description = "raises when it shows a comparison"

        def report(self, run):
            pass

        def report_comparison(self, comparison):
            raise RuntimeError("no comparisons here")

    register_in_process(plugin_module("failing_reporter", register_reporters=lambda register: register(Failing)))
    comparison = dimred.compare("swissroll", ["pca"], settings={"dataset.n_samples": 200}, out=tmp_path / "c",
                                reporters=["fails-on-comparisons"])  # fmt: skip
    written = json.loads((tmp_path / "c" / "comparison.json").read_text())["skipped"]
    assert written == comparison.skipped
    assert any("no comparisons here" in entry for entry in written)


@pytest.mark.parametrize(
    "filename", ["comparison.md", "comparison.json", "embeddings.png", ".dimred-files.json", "FAILED.txt"]
)
def test_a_reporter_cannot_replace_the_comparisons_own_files(register_in_process, tmp_path, filename):
    from conftest import plugin_module
    from dimred.plugin import Reporter

    class Overwriting(Reporter):
        name = "overwrites-comparisons"
        description = "writes its comparison artifact under the name of one of the comparison's own files"

        def report(self, run):
            pass

        def report_comparison(self, comparison):
            with comparison.artifact(filename) as path:
                path.write_text("mine")

    register_in_process(plugin_module("overwriting", register_reporters=lambda register: register(Overwriting)))
    out = tmp_path / "c"
    comparison = dimred.compare("swissroll", ["pca"], settings={"dataset.n_samples": 200}, out=out,
                                reporters=["overwrites-comparisons"])  # fmt: skip
    assert any(f"{filename} is dimred's own file in a comparison folder" in entry for entry in comparison.skipped)
    assert not (out / filename).exists() or (out / filename).read_bytes() != b"mine"


def _isomap_on(path: Path, rows: np.ndarray, **settings: Any) -> dimred.RunResult:
    np.save(path, rows)
    return dimred.run("file", "isomap", settings={"dataset.path": str(path), **settings}, holdout=0, out=None,
                      reporters=[])  # fmt: skip


def test_isomap_asked_for_more_components_than_the_rows_geodesics_hold_says_to_lower_them(tmp_path):
    """Twelve rows: scikit-learn found significant negative eigenvalues and said so in its own words only."""
    rows = np.random.default_rng(0).normal(size=(12, 20))
    with pytest.raises(dimred.UsageError, match=r"model 'isomap' cannot make 11 components of these 12 rows: .*"
                       r"negative eigenvalues.*; lower model.n_components$"):  # fmt: skip
        _isomap_on(tmp_path / "rows.npy", rows, **{"model.n_components": 11})


def test_isomap_on_rows_of_few_distinct_values_warns_once_not_per_component(tmp_path):
    """Six distinct rows, twenty copies each: scipy had warned of a sparsity change once per graph component."""
    rows = np.repeat(np.random.default_rng(0).normal(size=(6, 5)), 20, axis=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _isomap_on(tmp_path / "rows.npy", rows)
    assert not [w for w in caught if "sparsity structure" in str(w.message)]
    assert any("connected components" in str(w.message) for w in caught)


def test_a_figure_matplotlib_cannot_draw_is_skipped_and_the_table_kept(tmp_path):
    """A matplotlibrc asking for LaTeX where none is installed (common for paper figures) had lost the whole
    comparison as "unexpected RuntimeError" and removed its folder."""
    import shutil

    import matplotlib

    if shutil.which("latex"):
        pytest.skip("LaTeX is installed here: matplotlib draws with it")
    with matplotlib.rc_context({"text.usetex": True}), pytest.warns(UserWarning, match="rnx.png could not be drawn"):
        comparison = dimred.compare("swissroll", ["pca"], settings={"dataset.n_samples": 300}, out=tmp_path / "c")
    assert [failure.split(":")[0] for failure in comparison.skipped] == [
        "the figure embeddings.png could not be drawn", "the figure rnx.png could not be drawn"]  # fmt: skip
    assert json.loads((tmp_path / "c" / "comparison.json").read_text())["skipped"] == comparison.skipped
    assert "| pca |" in (tmp_path / "c" / "comparison.md").read_text()
    assert not (tmp_path / "c" / "rnx.png").exists()


def test_a_comparison_where_every_model_failed_says_so_in_its_own_words(tmp_path):
    """Its progress had said "the comparison says why" where no comparison came, and its folder's marker that
    "this run did not finish"."""
    dimred.compare("swissroll", ["pca"], settings={"dataset.n_samples": 300}, out=tmp_path / "c")  # an earlier one
    said: list[str] = []
    with pytest.raises(dimred.DimredError, match="perplexity"):
        dimred.compare("swissroll", ["tsne"], settings={"dataset.n_samples": 300, "model.tsne.perplexity": 5000},
                       out=tmp_path / "c", overwrite=True, echo=said.append)  # fmt: skip
    assert said[-1] == "tsne failed at seed 0 (the error is said at the end)"
    assert (tmp_path / "c" / "FAILED.txt").read_text().startswith("This comparison did not finish (")


def test_a_comparison_where_every_model_failed_leaves_a_users_folder_as_it_was(tmp_path):
    """It had left an empty list of its files (.dimred-files.json) beside the user's own FAILED.txt."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "FAILED.txt").write_text("my notes\n")
    with pytest.raises(dimred.DimredError, match="perplexity"):
        dimred.compare("swissroll", ["tsne"], settings={"dataset.n_samples": 300, "model.tsne.perplexity": 5000},
                       out=folder, overwrite=True)  # fmt: skip
    assert sorted(path.name for path in folder.iterdir()) == ["FAILED.txt"]
    assert (folder / "FAILED.txt").read_text() == "my notes\n"


def test_a_losss_options_go_to_the_runs_that_train_with_it():
    """compare had taken no loss options at all: a neighbour-embedding model could not be compared with its
    graph's neighbours set."""
    comparison = dimred.compare("swissroll", ["ne-ae", "mlp-ae", "pca"], out=None, steps=5,
                                settings={"dataset.n_samples": 200, "loss.ne-tsne.neighbours": 5})  # fmt: skip
    [ne_ae], [mlp_ae] = comparison.runs["ne-ae"], comparison.runs["mlp-ae"]
    assert {term["name"]: term["options"].get("neighbours") for term in ne_ae.config["loss"]} == {
        "mse": None,
        "ne-tsne": 5,
    }
    assert [term["name"] for term in mlp_ae.config["loss"]] == ["mse"]  # its loss has no such option: left alone
    assert "pca" in comparison.runs


@pytest.mark.parametrize(
    ("settings", "loss", "message"),
    [
        (
            {"loss.ne-umap.min_dist": 0.5},
            None,
            "loss.ne-umap options are for loss 'ne-umap', which no compared "
            "model trains with (ne-ae: mse+ne-tsne, pca: none (fitted in one call)); in Python, loss= names",
        ),
        ({"loss.ne-tsne.neighbours": 1}, None, "bad loss.ne-tsne options: neighbours must be at least 2, got 1"),
        ({"loss.ne_tsne.neighbours": 5}, None, "unknown loss 'ne_tsne' (did you mean 'ne-tsne'?)"),
        ({"loss.neighbours": 5}, None, "loss.NAME.OPTION for the runs that train with that loss"),
        ({"loss.ne-umap.min_dist": 2.0}, "mse+ne-umap", "bad loss.ne-umap options: min_dist must be from 0 to 1"),
    ],
)
def test_loss_options_a_comparison_cannot_take_are_refused_before_any_run(settings, loss, message, tmp_path):
    with pytest.raises(dimred.UsageError) as refused:
        dimred.compare("swissroll", ["ne-ae", "pca"], out=tmp_path / "c", steps=5, loss=loss, settings=settings)
    assert message in str(refused.value)
    assert not (tmp_path / "c").exists()


def test_configs_json_records_each_runs_settings_and_runs_again_as_the_comparison_ran_it(tmp_path):
    """A comparison kept each run's metrics but not the settings it ran with (a model's own options, the steps
    and learning rate the model chose), so a row of its table could not be reproduced."""
    arguments = ["compare", "--dataset", "swissroll", "--model", "mlp-ae", "--model", "pca", "--seeds", "2",
                 "--steps", "15", "--set", "model.mlp-ae.hidden=12,6", "--set", "dataset.n_samples=300",
                 "--out", str(tmp_path / "cmp")]  # fmt: skip
    assert CliRunner().invoke(cli, arguments).exit_code == 0
    configs = json.loads((tmp_path / "cmp" / "configs.json").read_text())
    assert set(configs) == {"mlp-ae", "pca"}
    assert [len(runs) for runs in configs.values()] == [2, 2]
    network = configs["mlp-ae"][1]
    assert (network["seed"], network["model"]["options"]["hidden"], network["training"]["steps"]) == (1, [12, 6], 15)
    assert configs["pca"][0]["model"]["options"] == {"n_components": 2}
    (tmp_path / "second.json").write_text(json.dumps(network))
    again = CliRunner().invoke(cli, ["run", "--config", str(tmp_path / "second.json"), "--out", str(tmp_path / "r")])
    assert again.exit_code == 0, again.output
    assert "reporters" not in network  # compare's runs wrote no folder: the rerun draws the default plots
    assert (tmp_path / "r" / "codes.png").exists()
    compared = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["mlp-ae"][1]
    rerun = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert rerun["trustworthiness"] == compared["trustworthiness"]
    assert rerun["rmse"] == compared["rmse"]
