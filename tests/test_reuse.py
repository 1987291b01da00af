"""Using a trained model again: dimred evaluate, encode, decode, the file dataset, and bad model files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import dimred
from dimred._engine.modelfile import ModelFileError
from dimred.cli import cli

FRESH_ROLL = ["--set", "dataset.n_samples=2500", "--set", "dataset.noise=0.1"]


def invoke(*arguments: str):
    return CliRunner().invoke(cli, list(arguments))


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("refit", [False, True])
def test_evaluate_on_the_tutorials_fresh_roll(default_run, refit):
    before = {name: digest for name, digest in fingerprint(default_run).items() if "evaluations" not in name}
    result = invoke("evaluate", str(default_run), "--dataset", "swissroll", *FRESH_ROLL,
                    *(["--refit-scaler"] if refit else []))  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = Path(result.output.strip().splitlines()[-1].removeprefix("results: "))
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["rmse"] <= 0.09  # the tutorial reports 0.083 here, in train mode
    assert metrics["n_samples"] == 2500
    assert metrics["scaler"] == ("refitted on this data" if refit else "saved with the model")
    assert folder.parent == default_run / "evaluations"
    assert {"codes.png", "reconstruction.png", "config.json"} <= {path.name for path in folder.iterdir()}
    after = {name: digest for name, digest in fingerprint(default_run).items() if "evaluations" not in name}
    assert after == before, "evaluate changed the training results"


def test_a_named_reporter_that_writes_nothing_says_so_and_a_default_one_keeps_quiet(default_run, tmp_path):
    """evaluate --reporter loss-curve had ended without a loss.png and without a word: an evaluation trains
    nothing to draw."""
    named = invoke("evaluate", str(default_run), "--dataset", "swissroll", "--reporter", "loss-curve",
                   "--reporter", "codes-plot", "--out", str(tmp_path / "named"))  # fmt: skip
    assert named.exit_code == 0, named.output
    assert "reporter 'loss-curve' wrote no loss.png: there was nothing for it to show here" in named.stdout
    assert "codes-plot wrote" not in named.stdout
    assert (tmp_path / "named" / "codes.png").exists()
    default = invoke("evaluate", str(default_run), "--dataset", "swissroll", "--out", str(tmp_path / "default"))
    assert default.exit_code == 0, default.output
    assert "wrote no" not in default.stdout
    assert not (tmp_path / "default" / "loss.png").exists()
    # a one-call model's loss-curve draws nothing: the defaults its config.json lists are not the user's choice
    pca = invoke("run", "--dataset", "swissroll", "--model", "pca", "--out", str(tmp_path / "pca"))
    assert pca.exit_code == 0, pca.output
    rerun = invoke("run", "--config", str(tmp_path / "pca" / "config.json"), "--out", str(tmp_path / "rerun"))
    assert rerun.exit_code == 0, rerun.output
    assert "wrote no" not in pca.stdout + rerun.stdout


def test_evaluate_refuses_model_settings(default_run):
    result = invoke("evaluate", str(default_run), "--dataset", "swissroll", "--set", "model.dropout=0")
    assert result.exit_code == 2
    assert "dataset.* and reporter.* settings" in result.output


def test_a_csv_with_a_header_round_trips_through_run_encode_and_decode(tmp_path):
    rng = np.random.default_rng(0)
    t = rng.random(300)
    X = np.column_stack([t, 2 * t + 0.05 * rng.standard_normal(300), np.sin(3 * t), rng.random(300)])
    data = tmp_path / "mydata.csv"
    np.savetxt(data, X, delimiter=";", header="alpha;beta;gamma;hue", comments="", fmt="%.6f")
    run_dir = tmp_path / "run"
    result = invoke(
        "run", "--dataset", "file", "--set", f"dataset.path={data}", "--set", "dataset.color_column=hue",
        "--model", "mlp-ae", "--steps", "100", "--out", str(run_dir), "--reporter", "codes-plot",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (run_dir / "codes.png").exists()
    model = dimred.load(run_dir)
    assert list(model.feature_names_in_) == ["alpha", "beta", "gamma"]

    features = tmp_path / "features.csv"
    np.savetxt(features, X[:, :3], delimiter=",", header="alpha,beta,gamma", comments="", fmt="%.6f")
    assert invoke("encode", str(run_dir), str(features), "-o", str(tmp_path / "codes.npy")).exit_code == 0
    codes = np.load(tmp_path / "codes.npy")
    assert codes.shape == (300, 2)
    np.testing.assert_allclose(codes, model.encode_rows(np.loadtxt(features, delimiter=",", skiprows=1)), atol=1e-6)

    assert invoke("decode", str(run_dir), str(tmp_path / "codes.npy"), "-o", str(tmp_path / "recon.csv")).exit_code == 0
    lines = (tmp_path / "recon.csv").read_text().splitlines()
    assert lines[0] == "alpha,beta,gamma"
    reconstruction = np.loadtxt(tmp_path / "recon.csv", delimiter=",", skiprows=1)
    assert reconstruction.shape == (300, 3)
    assert np.sqrt(((reconstruction - X[:, :3]) ** 2).mean()) < 0.3


def test_encode_streams_a_memory_mapped_npy_in_batches(default_run, tmp_path):
    X = np.random.default_rng(1).random((1000, 3)) * 20
    np.save(tmp_path / "points.npy", X)
    rows = dimred.encode_file(default_run, tmp_path / "points.npy", tmp_path / "codes.npy", batch_rows=128,
                              device="cpu")  # fmt: skip
    assert rows == 1000
    whole = dimred.load(default_run, device="cpu").transform(X.astype(np.float32))  # on the CPU, batch-independent
    np.testing.assert_array_equal(np.load(tmp_path / "codes.npy"), whole)


def test_encode_into_a_log_says_how_far_it_is_at_each_tenth_of_the_rows(default_run, tmp_path, capsys):
    """Where stderr is no terminal (here, captured) the command's progress bar showed nothing until the end: a file
    of millions of rows had shown 'encoding' and then nothing for minutes."""
    from dimred.cli import _RowProgress

    np.save(tmp_path / "points.npy", np.random.default_rng(1).random((2_800, 3)) * 20)
    dimred.encode_file(default_run, tmp_path / "points.npy", tmp_path / "codes.npy", batch_rows=1_024,
                       progress=_RowProgress("encoding"))  # fmt: skip
    assert capsys.readouterr().err.splitlines() == ["encoding: 36% (1024 of 2800 rows)",
                                                    "encoding: 73% (2048 of 2800 rows)",
                                                    "encoding: 100% (2800 of 2800 rows)"]  # fmt: skip


def test_encode_never_overwrites_and_checks_the_width(default_run, tmp_path):
    np.save(tmp_path / "wide.npy", np.zeros((4, 5)))
    result = invoke("encode", str(default_run), str(tmp_path / "wide.npy"), "-o", str(tmp_path / "codes.npy"))
    assert result.exit_code == 1
    assert "wide.npy has 5 columns, but the model expects 3 features" in result.output
    assert not (tmp_path / "codes.npy").exists()
    (tmp_path / "mine.csv").write_text("precious\n")
    np.save(tmp_path / "ok.npy", np.zeros((4, 3)))
    result = invoke("encode", str(default_run), str(tmp_path / "ok.npy"), "-o", str(tmp_path / "mine.csv"))
    assert result.exit_code == 2
    assert (tmp_path / "mine.csv").read_text() == "precious\n"
    for overwrite in ([], ["--overwrite"]):  # one answer, not "pass --overwrite" and then a refusal of it
        result = invoke("encode", str(default_run), str(tmp_path / "ok.npy"), "-o", str(tmp_path / "ok.npy"),
                        *overwrite)  # fmt: skip
        assert result.exit_code == 2
        assert f"the output file must not be the input file {tmp_path / 'ok.npy'}; name another" in result.output


def test_the_training_csv_encodes_with_its_label_column_skipped(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.random((120, 3))
    kinds = np.where(X[:, 0] > 0.5, "big", "small")
    data = tmp_path / "labelled.csv"
    rows = (f"{a:.6f},{kind},{b:.6f},{c:.6f}\n" for (a, b, c), kind in zip(X, kinds, strict=True))
    data.write_text("x,kind,y,z\n" + "".join(rows))
    run_dir = tmp_path / "run"
    dimred.run(dataset="file", model="mlp-ae", settings={"dataset.path": str(data), "dataset.label_column": "kind"},
               steps=5, out=run_dir, reporters=[])  # fmt: skip
    model = dimred.load(run_dir)
    assert list(model.feature_names_in_) == ["x", "y", "z"]
    result = invoke("encode", str(run_dir), str(data), "-o", str(tmp_path / "codes.npy"))
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"), model.encode_rows(X.round(6)), atol=1e-6)


@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_a_headerless_training_file_encodes_with_the_column_set_aside_by_position_skipped(tmp_path, suffix):
    rng = np.random.default_rng(3)
    X = rng.random((120, 3)).round(6)
    kinds = (X[:, 0] > 0.5).astype(int)
    data = tmp_path / f"labelled{suffix}"
    if suffix == ".csv":  # class names: the skipped column is text
        names = np.where(kinds == 1, "big", "small")
        data.write_text("".join(f"{a},{kind},{b},{c}\n" for (a, b, c), kind in zip(X, names, strict=True)))
    else:
        np.save(data, np.column_stack([X[:, :1], kinds, X[:, 1:]]))
    run_dir = tmp_path / "run"
    dimred.run(dataset="file", model="mlp-ae", settings={"dataset.path": str(data), "dataset.label_column": "1"},
               steps=5, out=run_dir, reporters=[])  # fmt: skip
    model = dimred.load(run_dir)
    assert model.n_features_in_ == 3
    features_only = tmp_path / "features.npy"
    np.save(features_only, X)
    for source in (data, features_only):
        codes = tmp_path / f"{source.stem}_codes.npy"
        result = invoke("encode", str(run_dir), str(source), "-o", str(codes))
        assert result.exit_code == 0, result.output
        np.testing.assert_allclose(np.load(codes), model.encode_rows(X), atol=1e-6)
    np.save(tmp_path / "wider.npy", rng.random((4, 5)))
    result = invoke("encode", str(run_dir), str(tmp_path / "wider.npy"), "-o", str(tmp_path / "wider_codes.npy"))
    assert result.exit_code == 1
    assert "wider.npy has 5 columns, but the model expects 3 features" in result.output


def test_encode_reads_the_trained_columns_of_a_csv_by_name_in_any_order(tmp_path):
    rows = np.random.default_rng(0).random((50, 3))
    data = tmp_path / "train.csv"
    np.savetxt(data, rows, delimiter=",", header="a,b,c", comments="")
    dimred.run(dataset="file", model="mlp-ae", settings={"dataset.path": str(data)}, steps=5, out=tmp_path / "run",
               reporters=[])  # fmt: skip
    reordered = tmp_path / "reordered.csv"
    np.savetxt(reordered, rows[:, [2, 0, 1]], delimiter=",", header="c,a,b", comments="")
    for name, source in (("same", data), ("reordered", reordered)):
        result = invoke("encode", str(tmp_path / "run"), str(source), "-o", str(tmp_path / f"{name}.npy"))
        assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(tmp_path / "reordered.npy"), np.load(tmp_path / "same.npy"))
    renamed = tmp_path / "renamed.csv"
    np.savetxt(renamed, rows, delimiter=",", header="a,b,d", comments="")
    result = invoke("encode", str(tmp_path / "run"), str(renamed), "-o", str(tmp_path / "renamed.npy"))
    assert result.exit_code == 1
    assert "lacks 1 of the 3 columns the model was trained on (first: c)" in result.output


def test_a_reducer_fitted_on_a_frame_whose_names_have_spaces_encodes_and_evaluates_that_frames_csv(tmp_path):
    """A CSV header is read around its spaces, the frame's names keep theirs: the file had been said to lack them."""
    frame = pd.DataFrame(np.random.default_rng(0).random((60, 3)), columns=[" a", "b ", "c"])
    reducer = dimred.Reducer(model="pca").fit(frame)
    frame[["c", "b ", " a"]].assign(label=1).to_csv(tmp_path / "frame.csv", index=False)
    dimred.encode_file(reducer, tmp_path / "frame.csv", tmp_path / "codes.npy")
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"), reducer.transform(frame))
    evaluated = dimred.evaluate(reducer, "file", out=None, settings={"dataset.path": str(tmp_path / "frame.csv"),
                                                                    "dataset.ignore_columns": "label"})  # fmt: skip
    np.testing.assert_allclose(evaluated.codes, reducer.transform(frame), rtol=1e-6)


def test_loading_something_that_is_not_a_model_file(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file at all")
    result = invoke("encode", str(tmp_path), str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"))
    assert result.exit_code == 1
    assert "not a readable safetensors file" in result.output
    with pytest.raises(ModelFileError, match="no model file"):
        dimred.load(tmp_path / "missing.safetensors")


def test_evaluate_scores_data_above_the_streaming_limit_on_a_seeded_sample(tmp_path, monkeypatch):
    from dimred._api import evaluate
    from dimred._engine import fitting

    np.save(tmp_path / "rows.npy", np.random.default_rng(0).random((500, 3)))
    settings = {"dataset.path": str(tmp_path / "rows.npy")}
    dimred.run("file", "pca", settings=settings, out=tmp_path / "run", reporters=[])
    whole = dimred.evaluate(tmp_path / "run", "file", settings=settings, out=None)
    assert "evaluated_rows" not in whole.metrics
    monkeypatch.setattr(evaluate, "STREAM_ROWS", 400)
    monkeypatch.setattr(fitting, "EVALUATION_ROWS", 100)
    sampled = dimred.evaluate(tmp_path / "run", "file", settings=settings, out=None)
    assert sampled.metrics["evaluated_rows"] == 100
    assert sampled.codes.shape == (100, 2)
    assert sampled.metrics["rmse"] == pytest.approx(whole.metrics["rmse"], rel=0.2)
    monkeypatch.setattr(fitting, "EVALUATION_VALUES", 240)  # 80 rows of these 3 columns
    monkeypatch.setattr(fitting, "FEWEST_EVALUATION_ROWS", 50)
    assert dimred.evaluate(tmp_path / "run", "file", settings=settings, out=None).metrics["evaluated_rows"] == 80


def test_results_show_their_figures_not_their_curves_in_a_short_repr():
    result = dimred.run("swissroll", "pca", settings={"dataset.n_samples": 300}, out=None)
    evaluation = dimred.evaluate(result.reducer, dataset="swissroll", settings={"dataset.n_samples": 200}, out=None)
    for shown, name in ((repr(result), "RunResult"), (repr(evaluation), "EvaluationResult")):
        assert shown.startswith(f"{name}(path=None, codes=(")
        assert "trustworthiness" in shown
        assert "rnx_curve" not in shown
        assert len(shown) < 1000
    assert result.steps == 0  # fitted in one call
    trained = dimred.run("swissroll", "mlp-ae", steps=5, settings={"dataset.n_samples": 300}, out=None, reporters=[])
    assert trained.steps == 5
    assert "steps=5," in repr(trained)
    # a comparison, in a notebook: its table, and a one-line repr rather than every run's metrics and history
    comparison = dimred.compare("swissroll", ["pca"], seeds=2, settings={"dataset.n_samples": 300}, out=None)
    assert comparison._repr_markdown_() == comparison.markdown()
    assert repr(comparison) == "Comparison(dataset='swissroll', models=['pca'], seeds=2, failed=[], path=None)"


def test_encode_writes_what_the_model_computes_in_whoever_fitted_it_and_whatever_the_inputs_dtype(tmp_path):
    """A PCA fitted by a Reducer (its dtype parameter float32, its arithmetic float64) was written as float32,
    and a float64 model's codes of float32 rows as float64 holding float32-rounded values."""
    X = np.random.default_rng(0).normal(size=(60, 3))
    np.save(tmp_path / "rows.npy", X)
    np.save(tmp_path / "rows32.npy", X.astype(np.float32))
    pca = dimred.Reducer(model="pca").fit(X)
    dimred.encode_file(pca, tmp_path / "rows.npy", tmp_path / "pca.npy")
    written = np.load(tmp_path / "pca.npy")
    assert written.dtype == np.float64
    np.testing.assert_array_equal(written, pca.transform(X))
    network = dimred.Reducer(model="mlp-ae", dtype="float64", steps=5, random_state=0).fit(X)
    dimred.encode_file(network, tmp_path / "rows32.npy", tmp_path / "codes.npy")
    np.testing.assert_array_equal(
        np.load(tmp_path / "codes.npy"), network.transform(X.astype(np.float32).astype(float))
    )
