"""What a researcher's own data meets: columns matched by name on evaluation, held-out splits too small to
score, values beyond float32's reach, labelled comparisons, and model files that are the same bytes each time."""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import dimred
from dimred._io import datafiles
from dimred.cli import cli
from dimred.plugin import scatter_points


def invoke(*arguments: str):
    return CliRunner().invoke(cli, list(arguments))


def labelled_csv(path, columns: list[str], rows: int = 120):
    """Two well-separated classes of points in ``columns`` (named a, b, c, d), with a ``species`` column."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (rows // 2, 4)), rng.normal(5, 1, (rows // 2, 4))])
    species = np.repeat(["setosa", "virginica"], rows // 2)
    values = {"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "d": X[:, 3], "species": species}
    lines = [",".join(columns)] + [",".join(str(values[name][row]) for name in columns) for row in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_labelled(path, *arguments: str):
    return invoke("run", "--dataset", "file", "--set", f"dataset.path={path}", "--set", "dataset.label_column=species",
                  *arguments)  # fmt: skip


def with_text_columns(path, source):
    """``source``'s rows with an id column first and a batch-name column last."""
    lines = source.read_text().splitlines()
    rows = [f"r{number},{line},b{number % 3}" for number, line in enumerate(lines[1:])]
    path.write_text("\n".join([f"id,{lines[0]},batch", *rows]) + "\n")
    return path


def test_columns_that_are_neither_data_nor_labels_are_ignored_by_name_or_index(tmp_path):
    plain = labelled_csv(tmp_path / "plain.csv", ["a", "b", "c", "d", "species"])
    texts = with_text_columns(tmp_path / "texts.csv", plain)
    refused = run_labelled(texts, "--model", "pca", "--out", str(tmp_path / "refused"))
    assert refused.exit_code == 1
    assert "line 2, column 1: 'r0' is not a number" in refused.output
    codes = []
    for name, path, ignored in (("plain", plain, []), ("by-name", texts, ["--set", "dataset.ignore_columns=id,batch"]),
                                ("by-index", texts, ["--set", "dataset.ignore_columns= 6, 0"])):  # fmt: skip
        result = run_labelled(path, "--model", "pca", "--reporter", "metrics-table", "--out", str(tmp_path / name),
                              *ignored)  # fmt: skip
        assert result.exit_code == 0, result.output
        codes.append(dimred.load(tmp_path / name).feature_names_in_.tolist())
    assert codes == [["a", "b", "c", "d"]] * 3
    for ignored, message in (("id,nope", "dataset.ignore_columns 'nope' is not a column of"),
                             ("species", "dataset.label_column and dataset.ignore_columns name the same column"),
                             ("id,0", "dataset.ignore_columns names column 0 of")):  # fmt: skip
        result = run_labelled(texts, "--model", "pca", "--set", f"dataset.ignore_columns={ignored}")
        assert result.exit_code == 2
        assert result.output.count("Error:") == 1
        assert message in result.output


@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_a_run_that_left_columns_out_of_a_file_without_names_encodes_and_evaluates_that_file(tmp_path, suffix):
    """The columns left out (an id first) are left out of the same layout again: encode and evaluate had refused
    the training file itself (4 columns for a model of 3 features)."""
    X = np.random.default_rng(0).normal(size=(60, 3))
    with_ids = np.column_stack([np.arange(60) + 1000, X])
    path = tmp_path / f"d{suffix}"
    if suffix == ".csv":
        path.write_text("".join(",".join(f"{value:.6f}" for value in row) + "\n" for row in with_ids))
    else:
        np.save(path, with_ids)
    assert invoke("run", "--dataset", "file", "--set", f"dataset.path={path}", "--set", "dataset.ignore_columns=0",
                  "--model", "pca", "--out", str(tmp_path / "run")).exit_code == 0  # fmt: skip
    encoded = invoke("encode", str(tmp_path / "run"), str(path), "-o", str(tmp_path / "codes.npy"))
    assert encoded.exit_code == 0, encoded.output
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"), dimred.load(tmp_path / "run").encode_rows(X), atol=1e-5)
    scores = dimred.evaluate(tmp_path / "run", "file", settings={"dataset.path": str(path)}, out=None)
    trained = json.loads((tmp_path / "run" / "metrics.json").read_text())  # the same rows, every one trained on
    assert scores.metrics["rmse"] == pytest.approx(trained["rmse"], rel=1e-9)


def test_evaluate_leaves_out_a_text_column_among_features_named_by_numbers(tmp_path):
    """pandas names columns 0, 1, 2: leaving the batch column out by its index (1) had left out feature '1'."""
    X = np.random.default_rng(0).normal(size=(60, 3))
    (tmp_path / "t.csv").write_text("0,1,2\n" + "".join(f"{a},{b},{c}\n" for a, b, c in X))
    (tmp_path / "e.csv").write_text(
        "0,batch,1,2\n" + "".join(f"{a},b{i % 2},{b},{c}\n" for i, (a, b, c) in enumerate(X))
    )
    assert invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 't.csv'}", "--model", "pca",
                  "--out", str(tmp_path / "run")).exit_code == 0  # fmt: skip
    scores = dimred.evaluate(tmp_path / "run", "file", settings={"dataset.path": str(tmp_path / "e.csv")}, out=None)
    same = dimred.evaluate(tmp_path / "run", "file", settings={"dataset.path": str(tmp_path / "t.csv")}, out=None)
    assert scores.metrics["rmse"] == same.metrics["rmse"]


def test_evaluate_leaves_out_text_columns_besides_the_named_features_as_encode_does(tmp_path):
    plain = labelled_csv(tmp_path / "plain.csv", ["a", "b", "c", "d", "species"])
    texts = with_text_columns(tmp_path / "texts.csv", plain)
    assert run_labelled(plain, "--model", "pca", "--out", str(tmp_path / "run")).exit_code == 0
    scores = []
    for path in (plain, texts):
        result = invoke("evaluate", str(tmp_path / "run"), "--dataset", "file", "--set", f"dataset.path={path}",
                        "--out", str(tmp_path / path.stem))  # fmt: skip
        assert result.exit_code == 0, result.output
        scores.append(json.loads((tmp_path / path.stem / "metrics.json").read_text()))
    assert scores[1]["rmse"] == scores[0]["rmse"]
    assert scores[1]["knn_accuracy"] == scores[0]["knn_accuracy"] == 1.0


def test_evaluate_picks_the_trained_columns_by_name_in_any_order(tmp_path):
    trained = labelled_csv(tmp_path / "train.csv", ["a", "b", "c", "d", "species"])
    reordered = labelled_csv(tmp_path / "reordered.csv", ["species", "d", "c", "b", "a"])
    run = run_labelled(trained, "--model", "pca", "--out", str(tmp_path / "run"))
    assert run.exit_code == 0, run.output
    scores = []
    for name, path in (("same", trained), ("reordered", reordered)):
        result = invoke("evaluate", str(tmp_path / "run"), "--dataset", "file", "--set", f"dataset.path={path}",
                        "--set", "dataset.label_column=species", "--out", str(tmp_path / name))  # fmt: skip
        assert result.exit_code == 0, result.output
        scores.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    assert scores[0]["rmse"] == pytest.approx(scores[1]["rmse"], rel=1e-6)
    assert scores[0]["knn_accuracy"] == scores[1]["knn_accuracy"] == 1.0

    lacking = labelled_csv(tmp_path / "lacking.csv", ["a", "b", "d", "species"])
    result = invoke("evaluate", str(tmp_path / "run"), "--dataset", "file", "--set", f"dataset.path={lacking}",
                    "--set", "dataset.label_column=species", "--out", str(tmp_path / "lacking"))  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output.count("Error:") == 1
    assert "lacks 1 of the 4 columns the model was trained on (first: c)" in result.output
    assert not (tmp_path / "lacking").exists()


@pytest.mark.parametrize(
    ("rows", "message"),
    [(2, "the data of dataset 'file' ({few}) has 2 rows: too few to score a model on; give at least 3"),
     (60, "all 60 rows of the data of dataset 'file' ({few}) are the same point: there is no structure to score")],
)  # fmt: skip
def test_evaluate_refuses_data_that_every_score_would_call_perfect_as_run_does(tmp_path, rows, message):
    trained = labelled_csv(tmp_path / "train.csv", ["a", "b", "c", "d"])
    assert invoke("run", "--dataset", "file", "--set", f"dataset.path={trained}", "--model", "pca", "--reporter",
                  "metrics-table", "--out", str(tmp_path / "run")).exit_code == 0  # fmt: skip
    np.savetxt(tmp_path / "few.csv", np.ones((rows, 4)) if rows > 2 else np.eye(2, 4), delimiter=",",
               header="a,b,c,d", comments="")  # fmt: skip
    result = invoke("evaluate", str(tmp_path / "run"), "--dataset", "file", "--set",
                    f"dataset.path={tmp_path / 'few.csv'}", "--out", str(tmp_path / "scores"))  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"Error: {message.format(few=tmp_path / 'few.csv')}"
    assert not (tmp_path / "scores").exists()


def test_a_gap_in_a_label_column_evaluate_carried_from_the_run_says_where_the_column_came_from(tmp_path):
    rows = "a,b,c,label\n" + "".join(f"{i},{i * 7 % 5},{i % 3},{'xy'[i % 2]}\n" for i in range(12))
    (tmp_path / "rows.csv").write_text(rows)
    (tmp_path / "gap.csv").write_text(rows.replace("3,1,0,y", "3,1,0,"))
    (tmp_path / "nan.csv").write_text(rows.replace("3,1,0,y", "3,nan,0,y"))
    run = tmp_path / "run"
    trained = CliRunner().invoke(cli, ["run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'rows.csv'}",
                                       "--set", "dataset.label_column=label", "--model", "pca", "--holdout", "0",
                                       "--out", str(run)])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    hint = "(dataset.label_column 'label' is the run's; --set dataset.label_column= leaves it out)"
    gap = CliRunner().invoke(
        cli, ["evaluate", str(run), "--dataset", "file", "--set", f"dataset.path={tmp_path / 'gap.csv'}"]
    )
    assert gap.exit_code == 1
    assert gap.output.strip().endswith(
        f"the label of data row 4 is empty; every row needs one (not empty, NA or NaN) {hint}"
    )
    nan = CliRunner().invoke(
        cli, ["evaluate", str(run), "--dataset", "file", "--set", f"dataset.path={tmp_path / 'nan.csv'}"]
    )
    assert nan.exit_code == 1
    assert "'nan' is not a finite number" in nan.output
    assert hint not in nan.output  # a feature's gap is not the label column's


def test_evaluate_sets_aside_the_columns_the_run_set_aside_where_the_file_holds_them(tmp_path):
    """By name in a file with a header, by index in one without; a file of the features alone evaluates as it is."""
    named = labelled_csv(tmp_path / "named.csv", ["species", "a", "b", "c", "d"])
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("".join(line + "\n" for line in named.read_text().splitlines()[1:]))
    features = tmp_path / "features.npy"
    np.save(features, np.loadtxt(headerless, delimiter=",", usecols=range(1, 5)))
    for path, column in ((named, "species"), (headerless, "0")):
        run = tmp_path / f"run-{path.stem}"
        trained = invoke("run", "--dataset", "file", "--set", f"dataset.path={path}", "--set",
                         f"dataset.label_column={column}", "--model", "pca", "--out", str(run))  # fmt: skip
        assert trained.exit_code == 0, trained.output
        for source in (path, features):
            out = tmp_path / f"{run.name}-{source.stem}"
            result = invoke("evaluate", str(run), "--dataset", "file", "--set", f"dataset.path={source}", "--out",
                            str(out))  # fmt: skip
            assert result.exit_code == 0, result.output
            scores = json.loads((out / "metrics.json").read_text())
            assert scores["rmse"] == pytest.approx(json.loads((run / "metrics.json").read_text())["rmse"], rel=1e-6)
            assert ("knn_accuracy" in scores) == (source == path)


def test_evaluate_carries_the_set_aside_column_its_settings_do_not_name(tmp_path):
    """A headerless run that set aside a label (0) and a colour (1) column; the evaluation names the label only."""
    rng = np.random.default_rng(0)
    rows = np.column_stack([np.repeat([0, 1], 30), rng.random(60), rng.random((60, 3))])
    np.savetxt(tmp_path / "rows.csv", rows, delimiter=",", fmt="%.4f")
    run = tmp_path / "run"
    trained = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'rows.csv'}", "--set",
                     "dataset.label_column=0", "--set", "dataset.color_column=1", "--model", "pca", "--out",
                     str(run))  # fmt: skip
    assert trained.exit_code == 0, trained.output
    result = invoke("evaluate", str(run), "--dataset", "file", "--set", f"dataset.path={tmp_path / 'rows.csv'}",
                    "--set", "dataset.label_column=0", "--out", str(tmp_path / "evaluated"))  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "evaluated" / "metrics.json").read_text())
    assert scores["rmse"] == pytest.approx(json.loads((run / "metrics.json").read_text())["rmse"], rel=1e-6)


def test_evaluate_finds_a_label_column_given_by_index_in_a_file_of_another_column_order(tmp_path):
    """The run named the label column by its index (4); the evaluated file holds the same columns in another
    order, so that index is a feature there: the one column that is not a trained feature is the label."""
    trained = labelled_csv(tmp_path / "train.csv", ["a", "b", "c", "d", "species"])
    reordered = labelled_csv(tmp_path / "reordered.csv", ["species", "d", "c", "b", "a"])
    run = tmp_path / "run"
    assert invoke("run", "--dataset", "file", "--set", f"dataset.path={trained}", "--set", "dataset.label_column=4",
                  "--model", "pca", "--out", str(run)).exit_code == 0  # fmt: skip
    scores = []
    for path in (trained, reordered):
        result = invoke("evaluate", str(run), "--dataset", "file", "--set", f"dataset.path={path}", "--out",
                        str(tmp_path / path.stem))  # fmt: skip
        assert result.exit_code == 0, result.output
        scores.append(json.loads((tmp_path / path.stem / "metrics.json").read_text()))
    assert scores[0]["knn_accuracy"] == scores[1]["knn_accuracy"] == 1.0
    assert scores[0]["rmse"] == pytest.approx(scores[1]["rmse"], rel=1e-6)


def _id_label_features(path, columns: list[str], header: bool, extra: str = ""):
    """Two well-separated classes of points (a-d), their 0/1 label (lab) and a row number (id), in ``columns``;
    ``extra`` a text column (batch) in front."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, 4)), rng.normal(5, 1, (60, 4))])
    values = {"id": np.arange(1000, 1120), "lab": np.repeat([0, 1], 60), **dict(zip("abcd", X.T, strict=True))}
    lines = [",".join([*([extra] if extra else []), *columns])] if header else []
    lines += [
        ",".join([*(["b1"] if extra else []), *(str(values[name][row]) for name in columns)]) for row in range(120)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("header", "ignored", "label", "evaluated", "extra", "accuracy"),
    [(False, "0", "1", ["lab", "a", "b", "c", "d"], "", "refused"),
     (False, "0", "1", ["id", "a", "b", "c", "d"], "", "refused"),
     (True, "0", "5", ["a", "b", "c", "d", "lab"], "", None),
     (True, "0", "5", ["id", "a", "b", "c", "d"], "", None),
     (True, "id", "lab", ["a", "b", "c", "d", "lab"], "batch", 1.0)],
    ids=["no header, no id", "no header, no labels", "a header, no id", "a header, no labels",
         "a header, by name, another column in the id's place"],
)  # fmt: skip
def test_evaluate_never_takes_another_column_for_the_labels_in_a_file_without_the_ignored_or_the_label_column(
    tmp_path, header, ignored, label, evaluated, extra, accuracy
):
    """The run left out an id column and set the labels aside by their index; the evaluated file lacks one of the
    two. Which one, its width cannot tell: the labels' index had been kept, so a feature (or the ids) was scored as
    the labels with exit 0, or it fell off the header (an IndexError). Where the header names every trained
    feature, the other columns are left out (an ignored column named by a name the file lacks had been carried
    all the same, and refused); else the file is refused for its width."""
    trained = _id_label_features(tmp_path / "train.csv", ["id", "lab", "a", "b", "c", "d"] if not header
                                 else ["id", "a", "b", "c", "d", "lab"], header)  # fmt: skip
    other = _id_label_features(tmp_path / "other.csv", evaluated, header, extra)
    run = tmp_path / "run"
    assert invoke("run", "--dataset", "file", "--set", f"dataset.path={trained}", "--set",
                  f"dataset.ignore_columns={ignored}", "--set", f"dataset.label_column={label}", "--model", "pca",
                  "--out", str(run)).exit_code == 0  # fmt: skip
    result = invoke("evaluate", str(run), "--dataset", "file", "--set", f"dataset.path={other}", "--out",
                    str(tmp_path / "evaluated"))  # fmt: skip
    if accuracy == "refused":
        assert result.exit_code == 1, result.output
        assert "has 5 columns, but the model expects 4 features" in result.output
        return
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "evaluated" / "metrics.json").read_text()).get("knn_accuracy") == accuracy


def test_evaluate_says_so_where_a_label_column_given_by_index_cannot_be_told_among_the_files_other_columns(tmp_path):
    """Two columns besides the features (the labels and another): which one holds the labels cannot be told, and
    the evaluation went on without them in silence."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, 4)), rng.normal(5, 1, (60, 4))])
    rows = [",".join(map(str, features)) + f",{row // 60},{row}" for row, features in enumerate(X)]
    (tmp_path / "train.csv").write_text("a,b,c,d,cls\n" + "\n".join(row.rpartition(",")[0] for row in rows) + "\n")
    (tmp_path / "more.csv").write_text("a,b,c,d,cls,extra\n" + "\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'train.csv'}", "--set",
                  "dataset.label_column=4", "--model", "pca", "--out", str(run)).exit_code == 0  # fmt: skip
    result = invoke("evaluate", str(run), "--dataset", "file", "--set", f"dataset.path={tmp_path / 'more.csv'}",
                    "--set", "dataset.label_column=cls", "--out", str(tmp_path / "named"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "named" / "metrics.json").read_text())["knn_accuracy"] == 1.0
    with pytest.warns(UserWarning, match=r"more.csv has 2 columns besides the model's features, but the run's "
                                         r"dataset.label_column=4 cannot be told among them"):  # fmt: skip
        dimred.evaluate(run, "file", settings={"dataset.path": str(tmp_path / "more.csv")}, out=None)
    with warnings.catch_warnings():  # named by the evaluation itself: nothing to warn of
        warnings.simplefilter("error")
        named = {"dataset.path": str(tmp_path / "more.csv"), "dataset.label_column": "cls"}
        assert dimred.evaluate(run, "file", settings=named, out=None).metrics["knn_accuracy"] == 1.0


@pytest.mark.parametrize("ignored", ["id", "0"])
def test_evaluate_takes_the_column_the_run_ignored_for_what_it_is_not_for_a_label_column_it_cannot_find(
    tmp_path, ignored
):
    """The run left out an id column and read its labels from 'cls'; a file of the id and the features holds no
    labels, and the id is no unnamed label column: advice to name it as the labels would have made ids classes."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, 4)), rng.normal(5, 1, (60, 4))])
    rows = [f"{row}," + ",".join(map(str, features)) for row, features in enumerate(X)]
    (tmp_path / "train.csv").write_text("id,a,b,c,d,cls\n" + "\n".join(f"{r},{i // 60}" for i, r in enumerate(rows)))
    (tmp_path / "unlabelled.csv").write_text("id,a,b,c,d\n" + "\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'train.csv'}", "--set",
                  "dataset.label_column=cls", "--set", f"dataset.ignore_columns={ignored}", "--model", "pca", "--out",
                  str(run)).exit_code == 0  # fmt: skip
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        scored = dimred.evaluate(run, "file", settings={"dataset.path": str(tmp_path / "unlabelled.csv")}, out=None)
    assert [str(warning.message).split(" has no labels ")[1] for warning in said] == [
        "(the run's label column 'cls' is not in it): the metrics of labels (knn-accuracy, silhouette) are left out"
    ]  # that alone: no advice to take the id for the labels
    assert "knn_accuracy" not in scored.metrics
    np.testing.assert_allclose(scored.codes, dimred.load(run).encode_rows(X), atol=1e-5)
    (tmp_path / "narrow.csv").write_text("a,b\n" + "1,2\n" * 10)  # refused: not first warned of its labels
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        with pytest.raises(dimred.DimredError, match="lacks"):
            dimred.evaluate(run, "file", settings={"dataset.path": str(tmp_path / "narrow.csv")}, out=None)
    assert [str(warning.message) for warning in said] == []


@pytest.mark.parametrize(
    "set_aside",
    [["--set", "dataset.ignore_columns=0,6"], ["--set", "dataset.ignore_columns=0", "--set", "dataset.color_column=6"]],
)
def test_the_training_file_evaluates_with_its_label_column_by_index_beside_ignored_columns(tmp_path, set_aside):
    """An id, four features, the label (column 5) and a colour: the file is as wide as the training file only
    counting the ignored columns too, which the label's index was not found without."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, 4)), rng.normal(5, 1, (60, 4))])
    table = np.column_stack([np.arange(120), X, np.repeat([1, 2], 60), rng.random(120)])
    np.savetxt(tmp_path / "cells.csv", table, delimiter=",")
    run = tmp_path / "run"
    assert invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'cells.csv'}", "--set",
                  "dataset.label_column=5", *set_aside, "--model", "pca", "--out", str(run)).exit_code == 0  # fmt: skip
    result = invoke("evaluate", str(run), "--dataset", "file", "--set", f"dataset.path={tmp_path / 'cells.csv'}",
                    "--out", str(tmp_path / "scored"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.output
    assert json.loads((tmp_path / "scored" / "metrics.json").read_text())["knn_accuracy"] == 1.0


def test_a_file_without_the_ignored_column_needs_the_label_column_named_as_its_width_cannot_tell(tmp_path):
    """Without the id the file is as wide as one with the id and without the labels: index 0 would be a feature
    there, so the run's index is not carried by width alone; named, the labels are found."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, 4)), rng.normal(5, 1, (60, 4))])
    table = np.column_stack([np.repeat([1, 2], 60), X, np.arange(120)])  # label, four features, an id
    np.savetxt(tmp_path / "train.csv", table, delimiter=",")
    np.savetxt(tmp_path / "no_id.csv", table[:, :-1], delimiter=",")
    run = tmp_path / "run"
    assert invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'train.csv'}", "--set",
                  "dataset.label_column=0", "--set", "dataset.ignore_columns=5", "--model", "pca", "--out",
                  str(run)).exit_code == 0  # fmt: skip
    told = pytest.warns(UserWarning, match=r"dataset.label_column=0 cannot be told among them")
    with told, pytest.raises(dimred.DataError, match="has 5 columns, but the model expects 4 features"):
        dimred.evaluate(run, "file", settings={"dataset.path": str(tmp_path / "no_id.csv")}, out=None)
    named = {"dataset.path": str(tmp_path / "no_id.csv"), "dataset.label_column": "0"}
    assert dimred.evaluate(run, "file", settings=named, out=None).metrics["knn_accuracy"] == 1.0


def test_a_folder_called_label_is_no_sign_that_an_error_is_about_the_runs_label_column(tmp_path):
    rng = np.random.default_rng(0)
    rows = [",".join(map(str, rng.random(4))) + f",{row % 2}" for row in range(60)]
    (tmp_path / "label").mkdir()
    (tmp_path / "label" / "rows.csv").write_text("a,b,c,d,cls\n" + "\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'label' / 'rows.csv'}", "--set",
                  "dataset.label_column=cls", "--model", "pca", "--out", str(run)).exit_code == 0  # fmt: skip
    result = invoke("evaluate", str(run), "--dataset", "file", "--set",
                    f"dataset.path={tmp_path / 'label' / 'rows.csv'}", "--set", "dataset.color_column=zz")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "dataset.color_column 'zz' is not a column of" in result.output
    assert "choose from: a, b, c, d, cls (or their 0-based indices, 0 to 4)" in result.output  # 9: not an index
    assert "is the run's" not in result.output


def test_an_ignored_column_the_run_named_but_the_evaluated_file_lacks_is_said_to_be_the_runs(tmp_path):
    rng = np.random.default_rng(0)
    rows = [f"{row}," + ",".join(map(str, rng.random(4))) for row in range(60)]
    (tmp_path / "named.csv").write_text("id,a,b,c,d\n" + "\n".join(rows) + "\n")
    (tmp_path / "bare.csv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'named.csv'}", "--set",
                  "dataset.ignore_columns=id", "--model", "pca", "--out", str(run)).exit_code == 0  # fmt: skip
    result = invoke("evaluate", str(run), "--dataset", "file", "--set", f"dataset.path={tmp_path / 'bare.csv'}")
    assert result.exit_code == 2, result.output
    assert ("(dataset.ignore_columns 'id' is the run's; --set dataset.ignore_columns=COLUMNS names the ones to leave "
            "out here)") in result.output  # fmt: skip


@pytest.mark.parametrize(
    ("option", "hinted"), [("label_column", True), ("ignore_columns", False), ("color_column", False)]
)
def test_only_a_label_column_missing_from_an_npz_file_is_told_of_its_y_array(tmp_path, option, hinted):
    np.savez(tmp_path / "rows.npz", X=np.random.default_rng(0).random((30, 3)))
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'rows.npz'}", "--set",
                    f"dataset.{option}=7", "--model", "pca")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"dataset.{option} '7' is not a column of" in result.output
    assert ("an .npz file's 'y' array is read as labels without this option" in result.output) == hinted


def test_a_missing_data_file_given_by_a_relative_path_says_where_it_was_looked_for(tmp_path):
    result = invoke("run", "--dataset", "file", "--set", "dataset.path=data/rows.csv", "--model", "pca")
    assert result.exit_code == 2, result.output
    assert f"no such file: data/rows.csv (a relative path is read from the folder you run in, {tmp_path})" in (
        result.output.replace("\n", " "))  # fmt: skip


@pytest.mark.parametrize("label_column", ["label", "1"])
def test_the_training_file_with_repeated_names_and_a_label_column_encodes_as_it_evaluates(tmp_path, label_column):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3)) * [1.0, 5.0, 0.2]
    rows = [f"{x:.6f},{['x', 'y'][i % 2]},{y:.6f},{z:.6f}" for i, (x, y, z) in enumerate(X)]
    (tmp_path / "t.csv").write_text("a,label,a,c\n" + "\n".join(rows) + "\n")
    trained = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 't.csv'}", "--set",
                     f"dataset.label_column={label_column}", "--model", "pca", "--out",
                     str(tmp_path / "run"))  # fmt: skip
    assert trained.exit_code == 0, trained.output
    encoded = invoke("encode", str(tmp_path / "run"), str(tmp_path / "t.csv"), "-o", str(tmp_path / "codes.npy"))
    assert encoded.exit_code == 0, encoded.output
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"), dimred.load(tmp_path / "run").encode_rows(X), atol=1e-5)


def test_repeated_column_names_are_matched_by_position_only_where_the_header_is_the_trained_one(tmp_path):
    """With two columns called a, which is which cannot be told by name: the training file's own header (the
    same names in the same order) is read by position; any other is refused rather than guessed."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3)) * [1.0, 5.0, 0.2]
    np.savetxt(tmp_path / "train.csv", X, delimiter=",", header="a,a,b", comments="")
    np.savetxt(tmp_path / "other.csv", X[:, [1, 0, 2]], delimiter=",", header="a,b,a", comments="")
    trained = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'train.csv'}", "--model", "pca",
                     "--holdout", "0", "--out", str(tmp_path / "run"))  # fmt: skip
    assert trained.exit_code == 0, trained.output
    model = dimred.load(tmp_path / "run")
    encoded = invoke("encode", str(tmp_path / "run"), str(tmp_path / "train.csv"), "-o", str(tmp_path / "codes.npy"))
    assert encoded.exit_code == 0, encoded.output
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"), model.encode_rows(X), atol=1e-5)
    evaluated = invoke("evaluate", str(tmp_path / "run"), "--dataset", "file", "--set",
                       f"dataset.path={tmp_path / 'train.csv'}", "--out", str(tmp_path / "same"))  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    scored = json.loads((tmp_path / "same" / "metrics.json").read_text())["rmse"]
    assert scored == pytest.approx(json.loads((tmp_path / "run" / "metrics.json").read_text())["rmse"], rel=1e-6)
    for command in (["encode", str(tmp_path / "run"), str(tmp_path / "other.csv"), "-o", str(tmp_path / "o.npy")],
                    ["evaluate", str(tmp_path / "run"), "--dataset", "file", "--set",
                     f"dataset.path={tmp_path / 'other.csv'}", "--out", str(tmp_path / "other")]):  # fmt: skip
        refused = invoke(*command)
        assert refused.exit_code == 1, refused.output
        assert refused.output.count("Error:") == 1
        assert "the name 'a' is given to more than one of the model's columns" in refused.output
    assert not (tmp_path / "o.npy").exists()
    assert not (tmp_path / "other").exists()


def test_errors_in_a_file_encoded_in_batches_count_its_rows_and_name_it(tmp_path):
    X = np.random.default_rng(2).normal(size=(50, 3))
    np.save(tmp_path / "train.npy", X)
    trained = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'train.npy'}", "--model",
                     "mlp-ae", "--steps", "5", "--reporter", "metrics-table", "--out",
                     str(tmp_path / "run"))  # fmt: skip
    assert trained.exit_code == 0, trained.output
    late = X.copy()
    late[43, 1] = np.nan
    huge = X.copy()
    huge[37, 2] = 1e39
    for name, rows, message in (("late.npy", late, "late.npy has NaN at row 43, column 1"),
                                ("huge.npy", huge, "huge.npy has 1e+39 at row 37, column 2 (counting from 0), beyond "
                                                   "the range of float32"),
                                ("wide.npy", np.hstack([X, X]), "wide.npy has 6 columns, but the model expects 3 "
                                                                "features")):  # fmt: skip
        np.save(tmp_path / name, rows)
        with pytest.raises(dimred.DimredError, match=re.escape(message)):
            dimred.encode_file(tmp_path / "run", tmp_path / name, tmp_path / "codes.npy", batch_rows=10)
        assert not (tmp_path / "codes.npy").exists()


def test_evaluate_writes_into_an_existing_folder_only_with_overwrite_and_never_into_the_run(tmp_path):
    path = labelled_csv(tmp_path / "d.csv", ["a", "b", "c", "d", "species"])
    assert run_labelled(path, "--model", "pca", "--out", str(tmp_path / "run")).exit_code == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    arguments = ["evaluate", str(tmp_path / "run"), "--dataset", "file", "--set", f"dataset.path={path}", "--set",
                 "dataset.label_column=species", "--out", str(tmp_path / "mine")]  # fmt: skip
    refused = invoke(*arguments)
    assert refused.exit_code == 2
    assert (
        "already exists and is not empty; choose another out (--out) or pass overwrite=True (--overwrite)"
        in refused.output
    )
    written = invoke(*arguments, "--overwrite")
    assert written.exit_code == 0, written.output
    assert {"metrics.json", "notes.txt"} <= {entry.name for entry in (tmp_path / "mine").iterdir()}
    before = (tmp_path / "run" / "metrics.json").read_bytes()
    over_the_run = invoke(*arguments[:-1], str(tmp_path / "run"), "--overwrite")
    assert over_the_run.exit_code == 2
    assert "is the model's run directory; an evaluation never writes over the training results" in over_the_run.output
    assert (tmp_path / "run" / "metrics.json").read_bytes() == before


@pytest.mark.parametrize(("rows", "fraction"), [(600, 0.002), (600, 0.0001), (6, 0.6)])
def test_a_held_out_split_too_small_to_score_is_refused_before_training(tmp_path, rows, fraction):
    path = labelled_csv(tmp_path / "d.csv", ["a", "b", "c", "d", "species"], rows=rows)
    result = run_labelled(path, "--model", "pca", "--holdout", str(fraction), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    assert result.output.count("Error:") == 1
    assert f"--holdout {fraction:g} of" in result.output
    assert "each needs 3" in result.output
    assert not (tmp_path / "run").exists()


def test_three_held_out_rows_are_scored_with_the_smaller_k_shown(tmp_path):
    path = labelled_csv(tmp_path / "d.csv", ["a", "b", "c", "d", "species"], rows=600)
    result = run_labelled(path, "--model", "pca", "--holdout", "0.005", "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["holdout.rows"] == 3
    assert metrics["holdout.neighbours"] == 1
    row = next(line for line in result.output.splitlines() if line.startswith("trustworthiness"))
    assert row.startswith("trustworthiness (k=10)")
    assert row.endswith(f"{metrics['holdout.trustworthiness']:.4f} (k=1)")


@pytest.mark.parametrize("model", ["ne-ae", "pca"])
def test_a_column_whose_scaling_a_model_file_cannot_hold_is_named_by_its_header_and_file(tmp_path, model):
    """It had been said as column 0 of "the data", where the file names its columns and the run its file."""
    X = np.random.default_rng(0).random((60, 4))
    X[:, 2] *= 1e31
    np.savetxt(tmp_path / "huge.csv", X, delimiter=",", header="a,b,dose,d", comments="")
    steps = ["--steps", "5"] if model == "ne-ae" else []
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'huge.csv'}", "--model", model,
                    *steps, "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output.count("Error:") == 1
    assert f"Error: column 'dose' of the data of dataset 'file' ({tmp_path / 'huge.csv'}) varies by" in result.output
    assert not (tmp_path / "run").exists()
    import pandas as pd

    with pytest.raises(dimred.DataError, match=r"^column 'dose' of the data varies by"):
        dimred.Reducer(model=model, steps=5 if steps else None).fit(pd.DataFrame(X, columns=["a", "b", "dose", "d"]))


@pytest.mark.parametrize(
    ("low", "high", "message"),
    [
        (-3e38, 3e38, "varies by 6e+38 around -3e+38"),  # each within float32's range, their difference not
        (0.0, 1e-35, "varies by 1e-35 around 0"),  # scaling it would take a factor of 1e35
        (1e31, 1e31 + 1e25, "around 1e+31"),  # a spread float32 keeps, around a value too far from 0
    ],
)
def test_a_column_whose_scaling_a_model_file_cannot_hold_is_refused_naming_it(tmp_path, low, high, message):
    """Training used to accept these and save a model file that loading refused as not fitted on data."""
    X = np.random.default_rng(0).random((50, 3))
    X[:, 1] = low
    X[9, 1] = high
    np.save(tmp_path / "wide.npy", X)
    for dtype in ("float32", "float64"):
        result = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'wide.npy'}", "--model",
                        "mlp-ae", "--steps", "5", "--reporter", "metrics-table", "--dtype", dtype, "--out",
                        str(tmp_path / dtype))  # fmt: skip
        assert result.exit_code == 1, result.output
        assert result.output.count("Error:") == 1
        assert f"column 1 (counting from 0) of the data of dataset 'file' ({tmp_path / 'wide.npy'}) varies by" in (
            result.output
        )
        assert message in result.output
        assert "rescale the data" in result.output
        assert not (tmp_path / dtype).exists()


def test_a_method_that_cannot_map_new_rows_holds_none_out_by_default(tmp_path):
    path = labelled_csv(tmp_path / "d.csv", ["a", "b", "c", "d", "species"], rows=600)
    result = run_labelled(path, "--model", "tsne", "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n_samples"] == 600
    assert not any(key.startswith("holdout.") for key in metrics)
    # compared with models that map new rows, it trains on the same rows as they do and has no held-out figures
    compared = dimred.compare("file", ["pca", "tsne"], settings={"dataset.path": str(path),
                              "dataset.label_column": "species"}, out=None)  # fmt: skip
    pca, tsne = (compared.runs[model][0].metrics for model in ("pca", "tsne"))
    assert pca["n_samples"] == tsne["n_samples"] == 540
    assert pca["holdout.rows"] == tsne["holdout.rows"] == 60
    assert tsne["holdout.transform"] is None
    assert pca["holdout.knn_accuracy"] > 0.5


def test_compare_takes_holdout_and_steps_and_colours_by_label(tmp_path):
    path = labelled_csv(tmp_path / "d.csv", ["a", "b", "c", "d", "species"])
    result = invoke("compare", "--dataset", "file", "--set", f"dataset.path={path}", "--set",
                    "dataset.label_column=species", "--model", "pca", "--model", "mlp-ae", "--holdout", "0.25",
                    "--steps", "7", "--out", str(tmp_path / "cmp"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "held-out kNN accuracy" in result.output
    assert "| held-out transform s |" in result.output  # new rows: not a transform's cache of its training rows
    assert "Warning" not in result.output
    runs = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert "mlp-ae" in json.dumps(runs)
    assert (tmp_path / "cmp" / "embeddings.png").stat().st_size > 0


def legend_of(axes):
    """The legend scatter_points gave the axes (the figure's, beside 3-D axes under constrained layout), or None."""
    return axes.get_legend() or (axes.get_figure().legends[0] if axes.get_figure().legends else None)


def test_points_are_coloured_by_label_with_a_legend_or_by_value_with_a_colour_bar():
    points = np.random.default_rng(0).random((40, 2))
    figure = Figure()
    axes = scatter_points(figure, 111, points, "labelled", labels=np.repeat(["a", "b"], 20))
    assert [text.get_text() for text in legend_of(axes).get_texts()] == ["a", "b"]
    figure = Figure()
    scatter_points(figure, 111, points, "measured", color=points[:, 0])
    assert len(figure.axes) == 2  # the points and their colour bar
    figure = Figure()
    axes = scatter_points(figure, 111, points, "many", labels=np.arange(40))
    assert legend_of(axes) is None
    assert axes.get_title() == "many (40 classes)"


def test_classes_named_by_numbers_are_listed_by_value_as_the_explorers_legend_lists_them():
    """Cluster numbers read as text (leiden's "0".."13") were listed 0, 1, 10, 11, 2, ..."""
    points = np.random.default_rng(0).random((70, 2))
    names = np.repeat([str(number) for number in (10, 2, 0, 1, 11, 3, 12)], 10)
    axes = scatter_points(Figure(), 111, points, "clusters", labels=np.append(names[:-1], "unassigned"))
    assert [text.get_text() for text in legend_of(axes).get_texts()] == [
        "0", "1", "2", "3", "10", "11", "12", "unassigned"]  # fmt: skip


def test_class_names_are_shown_as_written_and_a_chosen_colour_column_colours_the_points(tmp_path):
    points = np.random.default_rng(0).random((60, 2))
    figure = Figure()
    names = np.repeat(["_unassigned", "CD4$^$", "NK"], 20)
    axes = scatter_points(figure, 111, points, "cells", labels=names)
    assert [text.get_text() for text in legend_of(axes).get_texts()] == ["_unassigned", "CD4\\$^\\$", "NK"]
    figure.savefig(tmp_path / "cells.png")  # drawn: '$^$' is not read as a formula
    figure = Figure()
    axes = scatter_points(figure, 111, points, "scored", color=points[:, 0], labels=names)
    assert legend_of(axes) is None
    assert len(figure.axes) == 2
    figure = Figure()
    digits = np.repeat([0, 1, 2], 20)
    axes = scatter_points(figure, 111, points, "digits", color=digits.astype(float), labels=digits)
    assert [text.get_text() for text in legend_of(axes).get_texts()] == ["0", "1", "2"]  # colours that are labels


def test_a_colour_bar_names_what_the_colours_are(tmp_path):
    """The colour bars had no label: nothing said the swiss roll's colours are the position along it, or that a
    file's are the column the user chose."""
    from dimred.plugin import RunRecord
    from dimred.plugins.file import DataFile
    from dimred.plugins.plots import CodesPlot

    rng = np.random.default_rng(0)
    (tmp_path / "t.csv").write_text(
        "a,b,temperature_C\n" + "\n".join(f"{x},{y},{z}" for x, y, z in rng.random((30, 3)))
    )
    for spec, name in (("temperature_C", "temperature_C"), ("2", "column 2")):
        data = DataFile(DataFile.Options(path=str(tmp_path / "t.csv"), color_column=spec)).load(0)
        assert data.color_name == name
        assert data.rows(np.arange(10)).color_name == name  # kept by the held-out split
        figure = CodesPlot().draw(RunRecord("file", "m", data, data.X, data.X, None, [], {}, None))
        assert figure.axes[-1].get_ylabel() == name  # the colour bar's
    (tmp_path / "p$^$.csv").write_text("a,b,$x^$\n" + "\n".join(f"{x},{y},{z}" for x, y, z in rng.random((30, 3))))
    settings = {"dataset.path": str(tmp_path / "p$^$.csv"), "dataset.color_column": "$x^$"}
    odd = dimred.run("file", "pca", settings=settings, out=tmp_path / "odd", holdout=0)
    assert not odd.failures  # dollar signs in a colour column's or a file's name drawn as written, not as a formula
    roll = dimred.run("swissroll", "pca", settings={"dataset.n_samples": 300}, out=None, reporters=[])
    assert roll.data.color_name == "position along the roll"


@pytest.mark.parametrize("columns", [2, 3])
def test_colour_values_that_are_not_finite_are_drawn_grey_not_left_out(columns):
    """Matplotlib leaves out points whose colour value is NaN or infinite (a 3-D scatter whatever it is asked);
    the explorer shows them grey."""
    from matplotlib.colors import to_rgba

    points = np.random.default_rng(0).random((40, columns))
    color = points[:, 0].copy()
    color[[3, 7]] = [np.nan, np.inf]
    figure = Figure()
    axes = scatter_points(figure, 111, points, "some", color=color)
    figure.draw_without_rendering()  # the colours are mapped when drawn
    scaled, grey = axes.collections
    assert len(scaled.get_offsets()) == 38
    assert len(grey.get_offsets()) == 2
    assert {tuple(colour[:3]) for colour in grey.get_facecolors()} == {to_rgba("lightgrey")[:3]}  # 3-D shades alpha
    figure = Figure()
    axes = scatter_points(figure, 111, points, "none", color=np.full(40, np.nan))
    assert len(figure.axes) == 1  # no colour scale of nothing
    assert len(axes.collections[0].get_offsets()) == 40


@pytest.mark.parametrize("columns", [2, 3])
def test_a_legend_of_many_long_names_stands_beside_the_points_and_widens_the_figure(columns):
    points = np.random.default_rng(0).random((250, columns))
    names = np.array([f"cell type number {number} with a long name" for number in range(25)]).repeat(10)
    figure = Figure(figsize=(6, 5), layout="constrained")
    axes = scatter_points(figure, 111, points, "cells", labels=names)
    assert figure.get_figwidth() > 6  # widened for the legend
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    legend, plotted = legend_of(axes).get_window_extent(renderer), axes.get_window_extent(renderer)
    assert legend.x0 >= plotted.x1  # beside the points, not over them
    assert legend.x1 <= figure.bbox.x1  # on the figure
    assert plotted.width > figure.bbox.width / 3
    assert all(len(text.get_text()) <= 30 for text in legend_of(axes).get_texts())


@pytest.mark.parametrize("layout", ["constrained", None])
def test_panels_each_with_a_legend_keep_them_apart_with_or_without_constrained_layout(layout):
    points = np.random.default_rng(0).random((80, 2))
    figure = Figure(figsize=(8, 4), layout=layout)
    left = scatter_points(figure, 121, points, "a", labels=np.repeat(["a", "b", "c", "d"], 20))
    right = scatter_points(figure, 122, points, "w", labels=np.repeat(["w", "x", "y", "z"], 20))
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    for axes, names in ((left, ["a", "b", "c", "d"]), (right, ["w", "x", "y", "z"])):
        assert [text.get_text() for text in axes.get_legend().get_texts()] == names
        assert axes.get_legend().get_window_extent(renderer).x0 >= axes.get_window_extent(renderer).x1


def test_a_reconstruction_is_drawn_on_the_originals_scale_with_one_legend():
    from dimred.plugin import Data, RunRecord
    from dimred.plugins.plots import ReconstructionPlot

    X = np.random.default_rng(0).random((60, 3))
    shrunk = 0.5 + 0.01 * X  # a poor reconstruction: nearly one point
    record = RunRecord("d", "m", Data(X, labels=np.arange(60) % 3), X, X[:, :2], shrunk, [], {"rmse": 0.3}, None)
    figure = ReconstructionPlot().draw(record)
    original, rebuilt = figure.axes
    assert len(figure.legends) == 1
    for axis in "xyz":
        assert getattr(original, f"get_{axis}lim")() == getattr(rebuilt, f"get_{axis}lim")()


def test_a_loss_curve_of_a_loss_reaching_zero_or_below_is_drawn_on_a_linear_scale():
    from dimred.plugin import Data, RunRecord
    from dimred.plugins.plots import LossCurve

    X = np.zeros((5, 2))
    for losses, scale in (([3.0, 1.0, 0.5], "log"), ([3.0, 0.0, -1.0], "linear")):
        history = [{"step": step, "loss": loss} for step, loss in enumerate(losses, start=1)]
        axes = LossCurve().draw(RunRecord("d", "m", Data(X), X, X, None, history, {}, None)).axes[0]
        assert axes.get_yscale() == scale
        assert list(axes.lines[0].get_ydata()) == losses


def test_a_class_keeps_its_colour_when_the_plotted_rows_miss_a_class():
    """codes.png draws a sample of max_points rows; a rare class outside it must not shift the others' colours
    (the explorer and compare's figure colour by every class)."""
    from dimred.plugin import Data, RunRecord, shown_rows
    from dimred.plugins.plots import CodesPlot

    points = np.random.default_rng(0).random((30, 2))
    labels = np.array([1, 2, 3] * 10)
    labels[np.setdiff1d(np.arange(30), shown_rows(30, 20))[0]] = 0  # one row of class 0, not drawn
    record = RunRecord("d", "m", Data(points, labels=labels), points, points, None, [], {}, None)
    sampled = CodesPlot(CodesPlot.Options(max_points=20)).draw(record).axes[0]
    every = scatter_points(Figure(), 111, points, "all", labels=labels)

    def colours(axes):
        return {text.get_text(): tuple(handle.get_facecolor()[0])
                for text, handle in zip(legend_of(axes).get_texts(), axes.collections, strict=True)}  # fmt: skip

    assert colours(sampled) == colours(every)


def test_plot_titles_say_which_columns_and_components_a_figure_shows():
    from dimred.plugin import Data, HeldOut, RunRecord
    from dimred.plugins.plots import CodesPlot, InputPlot

    X = np.random.default_rng(0).random((30, 5))
    record = RunRecord("d", "m", Data(X), X, X[:, :3], None, [], {}, None)
    codes = CodesPlot().draw(record).axes[0]
    assert codes.get_title() == "m: codes of d (components 1 and 2 of 3)"
    assert (codes.get_xlabel(), codes.get_ylabel()) == ("code 1", "code 2")
    assert InputPlot().draw(record).axes[0].get_title() == "d: input (columns 1 to 3 of 5)"
    held = RunRecord("d", "m", Data(X[:20]), X[:20], X[:20, :2], None, [], {}, None,
                     held_out=HeldOut(Data(X[20:]), X[20:, :2]))  # fmt: skip
    both = CodesPlot().draw(held)
    assert both.get_suptitle() == "m: codes of d"
    assert [axes.get_title() for axes in both.axes] == ["training rows (20)",
                                                        "held-out rows (10), mapped by the trained model"]  # fmt: skip
    sampled = CodesPlot(CodesPlot.Options(max_points=8)).draw(held)  # the panels had said 20 and drawn 8
    assert [axes.get_title() for axes in sampled.axes] == [
        "training rows (8 of 20 drawn)",
        "held-out rows (8 of 10 drawn), mapped by the trained model",
    ]
    assert CodesPlot(CodesPlot.Options(max_points=8)).draw(record).axes[0].get_title() == (
        "m: codes of d (components 1 and 2 of 3) (8 of 30 rows drawn)"
    )
    assert "(8 of 30 rows drawn)" in InputPlot(InputPlot.Options(max_points=8)).draw(record).axes[0].get_title()
    from_file = RunRecord("file", "m", Data(X), X, X[:, :2], None, [], {}, None,
                          config={"dataset": {"name": "file", "options": {"path": "/data/cells.csv"}}})  # fmt: skip
    assert CodesPlot().draw(from_file).axes[0].get_title() == "m: codes of file (cells.csv)"  # not "of file"
    line = RunRecord("d", "m", Data(X), X, X[:, :1], None, [], {}, None)
    [axes] = CodesPlot().draw(line).axes
    assert axes.get_title() == "m: codes of d (one component, along a line)"
    assert list(axes.get_yticks()) == []  # a y axis would scale nothing


def test_compare_takes_options_for_the_explorer_it_writes_by_default(tmp_path):
    pytest.importorskip("bokeh")
    from dimred.plugins import explorer

    result = invoke("compare", "--dataset", "digits", "--model", "pca", "--set", "reporter.explorer.max_points=7",
                    "--out", str(tmp_path / "cmp"))  # fmt: skip
    assert result.exit_code == 0, result.output
    image = explorer._png(np.zeros((8, 8), np.uint8))[:50]  # the start of every 8 x 8 digit's hover image
    assert (tmp_path / "cmp" / "explorer.html").read_text().count(image) == 7


@pytest.mark.parametrize("gap", ["-nan", "+NaN", "<NA>", "#N/A"])
def test_labels_that_mark_a_gap_in_any_form_are_missing_not_a_class(tmp_path, gap):
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n" + "".join(f"{i},{i * i % 7},{'x' if i % 2 else 'y'}\n" for i in range(20))
                    + f"3,4,{gap}\n")  # fmt: skip
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={path}", "--set", "dataset.label_column=label",
                    "--model", "pca", "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code != 0
    assert f"the label of data row 21 is missing ('{gap}')" in result.output


def test_the_same_run_twice_writes_the_same_model_file(tmp_path):
    digests = []
    for name in ("first", "second"):
        result = invoke("run", "--dataset", "swissroll", "--model", "mlp-ae", "--steps", "5", "--reporter",
                        "metrics-table", "--out", str(tmp_path / name))  # fmt: skip
        assert result.exit_code == 0, result.output
        digests.append(hashlib.sha256((tmp_path / name / "model.safetensors").read_bytes()).hexdigest())
    assert digests[0] == digests[1]


@pytest.mark.parametrize("header", [range(10), range(1, 11)])
def test_a_csv_with_numbered_columns_reads_its_header_as_names(tmp_path, header):
    """pandas numbers unnamed columns from 0, other tools from 1; values 0-16 (digits' pixels) lie around both."""
    X = np.random.default_rng(0).integers(0, 17, (20, 10))
    lines = [",".join(map(str, header))] + [",".join(map(str, row)) for row in X]
    (tmp_path / "numbered.csv").write_text("\n".join(lines) + "\n")
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'numbered.csv'}", "--model",
                    "pca", "--reporter", "metrics-table", "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n_samples"] == 20
    # a headerless file of whole numbers may begin 1, 2, 3, ... too: that reading is said
    assert ("1 to 10, is read as the columns' numbers" in result.output) == (header[0] == 1)


def test_pca_fits_with_any_seed_a_run_accepts():
    X = np.random.default_rng(0).random((30, 5))
    for seed in (None, 2**32 - 1):  # scikit-learn takes seeds below 2**32, as runs do
        assert dimred.Reducer(model="pca", random_state=seed).fit_transform(X).shape == (30, 2)


def test_codes_that_encode_wrote_decode_with_a_model_of_named_columns(tmp_path):
    trained = labelled_csv(tmp_path / "train.csv", ["a", "b", "c", "d", "species"])
    assert run_labelled(trained, "--model", "mlp-ae", "--steps", "5", "--reporter", "metrics-table", "--out",
                        str(tmp_path / "run")).exit_code == 0  # fmt: skip
    assert invoke("encode", str(tmp_path / "run"), str(trained), "-o", str(tmp_path / "codes.csv")).exit_code == 0
    assert (tmp_path / "codes.csv").read_text().startswith("code_0,code_1\n")
    decoded = invoke("decode", str(tmp_path / "run"), str(tmp_path / "codes.csv"), "-o", str(tmp_path / "back.csv"))
    assert decoded.exit_code == 0, decoded.output
    assert (tmp_path / "back.csv").read_text().startswith("a,b,c,d\n")

    lacking = labelled_csv(tmp_path / "lacking.csv", ["a", "b", "d", "species"])
    result = invoke("encode", str(tmp_path / "run"), str(lacking), "-o", str(tmp_path / "lacking_codes.csv"))
    assert result.exit_code == 1
    assert "lacks 1 of the 4 columns the model was trained on (first: c)" in result.output


def test_column_names_holding_commas_and_quotes_are_quoted_in_a_decoded_csv_that_reads_back(tmp_path):
    import pandas as pd

    names = ["length, cm", 'weight "kg"', "c"]
    X = np.random.default_rng(0).random((120, 3))
    pd.DataFrame(X, columns=names).to_csv(tmp_path / "data.csv", index=False)
    trained = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'data.csv'}", "--model", "pca",
                     "--reporter", "metrics-table", "--out", str(tmp_path / "run"))  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert (
        invoke("encode", str(tmp_path / "run"), str(tmp_path / "data.csv"), "-o", str(tmp_path / "z.npy")).exit_code
        == 0
    )
    decoded = invoke("decode", str(tmp_path / "run"), str(tmp_path / "z.npy"), "-o", str(tmp_path / "back.csv"))
    assert decoded.exit_code == 0, decoded.output
    back = pd.read_csv(tmp_path / "back.csv")
    assert list(back.columns) == names
    np.testing.assert_allclose(
        back.to_numpy(), dimred.load(tmp_path / "run").inverse_transform(np.load(tmp_path / "z.npy"))
    )
    again = invoke("encode", str(tmp_path / "run"), str(tmp_path / "back.csv"), "-o", str(tmp_path / "z2.npy"))
    assert again.exit_code == 0, again.output  # dimred reads its own output back, by the names


def test_decode_reads_codes_by_the_names_encode_gave_them_in_any_order(tmp_path):
    """A codes file whose columns were reordered (or got a row number beside them) decodes as written; one that
    names other columns is read by position, as before."""
    trained = labelled_csv(tmp_path / "train.csv", ["a", "b", "c", "d", "species"])
    assert run_labelled(trained, "--model", "pca", "--reporter", "metrics-table", "--out",
                        str(tmp_path / "run")).exit_code == 0  # fmt: skip
    assert invoke("encode", str(tmp_path / "run"), str(trained), "-o", str(tmp_path / "codes.csv")).exit_code == 0
    codes = np.loadtxt(tmp_path / "codes.csv", delimiter=",", skiprows=1)
    rows = [f"{row},{second},{first}" for row, (first, second) in enumerate(codes)]
    (tmp_path / "swapped.csv").write_text("\n".join(["row,code_1,code_0", *rows]) + "\n")
    (tmp_path / "unnamed.csv").write_text("\n".join(["x,y", *(f"{a},{b}" for a, b in codes)]) + "\n")
    # as a pandas frame of set_output("pandas") is saved: the estimator's output names, here reordered
    (tmp_path / "estimator.csv").write_text("\n".join(["reducer1,reducer0", *(f"{b},{a}" for a, b in codes)]) + "\n")
    outputs = {}
    for name in ("codes", "swapped", "unnamed", "estimator"):
        result = invoke(
            "decode", str(tmp_path / "run"), str(tmp_path / f"{name}.csv"), "-o", str(tmp_path / f"{name}_back.csv")
        )
        assert result.exit_code == 0, result.output
        outputs[name] = (tmp_path / f"{name}_back.csv").read_text()
    assert outputs["swapped"] == outputs["codes"] == outputs["unnamed"] == outputs["estimator"]
    (tmp_path / "half.csv").write_text("\n".join(["code_1", *(str(b) for _a, b in codes)]) + "\n")
    result = invoke("decode", str(tmp_path / "run"), str(tmp_path / "half.csv"), "-o", str(tmp_path / "half_back.csv"))
    assert result.exit_code == 1
    assert "half.csv lacks 1 of the 2 codes the model gives (first: code_0)" in result.output
    assert not (tmp_path / "half_back.csv").exists()
    wider = ["code_0,code_1,code_2", *(f"{a},{b},0.5" for a, b in codes)]
    (tmp_path / "wider.csv").write_text("\n".join(wider) + "\n")
    result = invoke(
        "decode", str(tmp_path / "run"), str(tmp_path / "wider.csv"), "-o", str(tmp_path / "wider_back.csv")
    )
    assert result.exit_code == 1
    assert "wider.csv holds code_2, but the model gives 2 codes (code_0 to code_1): codes of another model?" in (
        result.output
    )
    assert not (tmp_path / "wider_back.csv").exists()


def test_a_pandas_csv_with_its_index_trains_encodes_and_decodes_with_its_row_names_as_pandas_reads(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.random((60, 3)), columns=["a", "b", "c"])
    frame.to_csv(tmp_path / "train.csv")  # pandas' default: the row index as an unnamed first column
    run = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'train.csv'}", "--model", "pca",
                 "--out", str(tmp_path / "run"))  # fmt: skip
    assert run.exit_code == 0, run.output
    model = dimred.load(tmp_path / "run")
    assert list(model.feature_names_in_) == ["a", "b", "c"]

    # names to quote, and one with a line separator that str.splitlines breaks at and csv does not
    frame.index = [
        f"cell {number}, {'ab'[number % 2]}" + "\u2028" * (number == 7) if number != 9 else "cell\nnine"
        for number in range(60)
    ]  # and one with a line break of its own, quoted in the output as in the input
    shuffled = frame.sample(frac=1, random_state=1)
    shuffled[["c", "a", "b"]].to_csv(tmp_path / "new.csv")  # another order, with the index
    # the rows' names go with their codes, batch by batch (they had been left out: the codes matched by order only)
    dimred.encode_file(tmp_path / "run", tmp_path / "new.csv", tmp_path / "codes.csv", batch_rows=7)
    codes = pd.read_csv(tmp_path / "codes.csv", index_col=0)
    assert list(codes.columns) == ["code_0", "code_1"]
    assert list(codes.index) == list(shuffled.index)
    np.testing.assert_allclose(codes.to_numpy(), model.transform(shuffled.to_numpy()), rtol=1e-6, atol=1e-6)

    assert invoke("decode", str(tmp_path / "run"), str(tmp_path / "codes.csv"), "-o", str(tmp_path / "rows.csv"),
                  ).exit_code == 0  # fmt: skip
    rows = pd.read_csv(tmp_path / "rows.csv", index_col=0)
    assert list(rows.columns) == ["a", "b", "c"]
    assert list(rows.index) == list(shuffled.index)
    assert invoke("decode", str(tmp_path / "run"), str(tmp_path / "codes.csv"), "-o", str(tmp_path / "rows.npy"),
                  ).exit_code == 0  # fmt: skip
    assert np.load(tmp_path / "rows.npy").shape == (60, 3)  # .npy holds the numbers alone


def test_decoded_rows_of_a_model_without_column_names_get_scikit_learns_names(tmp_path):
    np.save(tmp_path / "train.npy", np.random.default_rng(0).random((40, 3)))
    dimred.run(dataset="file", model="pca", settings={"dataset.path": str(tmp_path / "train.npy")},
               out=tmp_path / "run", reporters=[])  # fmt: skip
    assert invoke("encode", str(tmp_path / "run"), str(tmp_path / "train.npy"), "-o", str(tmp_path / "codes.csv"),
                  ).exit_code == 0  # fmt: skip
    assert (tmp_path / "codes.csv").read_text().splitlines()[0] == "code_0,code_1"
    assert invoke("decode", str(tmp_path / "run"), str(tmp_path / "codes.csv"), "-o", str(tmp_path / "rows.csv"),
                  ).exit_code == 0  # fmt: skip
    lines = (tmp_path / "rows.csv").read_text().splitlines()
    assert lines[0] == "x0,x1,x2"
    assert len(lines) == 41


def test_row_names_are_left_out_and_errors_count_the_files_columns(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('"","a","b"\n"r1",1,2\n"r2",3,4\n"r3",5,x\n')  # R's write.csv
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={path}", "--model", "pca",
                    "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 1
    assert result.output.count("Error:") == 1
    assert (
        "line 4, column 3: 'x' is not a number (a column of class names is set aside by training with --set "
        "dataset.label_column=NAME; a column of row names or ids goes first with an empty header (as pandas' to_csv "
        "writes it), or is left out with --set dataset.ignore_columns=NAME)" in result.output
    )
    path.write_text('"","a","b"\n' + "".join(f'"r{i}",{i},{2 * i % 7}\n' for i in range(30)))
    assert dimred.plugin.read_table(path).X.shape == (30, 2)


def test_a_path_object_names_the_file_and_unreadable_labels_or_colours_say_what_to_do(tmp_path):
    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "rows.csv", rng.random((50, 3)), delimiter=",")
    result = dimred.run(dataset="file", model="pca", settings={"dataset.path": tmp_path / "rows.csv"}, out=None)
    assert result.metrics["n_samples"] == 50  # a pathlib.Path, as dimred.load takes one
    np.savez(tmp_path / "cells.npz", X=rng.random((50, 3)), y=np.array(["a", "b"] * 25, dtype=object))
    with pytest.raises(dimred.DimredError, match=r"cannot be read .*; save labels as text or numbers, e\.g\. y=y\."):
        dimred.run(dataset="file", model="pca", settings={"dataset.path": str(tmp_path / "cells.npz")}, out=None)
    cells = "".join(f"{i},{i % 3},{'' if i == 4 else i}\n" for i in range(50))
    (tmp_path / "scored.csv").write_text(f"a,b,score\n{cells}")
    settings = {"dataset.path": str(tmp_path / "scored.csv"), "dataset.color_column": "score"}
    with pytest.raises(dimred.DimredError, match=r"dataset\.color_column has no value in data row 5; every row needs"):
        dimred.run(dataset="file", model="pca", settings=settings, out=None)


@pytest.mark.parametrize(
    ("text", "label_column", "said"),
    [
        (
            "a;b\n0,5;1,25\n0,75;2\n",
            "",
            "'0,5' is not a number (write decimals with a point: dimred reads numbers as 0.5",
        ),
        (
            "0,126;-0,132;1,5\n0,536;0,25;-1,25\n1,0;2,0;3,0\n",  # no header: the commas taken to split the values
            "",
            "'536;0' is not a number (write decimals with a point: dimred reads numbers as 0.5",
        ),
        (
            "a,id,species\n1,x1,cat\n2,x2,dog\n",
            "species",
            "'x1' is not a number (only the columns set aside (dataset.label_column",
        ),
        ("a,species,species\n1,cat,2\n2,dog,3\n", "species", "'species' names 2 columns of"),
    ],
)
def test_a_csv_that_cannot_be_read_says_why_in_its_own_terms(tmp_path, text, label_column, said):
    (tmp_path / "rows.csv").write_text(text)
    settings = {"dataset.path": str(tmp_path / "rows.csv")} | ({"dataset.label_column": label_column} if label_column
                                                                  else {})  # fmt: skip
    with pytest.raises(dimred.DimredError) as raised:
        dimred.run(dataset="file", model="pca", settings=settings, out=None)
    assert said in str(raised.value)
    assert "dataset.label_column=NAME" not in str(raised.value)


def test_a_column_float32_rounds_to_a_few_values_across_its_spread_is_warned_of_float64_is_not():
    """Rows are rounded to the model's dtype before the scaler centres them: 1e6 +- 0.4 keeps about 6 float32
    steps, so rows that differ less get the same code."""
    X = np.random.default_rng(0).random((200, 3))
    X[:, 1] += 1e6
    with pytest.warns(UserWarning, match=r"column 1 \(counting from 0\) varies by .* around 1e\+06: in float32"):
        dimred.Reducer(steps=2, random_state=0, device="cpu").fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dimred.Reducer(steps=2, random_state=0, device="cpu", dtype="float64").fit(X)
        X[:, 1] -= 1e6
        dimred.Reducer(steps=2, random_state=0, device="cpu").fit(X)


@pytest.mark.parametrize("scaler", ["minmax", "standard"])
def test_a_few_rows_far_out_that_squeeze_the_others_together_are_warned_of(scaler):
    """Three rows of 300 at a million times the others had left the others one code, with exit 0 and no word of
    why; data the scaling spreads (Gaussian, digits-like pixels, sparse counts) is not warned of."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    X[:3] *= 1e6
    with pytest.warns(UserWarning, match=rf"in 6 of the 6 columns whose rows vary, a few rows lie far outside the "
                                         rf"rest: scaled \({scaler}\) by a range they stretch, 90 % of the rows span "
                                         r"[0-9.e-]+ of column \d"):  # fmt: skip
        dimred.Reducer(steps=2, random_state=0, scaler=scaler).fit(X)
    counts = rng.poisson(0.3, size=(300, 50)).astype(float)
    counts[rng.random(counts.shape) < 0.002] = 500
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for spread in (X[3:], counts, rng.integers(0, 17, size=(300, 64)) * (rng.random((300, 64)) < 0.5)):
            dimred.Reducer(steps=2, random_state=0, scaler=scaler).fit(spread)


def test_a_column_float32_makes_one_value_is_warned_of_not_dropped_in_silence():
    X = np.random.default_rng(0).random((200, 3))
    X[:, 2] = 1e6 + 0.03 * X[:, 2]  # float32 steps of 0.0625 there: every value rounds to 1e6
    with pytest.warns(UserWarning, match=r"column 2 \(counting from 0\) varies by .* in float32 every value is the "
                                         "same number, so the model cannot see it"):  # fmt: skip
        dimred.Reducer(steps=2, random_state=0, device="cpu").fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dimred.Reducer(steps=2, random_state=0, device="cpu", dtype="float64").fit(X)


def test_rows_that_are_one_point_once_cast_to_float32_are_refused_as_one_point():
    """Every value of 1e-300 * rows is 0 in float32: the model would train on one point and give every row the
    same code."""
    X = np.random.default_rng(0).random((200, 3))
    with pytest.raises(dimred.DataError, match=r"in float32 all 200 rows of the data are the same point"):
        dimred.Reducer(steps=2, random_state=0, device="cpu").fit(X * 1e-300)
    # denormal in float32: the scaling's factor overflows, and the refusal says how little the column varies
    with pytest.raises(dimred.DataError, match=r"column 0 \(counting from 0\) of the data varies by less than 2.9e-39"):
        dimred.Reducer(steps=2, random_state=0, device="cpu").fit(X * 1e-40)
    X[:2, 0] = -1e308, 1e308  # a spread beyond float64: the scaling's factor is 0
    with pytest.raises(
        dimred.DataError, match=r"column 0 \(counting from 0\) of the data varies by more than 1.8e\+308"
    ):
        dimred.Reducer(steps=2, random_state=0, device="cpu", dtype="float64").fit(X)


def test_whole_numbers_the_training_dtype_rounds_are_checked_as_rounded_floats_are(tmp_path):
    """int32 values from 2^24 on are rounded in float32, int64's from 2^53 in float64: 200 distinct int32 rows
    near 2^30 had trained as one point with exit 0, every figure 1.0 and one code for every row, as the cast was
    taken for exact whenever the integers were no wider than the floats. In float64 the advice offers no float64."""
    rng = np.random.default_rng(0)
    files = {"int32": 2**30 + rng.integers(0, 60, (200, 3)).astype(np.int32),
             "int16": rng.integers(0, 1000, (200, 3)).astype(np.int16),
             "int64": (2**62 + rng.integers(0, 1000, (200, 3))).astype(np.int64)}  # fmt: skip
    for name, rows in files.items():
        np.save(tmp_path / f"{name}.npy", rows)

    def fit(name: str, dtype: str = "float32") -> dimred.RunResult:
        return dimred.run("file", "mlp-ae", settings={"dataset.path": str(tmp_path / f"{name}.npy")}, steps=2,
                          dtype=dtype, out=None, reporters=[])  # fmt: skip

    with pytest.raises(dimred.DataError, match=r"in float32 all 200 rows of the data are the same point"):
        fit("int32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit("int16")  # exact in float32
        fit("int32", "float64")
    with pytest.warns(UserWarning, match=r"in float64 its values are rounded .* subtract a value near its offset "
                                         r"first$"):  # fmt: skip
        fit("int64", "float64")


def test_the_rounding_advice_offers_float64_only_where_a_model_file_could_then_hold_the_scaling():
    """float64 sees 1e-300 * rows, but a model file holds no scaling of a spread below 1e-30: the advice to train
    in float64 led to a second refusal."""
    X = np.random.default_rng(0).random((200, 3))
    with pytest.raises(dimred.DataError, match=r"scale it by a power of ten") as refused:
        dimred.Reducer(steps=2, random_state=0, device="cpu").fit(X * 1e-300)
    assert "float64" not in str(refused.value)
    with pytest.raises(dimred.DataError, match=r'train in float64 \(dtype="float64"'):  # unscaled: float64 holds it
        dimred.Reducer(steps=2, random_state=0, device="cpu", scaler="none").fit(X * 1e-300)
    X[:, 2] = 1e6 + 0.03 * X[:, 2]  # lost in float32, kept by float64: the advice names it, for Python and the CLI
    with pytest.warns(UserWarning, match=r'train in float64 \(dtype="float64", --dtype float64\)'):
        dimred.Reducer(steps=2, random_state=0, device="cpu").fit(X)


def test_a_constant_column_too_far_from_zero_is_named_as_constant_not_as_varying():
    X = np.random.default_rng(0).random((100, 3))
    X[:, 0] = 1e35
    with pytest.raises(dimred.DataError, match=r"column 0 \(counting from 0\) of the data is 1e\+35 in every row"):
        dimred.Reducer(steps=2, random_state=0, device="cpu").fit(X)


@pytest.mark.parametrize("chunks", [1, 7])
def test_standard_scaling_keeps_the_spread_of_a_column_far_from_zero_in_chunks_or_at_once(chunks):
    """A sum of squares less n times the squared mean gave 1e6 +- 0.001 a spread of 1.0 (the column was lost)."""
    import torch

    from dimred._engine.scaling import Scaler

    rng = np.random.default_rng(0)
    X = np.stack([1e6 + rng.normal(0, 0.001, 20_000), rng.normal(0, 1, 20_000), 1e8 + rng.normal(0, 0.01, 20_000)], 1)
    scaler = Scaler.fit_chunks("standard", torch.from_numpy(X).tensor_split(chunks))
    np.testing.assert_allclose(1 / scaler.factor.numpy(), X.std(axis=0, ddof=1), rtol=1e-6)
    np.testing.assert_allclose(scaler.offset.numpy(), X.mean(axis=0), rtol=1e-12)


def test_a_constant_column_far_from_zero_is_not_warned_of_as_rounded():
    X = np.random.default_rng(0).random((50, 2))
    X[:, 0] = 2024.0  # a year, the same in every row: it maps to 0 and has nothing float32 could round away
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dimred.Reducer(steps=2, random_state=0, device="cpu").fit(X)


def test_a_csv_header_wider_than_the_sniffed_sample_is_read_whole(tmp_path):
    """8 000 named columns (a gene-expression table): the header had been cut at 64 KiB, 6 554 names."""
    X = np.random.default_rng(0).normal(size=(5, 8000))
    lines = [",".join(f"GENE{column:05d}" for column in range(8000))]
    lines += [",".join(f"{value:.4f}" for value in row) for row in X]
    (tmp_path / "wide.csv").write_text("\n".join(lines) + "\n")
    table = dimred.plugin.read_table(tmp_path / "wide.csv")
    assert table.X.shape == (5, 8000)
    assert table.names[-1] == "GENE07999"
    np.testing.assert_allclose(table.X, X, atol=5e-5)


@pytest.mark.parametrize(
    ("content", "names"),
    [("a  b  c\n0.1  0.2  0.3\n1.5  -2.0  3.25\n4  5  6\n", ("a", "b", "c")),
     ("    0.1000    0.2000    0.3000\n    1.5000   -2.0000    3.2500\n    4.0000    5.0000    6.0000\n", None),
     ("0.1000    0.2000    0.3000    \n1.5000    -2.0000   3.2500    \n4.0000    5.0000    6.0000    \n", None),
     (" a b c\n0 0.1 0.2 0.3\n1 1.5 -2.0 3.25\n2 4 5 6\n", ("a", "b", "c")),
     ("a b c \n0.1 0.2 0.3 \n1.5 -2.0 3.25 \n4 5 6 \n", ("a", "b", "c"))],
    ids=["spaces with a header", "right-aligned columns", "left-aligned columns", "pandas' index column",
         "trailing spaces"],
)  # fmt: skip
def test_columns_delimited_by_runs_of_spaces_are_read_as_their_header_and_rows_are(tmp_path, content, names):
    (tmp_path / "d.txt").write_text(content)
    table = dimred.plugin.read_table(tmp_path / "d.txt")
    assert table.names == names
    np.testing.assert_array_equal(table.X, [[0.1, 0.2, 0.3], [1.5, -2.0, 3.25], [4, 5, 6]])


@pytest.mark.parametrize(
    ("write", "names"),
    [(lambda path, X: np.savetxt(path, X, header="a b c"), ("a", "b", "c")),
     (lambda path, X: np.savetxt(path, X, delimiter=",", header="a,b,c"), ("a", "b", "c")),
     (lambda path, X: np.savetxt(path, X, delimiter=",", header="exported by a tool\nunits: mm"), None),
     (lambda path, X: path.write_text("a,b,c,\n" + "".join(",".join(map(repr, row)) + ",\n" for row in X.tolist())),
      ("a", "b", "c")),
     (lambda path, X: path.write_text("a,b,c,,\n" + "".join(",".join(map(repr, row)) + ",,\n" for row in X.tolist())),
      ("a", "b", "c"))],
    ids=["savetxt's header", "with commas", "comment lines", "a delimiter ending every line", "two, as spreadsheets"],
)  # fmt: skip
def test_comment_lines_and_a_trailing_delimiter_are_read_as_numpy_reads_them(tmp_path, write, names):
    """numpy.savetxt's '# a b c' header had been read as data ('... is not a number'), and a delimiter ending
    every line as an empty fourth column; encode had said the file 'has 1 columns'."""
    X = np.random.default_rng(0).normal(size=(40, 3))
    write(tmp_path / "rows.csv", X)
    table = dimred.plugin.read_table(tmp_path / "rows.csv")
    assert table.names == names
    np.testing.assert_allclose(table.X, X)
    assert datafiles.count_rows(tmp_path / "rows.csv") == 40


def _r_table(separator: str, quoted: bool):
    """A file as R's write.table writes a data frame with row names: a header a cell shorter than the rows."""

    def write(path, X):
        name = (lambda text: f'"{text}"') if quoted else str
        rows = [separator.join([name(f"cell{row}"), *map(repr, values)]) for row, values in enumerate(X.tolist())]
        path.write_text("\n".join([separator.join(map(name, "abc")), *rows]) + "\n")

    return write


@pytest.mark.parametrize(
    ("write", "names"),
    [(lambda path, X: np.savetxt(path, X, fmt="% .5f"), None),
     (lambda path, X: np.savetxt(path, X, fmt="% .5f", header="a b c", comments=""), ("a", "b", "c")),
     (lambda path, X: path.write_text(pd.DataFrame(X, columns=list("abc")).to_string(index=False) + "\n"),
      ("a", "b", "c")),
     (lambda path, X: path.write_text(pd.DataFrame(X, columns=list("abc")).to_string() + "\n"), ("a", "b", "c")),
     (_r_table("\t", quoted=False), ("a", "b", "c")),
     (_r_table(" ", quoted=True), ("a", "b", "c")),
     (_r_table(",", quoted=True), ("a", "b", "c"))],
    ids=["numpy's sign padding", "with a header", "pandas' to_string", "pandas' to_string with its index",
         "R's write.table, tabs", "R's default", "R's, commas"],
)  # fmt: skip
def test_aligned_columns_and_r_tables_are_read_as_pandas_reads_them(tmp_path, write, names):
    """Columns aligned by spaces where some lines start with one and others with a minus sign had been read with
    an empty first cell ('5 values, but the rows before have 4'); a header one cell shorter than its rows (R's
    row names) had been refused, or read as one column of text."""
    X = np.round(np.random.default_rng(0).normal(size=(40, 3)), 5)
    write(tmp_path / "rows.txt", X)
    table = dimred.plugin.read_table(tmp_path / "rows.txt")
    assert table.names == names
    np.testing.assert_allclose(table.X, X, atol=1e-5)
    assert datafiles.count_rows(tmp_path / "rows.txt") == 40


def _frame(columns=None, index=None) -> pd.DataFrame:
    return pd.DataFrame(np.random.default_rng(1).normal(size=(30, 5)).round(6), columns=columns, index=index)


ALL_FIVE = [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("write", "names", "columns", "warning"),
    [(lambda path: _frame().drop(columns=[2]).to_csv(path, index=False), ("0", "1", "3", "4"), [0, 1, 3, 4],
      "0 1 3 4, is read as"),
     (lambda path: _frame().iloc[:, 1:].to_csv(path, index=False), ("1", "2", "3", "4"), [1, 2, 3, 4],
      "1 2 3 4, is read as"),
     (lambda path: (_frame(list("vwxyz")).to_csv(path), pd.read_csv(path).to_csv(path)), tuple("vwxyz"), ALL_FIVE,
      None),
     (lambda path: _frame(list("vwxyz"), pd.MultiIndex.from_product([range(6), range(5)])).to_csv(path),
      tuple("vwxyz"), ALL_FIVE, None),
     (lambda path: np.savetxt(path, _frame().to_numpy(), header="simulation"), None, ALL_FIVE, None),
     (lambda path: np.savetxt(path, _frame().to_numpy(), delimiter="\t", header="simulation run 7"), None, ALL_FIVE,
      None),
     (lambda path: _frame(list("vwxyz")).assign(notes="x" * 200_000).to_csv(path, index=False), tuple("vwxyz"),
      ALL_FIVE, None)],
    ids=["pandas' columns after a drop", "after iloc", "read and written again", "a two-level index",
         "savetxt's free-text header", "with tabs", "a long text cell"],
)  # fmt: skip
def test_pandas_and_numpy_files_read_as_their_rows_and_columns(tmp_path, write, names, columns, warning):
    """Column numbers other than 0, 1, 2... had been read as a row of data, an index read and written again (a
    second column 'Unnamed: 0') or of two levels had kept a column of row numbers as a feature, all with exit 0;
    a '#' comment of free text over rows split by spaces had been read as a one-column header and refused; a
    cell over 128 KiB, in a column left out, had failed the file without naming it."""
    path = tmp_path / "rows.csv"
    write(path)
    notes = "notes" in path.read_text()[:200]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = dimred.plugin.read_table(path, {"dataset.ignore_columns": "notes"} if notes else {})
    np.testing.assert_allclose(table.X, _frame().to_numpy()[:, columns], atol=1e-6)
    assert table.names == names
    said = [str(caught_warning.message) for caught_warning in caught]
    assert any(warning in message for message in said) if warning else not said


@pytest.mark.parametrize(("first", "message"), [
    ("-0.5,1.2,,0.3", r"line 1, column 3 is empty \(a missing value"),
    ("-0.5,NA,1.1,0.3", r"line 1, column 2: 'NA' is a missing value \(as R and pandas write one\)"),
])  # fmt: skip
def test_a_gap_in_a_headerless_files_first_row_is_a_gap_not_a_header(tmp_path, first, message):
    """A gap in the first row of a headerless file had made the row a header: the file's rows trained on less
    that one, and its codes written beside the next row's (exit 0)."""
    rows = np.random.default_rng(0).normal(size=(20, 4)).round(3)
    (tmp_path / "d.csv").write_text("\n".join([first, *(",".join(map(str, row)) for row in rows)]) + "\n")
    with pytest.raises(dimred.DataError, match=message):
        dimred.plugin.read_table(tmp_path / "d.csv")


def test_one_column_of_decimal_commas_is_refused_not_read_as_row_names(tmp_path):
    """'Wert' over '-0,803' had been read as R's row names (a header a cell shorter than its rows): 803 for -0.803."""
    pd.DataFrame({"Wert": [-0.803, 1.5, 2.25, 0.125]}).to_csv(tmp_path / "eu.csv", sep=";", decimal=",", index=False)
    with pytest.raises(dimred.DataError, match="line 2: 2 values, but the rows before have 1"):
        dimred.plugin.read_table(tmp_path / "eu.csv")


@pytest.mark.parametrize("label", ["the 'big' one", 'a "b" c', "it's"])
def test_quotes_and_spaces_in_a_label_leave_a_comma_separated_file_comma_separated(tmp_path, label):
    """csv's sniffer had taken a space for the delimiter of pandas' file whose label was "the 'big' one" (the
    label column then 'not a column', listed among the choices)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    frame["kind"] = np.array([label, "plain"])[rng.integers(0, 2, 30)]
    frame.to_csv(tmp_path / "quoted.csv", index=False)
    table = dimred.plugin.read_table(tmp_path / "quoted.csv", {"dataset.label_column": "kind"})
    assert table.names == ("a", "b", "c")
    assert set(table.set_aside["dataset.label_column"]) == {label, "plain"}
    np.testing.assert_allclose(table.X, frame[["a", "b", "c"]].to_numpy())


@pytest.mark.parametrize("start", ["\n", "\n\n", "  \n", ",\n", " , \n"],
                         ids=["a blank line", "two", "spaces", "a comma", "commas and spaces"])  # fmt: skip
def test_blank_lines_before_a_header_leave_it_the_header(tmp_path, start):
    """The header had been taken for the first row of data where a blank line came before it."""
    (tmp_path / "d.csv").write_text(start + "a,b\n1,2\n3,4\n\n5,6\n")
    table = dimred.plugin.read_table(tmp_path / "d.csv")
    assert table.names == ("a", "b")
    np.testing.assert_array_equal(table.X, [[1, 2], [3, 4], [5, 6]])
    assert datafiles.count_rows(tmp_path / "d.csv") == 3  # what a streamed run counts


def test_a_first_line_of_delimiters_alone_is_blank_to_the_header_and_the_rows_alike(tmp_path):
    """The header was sniffed from ',,' while the rows skipped it: a row of data was taken for the header."""
    (tmp_path / "d.csv").write_text(",,\n1,2,3\n4,5,6\n")
    table = dimred.plugin.read_table(tmp_path / "d.csv")
    assert table.names is None
    np.testing.assert_array_equal(table.X, [[1, 2, 3], [4, 5, 6]])


def test_a_column_given_by_index_in_a_file_with_pandas_index_says_which_column_it_is(tmp_path):
    """The index column is left out before columns are counted, so 0 named the first feature: without a word."""
    import pandas as pd

    frame = pd.DataFrame(np.random.default_rng(0).random((40, 3)), columns=["a", "b", "c"])
    frame.to_csv(tmp_path / "indexed.csv")  # header ",a,b,c": the rows' names first
    with pytest.warns(UserWarning, match=r"counts the columns after it: dataset.ignore_columns '0' is 'a'"):
        table = dimred.plugin.read_table(tmp_path / "indexed.csv", ignored={"dataset.ignore_columns": ["0"]})
    assert table.names == ("b", "c")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dimred.plugin.read_table(tmp_path / "indexed.csv", ignored={"dataset.ignore_columns": ["a"]})


def test_a_header_of_numbers_alone_that_decode_wrote_is_read_back_as_the_header(tmp_path):
    """Features named by doses, trained beside a text label column: decode writes the header 0.5,1,2,4 with no text
    beside it, which encode and evaluate had read as a row of data (61 codes of 60 rows, exit 0)."""
    rng = np.random.default_rng(5)
    lines = ["0.5,1,2,4,group"] + [",".join(f"{value:.4f}" for value in rng.uniform(0, 5, 4)) + f",{label}"
                                   for label in rng.choice(["a", "b"], 60)]  # fmt: skip
    (tmp_path / "doses.csv").write_text("\n".join(lines) + "\n")
    settings = {"dataset.path": str(tmp_path / "doses.csv"), "dataset.label_column": "group"}
    dimred.run("file", "mlp-ae", settings=settings, steps=20, out=tmp_path / "run", reporters=[])
    assert dimred.encode_file(tmp_path / "run", tmp_path / "doses.csv", tmp_path / "codes.csv") == 60
    assert dimred.decode_file(tmp_path / "run", tmp_path / "codes.csv", tmp_path / "back.csv") == 60
    assert (tmp_path / "back.csv").read_text().splitlines()[0] == "0.5,1,2,4"
    assert dimred.encode_file(tmp_path / "run", tmp_path / "back.csv", tmp_path / "again.csv") == 60
    evaluated = dimred.evaluate(tmp_path / "run", "file", settings={"dataset.path": str(tmp_path / "back.csv")},
                                out=None, reporters=[])  # fmt: skip
    assert evaluated.metrics["n_samples"] == 60


def test_a_first_row_of_the_models_feature_names_in_another_order_is_data(tmp_path):
    """Features named 0, 1, 2 (a header of counts): a headerless row 2,0,1 had been taken for the header and the
    columns reordered by it (9 codes of 10 rows, exit 0)."""
    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "train.csv", rng.integers(0, 3, (60, 3)), fmt="%d", delimiter=",", header="0,1,2",
               comments="")  # fmt: skip
    new = rng.integers(0, 3, (10, 3))
    new[0] = [2, 0, 1]
    np.savetxt(tmp_path / "new.csv", new, fmt="%d", delimiter=",")
    dimred.run("file", "pca", settings={"dataset.path": str(tmp_path / "train.csv")}, out=tmp_path / "run",
               reporters=[])  # fmt: skip
    assert dimred.encode_file(tmp_path / "run", tmp_path / "new.csv", tmp_path / "codes.npy") == 10
    np.savetxt(tmp_path / "three.csv", [[2, 0, 1], [0, 1, 2], [1, 2, 0]], fmt="%d", delimiter=",")  # a Latin square
    with pytest.warns(UserWarning, match="holds the model's column names in another order, but too few rows follow"):
        assert dimred.encode_file(tmp_path / "run", tmp_path / "three.csv", tmp_path / "three.npy") == 3  # read as data
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"), dimred.load(tmp_path / "run").transform(new),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_the_models_numbered_feature_names_in_another_order_pick_the_columns_by_name(tmp_path):
    """Doses 0.5, 1, 2, 4 as the header of new rows in another order had been read as a row of data, and the
    columns taken by place (11 codes of 10 rows, the ten of swapped columns, exit 0)."""
    import pandas as pd

    frame = pd.DataFrame(1 + 0.1 * np.random.default_rng(2).normal(size=(60, 4)), columns=["0.5", "1", "2", "4"])
    frame.assign(sample=[f"s{row}" for row in range(60)]).to_csv(tmp_path / "doses.csv", index=False)  # a header
    frame[["4", "2", "1", "0.5"]].head(10).to_csv(tmp_path / "reordered.csv", index=False)
    settings = {"dataset.path": str(tmp_path / "doses.csv"), "dataset.ignore_columns": "sample"}
    dimred.run("file", "pca", settings=settings, out=tmp_path / "run", reporters=[], holdout=0)
    assert dimred.encode_file(tmp_path / "run", tmp_path / "reordered.csv", tmp_path / "codes.npy") == 10
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"), dimred.load(tmp_path / "run").transform(
        frame.head(10).to_numpy()), rtol=1e-6, atol=1e-9)  # fmt: skip


@pytest.mark.parametrize(("row", "message"), [
    (",,,", r"line 4: every value of the row is empty \(a row of missing values, as pandas writes a row of NaN\)"),
    ("2023_01,1,2,3", r"line 4, column 1: '2023_01' is not a number"),
    ("1_000,1,2,3", r"line 4, column 1: '1_000' is not a number"),
    ("\u0661,1,2,3", "line 4, column 1: '\u0661' is not a number"),
])  # fmt: skip
def test_a_row_of_empty_cells_and_numbers_python_alone_reads_are_refused_by_line(tmp_path, row, message):
    """A row of empty cells (pandas' row of NaN) had been skipped, so every row after it got the next row's codes;
    '2023_01' had been read as 202301 and an Arabic-Indic one as 1 (numpy reads them as Python's float does)."""
    (tmp_path / "d.csv").write_text(f"a,b,c,d\n1,2,3,4\n5,6,7,8\n{row}\n9,1,2,3\n")
    with pytest.raises(dimred.DimredError, match=message):
        dimred.plugin.read_table(tmp_path / "d.csv")
    # before the rows, blank, and after the last row (a spreadsheet's ',,,' lines, which shift no row): skipped,
    # the last said (pandas reads them as rows of NaN, so its row count is not dimred's)
    (tmp_path / "lead.csv").write_text(",,,\n\na,b,c,d\n1,2,3,4\n\n5,6,7,8\n,,,\n,,,\n")
    with pytest.warns(UserWarning, match=r"lead.csv: the rows of empty cells from line 7 on, after the last row of"):
        table = dimred.plugin.read_table(tmp_path / "lead.csv")
    np.testing.assert_array_equal(table.X, [[1, 2, 3, 4], [5, 6, 7, 8]])


def test_a_one_column_row_of_nan_is_refused_and_a_number_in_no_break_spaces_read():
    """pandas writes a one-column row of NaN as '""': it had been skipped as a blank line (every later row got
    the next one's codes); a web table's no-break space around a number is a space, as float() reads it."""
    import pandas as pd

    for values, line in (([1.0, 2.0, np.nan, 4.0], 4), ([1.0, 2.0, np.nan], 4)):  # among the rows, or the last
        pd.DataFrame({"x": values}).to_csv("one.csv", index=False)
        with pytest.raises(dimred.DimredError, match=rf"one.csv, line {line}: every value of the row is empty"):
            dimred.plugin.read_table("one.csv")
    Path("spaced.csv").write_text("a,b\n1.5\xa0,2\n   \n3,\xa04\n  \n", encoding="utf-8")  # lines of spaces: blank
    np.testing.assert_array_equal(dimred.plugin.read_table("spaced.csv").X, [[1.5, 2], [3, 4]])


def test_a_value_after_the_last_column_is_never_dropped_as_a_trailing_delimiters_cell(tmp_path):
    """Every sampled line ended in a delimiter, later lines in a value: that value had been dropped with the
    empty cells, and the model trained on two of three columns (exit 0)."""
    X = np.random.default_rng(1).normal(size=(300, 3)).round(3)
    lines = [f"{a},{b}," + (f"{c}" if row >= 250 else "") for row, (a, b, c) in enumerate(X)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(dimred.DimredError, match=r"t.csv, line 251: 3 values, but the rows before have 2"):
        dimred.plugin.read_table(tmp_path / "t.csv")


@pytest.mark.parametrize(("header", "names"), [("#id,x,y", ("#id", "x", "y")), ("#,x,y", ("#", "x", "y"))])
def test_a_header_name_that_starts_with_a_hash_is_kept_as_written(tmp_path, header, names):
    """Only numpy's '# ' begins a commented header: '#id' had become 'id', and '#' an empty name, read as a column
    of row names and left out."""
    (tmp_path / "d.csv").write_text(header + "\n" + "".join(f"{row},{row * 2},{row * 3}\n" for row in range(20)))
    assert dimred.plugin.read_table(tmp_path / "d.csv").names == names


def test_a_comment_block_longer_than_the_sampled_rows_is_not_the_whole_file(tmp_path):
    """250 '#' lines had filled the sample the layout is read from: 'empty but for comments'."""
    comments = "".join(f"# note {line}\n" for line in range(250))
    (tmp_path / "d.csv").write_text(comments + "1,2,3\n4,5,6\n")
    np.testing.assert_array_equal(dimred.plugin.read_table(tmp_path / "d.csv").X, [[1, 2, 3], [4, 5, 6]])


def test_the_first_value_a_float32_model_cannot_take_is_named_even_with_a_nan_after_it():
    """The range test looks at a chunk's least and greatest values first, which a NaN makes NaN: the 1e300 before
    it had gone unnamed, and the NaN been named instead."""
    from dimred._io.validation import check_matrix

    with pytest.raises(dimred.DataError, match=r"has 1e\+300 at row 0 \(counting from 0\), column 'a', beyond"):
        check_matrix(np.array([[1e300, 1.0], [np.nan, 2.0]]), computed_in="float32", column_names=("a", "b"))
    assert check_matrix(np.array([[3e38, 1]], dtype=np.float32), min_rows=1, computed_in="float32").dtype == np.float32


BAD_FILES = {
    "nan.csv": "a,b\n1,2\n3,nan\n4,5\n",
    "ragged.csv": "1,2\n3\n4,5\n",
    "text.csv": "1,2\n3,abc\n4,5\n",
    "empty.csv": "",
    "header.csv": "a,b\n",
    "flat.npy": np.arange(5.0),
    "garbage.npz": "not a zip\n",
    "two.npz": {"Y": np.ones((3, 2)), "Z": np.ones(3)},
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_a_bad_data_file_is_a_data_error_to_the_library_whatever_its_type(tmp_path, name):
    """A NaN in an .npy was a DataError (a ValueError, as scikit-learn expects), the same NaN in a CSV a plain
    DimredError: `except ValueError` caught one file type and missed the other."""
    path, content = tmp_path / name, BAD_FILES[name]
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    else:
        np.save(path, content)
    reducer = dimred.Reducer(model="pca").fit(np.random.default_rng(0).normal(size=(20, 2)))
    with pytest.raises(dimred.DataError, match=re.escape(name)):
        dimred.run("file", "pca", out=None, reporters=[], settings={"dataset.path": str(path)})
    with pytest.raises(ValueError, match=re.escape(name)):
        dimred.encode_file(reducer, path, tmp_path / "codes.npy")


LABEL_OVER_TWO_LINES = '"a\nb"'


def _ids_then_values(rows: int, seed: int) -> str:
    """A headerless file of sample ids and two measured values, its first row holding each column's largest."""
    X = np.random.default_rng(seed).normal(size=(rows, 2)).round(3)
    X[[0, X[:, 0].argmax()]] = X[[X[:, 0].argmax(), 0]]
    return "".join(f"s{row},{a},{b}\n" for row, (a, b) in enumerate(X.tolist()))


@pytest.mark.parametrize(
    ("content", "settings", "rows", "said"),
    [(_ids_then_values(20, 0), ["dataset.ignore_columns=0"], 20, None),
     ("sample," + "x,y\n" + _ids_then_values(20, 1), ["dataset.ignore_columns=sample"], 20, None),
     ("0,1\n1,0\n1,1\n0,0\n1,0\n0,1\n", [], 5, "its first row, 0 1, is read as the columns' numbers, not as data"),
     (",".join(str(400 + 10 * column) for column in range(31)) + "\n"
      + "".join(",".join(f"{value:.3f}" for value in row) + "\n"
                for row in np.random.default_rng(0).random((8, 31))),
      [], 9, "its first row is read as data, though its numbers all lie above their columns' values"),
     ("x,y\n0.5,1,2\n0.5,3,4\n0.1,5,6\n0.9,2,8\n0.3,7,1\n", [], None, "line 2: 3 values, but the rows before have 2"),
     ("x,y\n0.52,1,2\n0.31,3,4\n0.17,5,6\n0.93,2,8\n0.36,7,1\n", [], None, "line 2: 3 values, but the rows before"),
     ("x,y\n" + "".join(f"{i},{i % 3},{i * 7 % 25}\n" for i in range(25)), [], 25, None),
     ("x,y\n" + "".join(f"{i % 3},{i % 5},{i * 7 % 25}\n" for i in range(25)), [], None,
      "line 2: 3 values, but the rows before have 2 (the header names one column fewer: name every column, or"),
     ("x y\n" + "".join(f"{i % 3} {i % 5} {i * 7 % 25}\n" for i in range(25)), [], None,
      "line 2: 3 values, but the rows before have 2"),
     (" x y\n" + "".join(f"{i % 3} {i % 5} {i * 7 % 25}\n" for i in range(25)), [], 25, None),
     ("# exported by a tool, \"v1.2 beta\nx,y\n" + "".join(f"{i % 7},{i % 3}\n" for i in range(30)), [], 30, None),
     ('"mass\n(kg)",y,label\n' + "".join(f"{i % 7},{i % 3},{'c' if i % 2 else LABEL_OVER_TWO_LINES}\n"
                                            for i in range(30)), ["dataset.label_column=label"], 30, None)],
    ids=["ids, no header", "ids under a header", "0 1 over whole numbers", "wavelengths over 8 rows",
         "a header a name short over a column of data", "the same, values all different",
         "the same over whole numbers: row numbers", "the same over whole numbers that repeat",
         "the same, spaces delimiting", "pandas' index headed by nothing, spaces delimiting",
         "a comment holding a quote", "cells holding line breaks"],
)  # fmt: skip
def test_a_first_rows_reading_as_header_or_data_is_right_or_said(tmp_path, content, settings, rows, said):
    """Each of these had lost a row or a column with exit 0 and nothing said: a headerless file's first id (each
    id is met once, so the first looked like a column name), a first row 0,1 of binary data, a header of
    wavelengths over fewer than 10 rows (read as data, rightly in doubt, silently), and a first column of data
    taken for R's row names under a header a name short."""
    path = tmp_path / "data.csv"
    path.write_text(content)
    options = [part for setting in settings for part in ("--set", setting)]
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={path}", *options, "--model", "pca",
                    "--holdout", "0", "--reporter", "metrics-table", "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == (0 if rows else 1), result.output
    if said is None:
        assert "Warning" not in result.output, result.output
    else:
        assert said in result.output, result.output
    if rows:
        assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n_samples"] == rows


BINARY_ROWS = "0,1\n1,0\n1,1\n0,0\n1,0\n0,1\n"  # a first row the guess reads as the columns' numbers


def test_a_header_said_in_the_settings_is_read_as_said_by_run_encode_and_evaluate(tmp_path):
    """A first row the guess could only warn of (binary data beginning 0,1; numbers above every column's values
    over a few rows) is read as the user says: ``dataset.header``, which encode and evaluate read new files by
    unless told otherwise (``--header``/``--no-header``; ``dataset.header`` again)."""
    data = tmp_path / "binary.csv"
    data.write_text(BINARY_ROWS)
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={data}", "--set", "dataset.header=false",
                    "--model", "pca", "--holdout", "0", "--reporter", "metrics-table",
                    "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "first row" not in result.output, result.output
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n_samples"] == 6
    new = tmp_path / "new.csv"
    new.write_text(BINARY_ROWS[::-1].lstrip("\n") + "\n")  # 1,0 first, then the rows reversed: 6 rows
    for flags, rows in (([], 6), (["--no-header"], 6), (["--header"], 5)):
        encoded = invoke("encode", str(tmp_path / "run"), str(new), "-o", str(tmp_path / "codes.npy"), "--overwrite",
                         *flags)  # fmt: skip
        assert encoded.exit_code == 0, encoded.output
        assert np.load(tmp_path / "codes.npy").shape == (rows, 2), flags
    for settings, rows in (([], 6), (["--set", "dataset.header=true"], 5)):
        evaluated = invoke("evaluate", str(tmp_path / "run"), "--dataset", "file", "--set", f"dataset.path={data}",
                           *settings, "--out", str(tmp_path / "evaluated"), "--overwrite")  # fmt: skip
        assert evaluated.exit_code == 0, evaluated.output
        assert json.loads((tmp_path / "evaluated" / "metrics.json").read_text())["n_samples"] == rows
    np.save(tmp_path / "binary.npy", np.loadtxt(data, delimiter=","))  # arrays have no header to carry
    evaluated = invoke("evaluate", str(tmp_path / "run"), "--dataset", "file", "--set",
                       f"dataset.path={tmp_path / 'binary.npy'}", "--out", str(tmp_path / "npy"))  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output

    wavelengths = tmp_path / "spectra.csv"
    X = np.random.default_rng(0).random((8, 31)).round(3)
    wavelengths.write_text(",".join(str(400 + 10 * column) for column in range(31)) + "\n"
                           + "".join(",".join(map(str, row)) + "\n" for row in X.tolist()))  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = dimred.plugin.read_table(wavelengths, header=True)
    assert table.names == tuple(str(400 + 10 * column) for column in range(31))
    np.testing.assert_array_equal(table.X, X)


def test_an_error_met_reading_a_file_as_its_run_said_of_the_header_says_so_where_that_may_be_why(tmp_path):
    """A run's ``dataset.header`` is how encode and evaluate read new files: where a file is not laid out so (a
    header row read as data, a first row of data read as names), the error says the run's choice was applied and
    how to read it otherwise; an error elsewhere in the file (a bad cell further down) does not blame it."""
    X = np.random.default_rng(0).random((30, 3)).round(3)
    rows = "".join(",".join(map(str, row)) + "\n" for row in X.tolist())
    (tmp_path / "bare.csv").write_text(rows)
    (tmp_path / "named.csv").write_text("# exported by a tool\na,b,c\n" + rows)  # the header on line 2
    (tmp_path / "bad.csv").write_text("a,b,c\n" + rows.replace(str(X[3, 1]), "oops", 1))
    for header, file in (("false", "bare.csv"), ("true", "named.csv")):
        result = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / file}", "--set",
                        f"dataset.header={header}", "--model", "pca", "--reporter", "metrics-table",
                        "--out", str(tmp_path / header))  # fmt: skip
        assert result.exit_code == 0, result.output
    for header, file, wrong in (("false", "named.csv", "line 2, column 1: 'a' is not a number"),
                                ("true", "bare.csv", "lacks 3 of the 3 columns the model was trained on")):  # fmt: skip
        said = f"(read as the run said, dataset.header={header}: its first row "
        encoded = invoke("encode", str(tmp_path / header), str(tmp_path / file), "-o", str(tmp_path / "c.npy"))
        assert encoded.exit_code == 1, encoded.output
        assert wrong in encoded.output, encoded.output
        assert said in encoded.output, encoded.output
        assert "--header or --no-header reads it otherwise)" in encoded.output
        evaluated = invoke("evaluate", str(tmp_path / header), "--dataset", "file", "--set",
                           f"dataset.path={tmp_path / file}", "--out", str(tmp_path / "evaluated"))  # fmt: skip
        assert evaluated.exit_code == 1, evaluated.output
        assert wrong in evaluated.output, evaluated.output
        assert said in evaluated.output, evaluated.output
    bad = invoke("evaluate", str(tmp_path / "true"), "--dataset", "file", "--set",
                 f"dataset.path={tmp_path / 'bad.csv'}", "--out", str(tmp_path / "bad"))  # fmt: skip
    assert bad.exit_code == 1, bad.output
    assert "'oops' is not a number" in bad.output, bad.output
    assert "dataset.header" not in bad.output, bad.output


def test_a_file_rewritten_at_the_same_size_with_its_time_put_back_is_read_anew_in_the_same_process(tmp_path):
    """A file's layout is sniffed once per version of it: a version had been told by its size and modification
    time alone, so a file rewritten in a notebook's process at the same size with its time put back (cp -p,
    rsync -t, tar) was read with the old file's header, losing its first row of data."""
    X = np.random.default_rng(0).random((6, 3)).round(3)
    rows = "".join(",".join(f"{value:.3f}" for value in row) + "\n" for row in X.tolist())
    path = tmp_path / "p.csv"
    path.write_text("aaaaa,bbbbb,ccccc\n" + rows)
    assert dimred.plugin.read_table(path).X.shape == (6, 3)
    written = path.stat()
    path.write_text("0.111,0.222,0.333\n" + rows)
    os.utime(path, ns=(written.st_atime_ns, written.st_mtime_ns))
    assert path.stat().st_size == written.st_size
    assert dimred.plugin.read_table(path).X.shape == (7, 3)


def test_a_header_said_of_a_file_without_lines_of_text_or_not_as_true_or_false_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((20, 3)))
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'x.npy'}", "--set",
                    "dataset.header=true", "--model", "pca", "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "dataset.header is for text files (.csv, .tsv, .txt)" in result.output
    reducer = dimred.Reducer(model="pca").fit(np.random.default_rng(0).random((20, 3)))
    with pytest.raises(dimred.UsageError, match=r"header must be True, False or None \(guessed\), got 'yes'"):
        dimred.encode_file(reducer, tmp_path / "x.npy", tmp_path / "c.npy", header="yes")
    reducer.save(tmp_path / "model.safetensors")
    for command in ("encode", "decode"):
        result = invoke(command, str(tmp_path / "model.safetensors"), str(tmp_path / "x.npy"), "-o",
                        str(tmp_path / "c.npy"), "--no-header")  # fmt: skip
        assert result.exit_code == 2, result.output
        assert "a header row (header, --header, --no-header) is for .csv, .tsv, .txt files;" in result.output


def test_a_header_whose_line_alone_ends_in_a_delimiter_names_the_columns_of_rows_that_do_not(tmp_path):
    """Its rows had been refused: '3 values, but the rows before have 4' (the header's empty last cell)."""
    X = np.random.default_rng(0).random((20, 3)).round(4)
    path = tmp_path / "data.csv"
    path.write_text("a,b,c,\n" + "".join(",".join(map(str, row)) + "\n" for row in X.tolist()))
    table = dimred.plugin.read_table(path)
    assert table.names == ("a", "b", "c")
    np.testing.assert_array_equal(table.X, X)
