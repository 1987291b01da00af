"""Bad input, bad files and faults, across the command line and the library: each ends in one clear message
and the right exit code or exception, and no file that existed before is changed."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.numpy import save_file
from safetensors.torch import load_file as load_torch_file

import dimred
from conftest import hidden_leftovers
from dimred._core.errors import UsageError
from dimred._engine.modelfile import ModelFileError, tensors_digest
from dimred.cli import cli

RUN_FILE = ["run", "--model", "mlp-ae", "--steps", "2", "--reporter", "metrics-table", "--dataset", "file"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Two small trained models: on the swiss roll (3 features), and on a CSV whose header names a, b, c."""
    folder = tmp_path_factory.mktemp("models")
    dimred.run(dataset="swissroll", model="mlp-ae", steps=20, out=folder / "roll", reporters=[],
               settings={"dataset.n_samples": 200})  # fmt: skip
    rng = np.random.default_rng(0)
    np.savetxt(folder / "abc.csv", rng.random((100, 3)), delimiter=",", header="a,b,c", comments="")
    dimred.run(dataset="file", model="mlp-ae", steps=20, out=folder / "named", reporters=[],
               settings={"dataset.path": str(folder / "abc.csv")})  # fmt: skip
    return {"roll": folder / "roll", "named": folder / "named"}


def fingerprint(*folders: Path) -> dict[Path, str]:
    return {
        path: hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def write(path: Path, content: str | bytes | np.ndarray, **arrays: np.ndarray) -> Path:
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif path.suffix == ".npz":
        np.savez(path, content, **arrays)
    else:
        np.save(path, content, allow_pickle=content.dtype == object)
    return path


def tampered(models: dict[str, Path], tmp: Path, change: Callable, rehash: bool = True) -> Path:
    """A copy of the roll model with its tensors or metadata changed; ``rehash`` keeps its checksum consistent,
    as a careful forger would, so the checks behind the checksum are exercised."""
    source = models["roll"] / "model.safetensors"
    tensors = {name: tensor.numpy() for name, tensor in load_torch_file(source).items()}
    with safe_open(source, framework="numpy") as opened:
        metadata = dict(opened.metadata())
    tensors, metadata = change(tensors, metadata)
    if rehash:
        metadata["sha256"] = tensors_digest({name: torch.from_numpy(array) for name, array in tensors.items()})
    folder = tmp / "stranger"
    folder.mkdir()
    save_file(tensors, folder / "model.safetensors", metadata=metadata)
    return folder


def encode_with(model_folder: Path, tmp: Path) -> list[str]:
    points = write(tmp / "points.npy", np.random.default_rng(2).random((10, 3)))
    return ["encode", str(model_folder), str(points), "-o", str(tmp / "codes.npy")]


def poisoned(tensors: dict, metadata: dict) -> tuple[dict, dict]:
    weight = tensors["model.encoder.0.weight"].copy()
    weight[0, 0] = np.nan
    return {**tensors, "model.encoder.0.weight": weight}, metadata


def altered(tensors: dict, metadata: dict) -> tuple[dict, dict]:
    weight = tensors["model.encoder.0.weight"].copy()
    weight[0, 0] += 1e-3
    return {**tensors, "model.encoder.0.weight": weight}, metadata


@dataclass(frozen=True)
class Case:
    """A command line built in a scratch folder, and what must come of it."""

    name: str
    arguments: Callable[[Path, dict[str, Path]], list[str]]
    exit_code: int
    message: str


def stored(save: Callable[..., None]) -> bytes:
    """The bytes ``save`` (np.save, np.savez) writes for three rows of two columns."""
    buffer = io.BytesIO()
    save(buffer, np.ones((3, 2)))
    return buffer.getvalue()


def run_file(make: Callable[[Path], Path], *extra: str) -> Callable[[Path, dict[str, Path]], list[str]]:
    return lambda tmp, _models: [*RUN_FILE, "--set", f"dataset.path={make(tmp)}", *extra, "--out", str(tmp / "out")]


TWO_COLUMNS = "1,2\n3,4\n5,6\n"


def transcode(model: str, source: str, content, output: str = "c.npy", *extra: str, command: str = "encode"):
    """`dimred encode|decode MODEL SOURCE -o OUTPUT`, with SOURCE written first (and OUTPUT too, if it is
    named like a file that should already exist)."""

    def arguments(tmp: Path, models: dict[str, Path]) -> list[str]:
        if output == "keep.npy":
            write(tmp / output, np.zeros(2))
        return [command, str(models[model]), str(write(tmp / source, content)), "-o", str(tmp / output), *extra]

    return arguments


def model_bytes(models: dict[str, Path]) -> bytes:
    return (models["roll"] / "model.safetensors").read_bytes()


def stranger(tmp: Path, content: bytes | None) -> Path:
    """A folder holding a "model file" with these bytes (None: a folder of that name)."""
    (tmp / "stranger").mkdir()
    if content is None:
        (tmp / "stranger" / "model.safetensors").mkdir()
        return tmp / "stranger"
    return write(tmp / "stranger" / "model.safetensors", content).parent


def half_run(tmp: Path, models: dict[str, Path]) -> Path:
    """A run directory with a config but no checkpoint and no model, as a run killed early leaves it."""
    (tmp / "half").mkdir()
    write(tmp / "half" / "config.json", (models["roll"] / "config.json").read_text())
    return tmp / "half"


CASES = [
    # -- data files through `dimred run --dataset file` --
    Case("nan in csv", run_file(lambda t: write(t / "d.csv", "a,b\n1,2\n3,nan\n")), 1,
         "d.csv, line 3, column 2: 'nan' is not a finite number; fill in or leave out the rows with missing values"),
    Case("inf in csv", run_file(lambda t: write(t / "d.csv", "1,2\n3,inf\n4,5\n")), 1,  # no gap: no missing value
         "d.csv, line 2, column 2: 'inf' is not a finite number; replace it with a finite value or leave out its row"),
    Case("-inf in npy", run_file(lambda t: write(t / "d.npy", np.array([[1.0, 2], [-np.inf, 3]]))), 1,
         "has -inf at row 1, column 0"),
    Case("empty csv", run_file(lambda t: write(t / "d.csv", "")), 1, "d.csv is empty"),
    Case("empty cell", run_file(lambda t: write(t / "d.csv", "a,b,c\n1,2,3\n4,,6\n7,8,9\n")), 1,
         "d.csv, line 3, column 2 is empty (a missing value, as pandas writes NaN); fill in or leave out the rows"),
    Case("header only", run_file(lambda t: write(t / "d.csv", "a,b\n")), 1, "d.csv has no data rows"),
    Case("1-d npy", run_file(lambda t: write(t / "d.npy", np.arange(5.0))), 1, "a 2-D array (samples x features) is"),
    Case("durations npy", run_file(lambda t: write(t / "d.npy", np.ones((4, 3), dtype="timedelta64[s]"))), 1,
         "must hold numbers, got values of type timedelta64[s]"),
    Case("complex npy", run_file(lambda t: write(t / "d.npy", np.ones((3, 2), dtype=complex))), 1,
         "holds complex numbers"),
    Case("nul byte in a cell", run_file(lambda t: write(t / "d.csv", "1,2\n3,2\x00\n4,5\n")), 1,
         "d.csv, line 2, column 2: '2\\x00' is not a number"),
    Case("gzip named csv", run_file(lambda t: (t / "d.csv").write_bytes(gzip.compress(b"1,2\n3,4\n")) and t / "d.csv"),
         1, "d.csv is gzip-compressed; decompress it first (gunzip)"),
    Case("a thousands separator", run_file(lambda t: write(t / "d.csv", 'a,b\n"1,234",5\n"12,345.5",6\n3,7\n')), 1,
         "d.csv, line 2, column 1: '1,234' is not a number (write numbers without thousands separators, decimals "
         "with a point: 1234.5, not 1,234.5 or 1234,5)"),  # it had been advised as a decimal comma alone
    Case("a decimal comma of three decimals", run_file(lambda t: write(t / "d.csv", "a;b\n0,123;1\n0,5;2\n0,7;3\n")), 1,
         "'0,123' is not a number (write decimals with a point"),  # no thousands separator begins with 0
    Case("text cell", run_file(lambda t: write(t / "d.csv", "1,2\n3,abc\n")), 1,
         "d.csv, line 2, column 2: 'abc' is not a number"),
    Case("a quote left open in a number", run_file(lambda t: write(t / "d.csv", 'a,b\n1,2\n3,"4\n5,6\n7,8\n')), 1,
         'd.csv, line 3: a quoted cell runs on to line 5, over the rows there: close its quote (") where the cell '
         "ends"),  # it had said line 5
    Case("a quote left open in a label",  # the rows after it had been read as its text: 3 rows trained on, exit 0
         run_file(lambda t: write(t / "d.csv", "a,b,y\n" + "".join(f'{i},{i % 3},{chr(34) * (i == 2)}c{i % 2}\n'
                                                                    for i in range(40))),
                  "--set", "dataset.label_column=y"), 1, "d.csv, line 4: a quoted cell runs on to line 41"),
    Case("ragged rows", run_file(lambda t: write(t / "d.csv", "1,2\n3\n4,5\n")), 1,
         "d.csv, line 2: 1 value, but the rows before have 2"),
    Case("comment below the header", run_file(lambda t: write(t / "d.csv", "a,b\n1,2\n# later\n4,5\n")), 1,
         "d.csv, line 3: 1 value, but the rows before have 2 ('#' comment lines are read only above the header)"),
    Case("comment below the header of rows with names",  # no cell left beside the row name: it had raised IndexError
         run_file(lambda t: write(t / "d.csv", ",a,b,c\nr0,0,0,0\nr1,1,1,1\nr2,2,4,2\n# late\nr3,3,2,0\n")), 1,
         "d.csv, line 5: 1 value, but the rows before have 4"),
    Case("object npy", run_file(lambda t: write(t / "d.npy", np.array([{"a": 1}, None], dtype=object))), 1,
         "object arrays are refused"),
    Case("pickle npz", run_file(lambda t: (np.savez(t / "d.npz", X=np.array([{1: 2}], dtype=object)), t / "d.npz")[1]),
         1, "object arrays are refused"),
    Case("missing file", run_file(lambda t: t / "nowhere.csv"), 2, "no such file"),
    Case("a path from ~", run_file(lambda t: Path("~/nowhere-of-dimred.csv")), 2,
         "no such file: ~/nowhere-of-dimred.csv ('~' is not your home folder here: give the full path, e.g. "),
    Case("a path from no one's ~", run_file(lambda t: Path("~nobody-of-dimred/d.csv")), 2,
         "no such file: ~nobody-of-dimred/d.csv (a relative path is read from the folder you run in"),
    Case("directory", run_file(lambda t: t), 2, "is a directory, not a data file"),
    Case("a path holding a line break", run_file(lambda t: t / "a\nb" / "d.csv"), 2,
         "/a\\nb/d.csv"),  # its escape, so the error stays one line
    Case("a loop of links", run_file(lambda t: (os.symlink("d.csv", t / "d.csv"), t / "d.csv")[1]), 2,
         "d.csv is a link that leads back to itself (a loop of links)"),  # it had been said to be no file
    Case("a link to nothing", run_file(lambda t: (os.symlink("gone.csv", t / "d.csv"), t / "d.csv")[1]), 2,
         "/gone.csv, which leads to no file"),
    Case("unsupported type", run_file(lambda t: write(t / "d.xlsx", "1,2\n")), 2, "unsupported type '.xlsx'"),
    Case("npz of two arrays", run_file(lambda t: write(t / "d.npz", np.ones((3, 2)), Y=np.ones(3))), 1,
         "holds arrays Y, arr_0; name the data array 'X'"),
    Case("one row", run_file(lambda t: write(t / "d.csv", "1,2\n")), 2,
         "d.csv) has 1 row: too few to train and score a model on; give at least 3"),
    Case("npy named npz", run_file(lambda t: write(t / "d.npz", stored(np.save))), 1,
         "d.npz is an .npy file, not an .npz archive; name it .npy"),
    Case("npz named npy", run_file(lambda t: write(t / "d.npy", stored(np.savez))), 1,
         "d.npy is an .npz archive, not an .npy file; name it .npz"),
    Case("csv named npy", run_file(lambda t: write(t / "d.npy", "1,2\n3,4\n")), 1,
         "d.npy is not a .npy file: it does not start as numpy writes one"),
    Case("text named npz", run_file(lambda t: write(t / "d.npz", "not a zip\n")), 1,
         "d.npz is not a .npz file: it does not start as numpy writes one"),  # numpy's words advise unpickling
    Case("empty npy", run_file(lambda t: write(t / "d.npy", "")), 1, "d.npy is empty"),
    Case("empty npz", transcode("roll", "e.npz", ""), 1, "e.npz is empty"),
    Case("long double beyond float64", run_file(lambda t: write(t / "d.npy", np.array(
        [[1, 2], [3, np.longdouble("1e400")], [5, 6]], dtype=np.longdouble))), 1,
         "has 1e+400 at row 1, column 1 (counting from 0), beyond the range of float32"),  # the model's
    Case("no path", lambda t, _m: [*RUN_FILE, "--out", str(t / "out")], 2, "dataset.path is required"),
    Case("unknown colour column", run_file(lambda t: write(t / "d.csv", "a,b\n1,2\n3,4\n"), "--set",
                                           "dataset.color_column=hue"), 2, "'hue' is not a column"),
    # -- encode and decode --
    Case("encode wrong width", transcode("roll", "w.npy", np.ones((4, 5))), 1,
         "w.npy has 5 columns, but the model expects 3 features"),
    Case("encode header lacks a column", transcode("named", "x.csv", "c,b,d\n1,2,3\n"), 1,
         "lacks 1 of the 3 columns the model was trained on (first: a)"),
    Case("encode onto an existing file", transcode("roll", "x.npy", np.ones((4, 3)), "keep.npy"), 2, "already exists"),
    Case("encode onto its input", transcode("roll", "x.npy", np.ones((4, 3)), "x.npy", "--overwrite"), 2,
         "must not be the input"),
    Case("encode to parquet", transcode("roll", "x.npy", np.ones((4, 3)), "c.parquet"), 2,
         "unsupported type '.parquet'"),
    Case("decode wrong width", transcode("roll", "z.npy", np.ones((4, 3)), "r.npy", command="decode"), 1,
         "z.npy has 3 columns, but the model expects 2 codes"),
    Case("decode a CSV of rows, not codes", transcode("roll", "rows.csv", "x,y,species\n1,2,setosa\n", "r.csv",
                                                      command="decode"), 1,
         "rows.csv has 3 columns, but the model expects 2 codes"),
    Case("encode nan", transcode("roll", "x.csv", "1,2,3\n4,nan,6\n"), 1,
         "x.csv, line 2, column 2: 'nan' is not a finite number"),
    Case("encode a scalar npy", transcode("roll", "x.npy", np.float64(3)), 1,
         "x.npy holds an array of shape (); a 2-D array (samples x features) is needed"),
    Case("decode a scalar npy", transcode("roll", "z.npy", np.float64(3), "r.npy", command="decode"), 1,
         "z.npy holds an array of shape (); a 2-D array (samples x features) is needed"),
    Case("encode durations", transcode("roll", "x.npy", np.ones((4, 3), dtype="timedelta64[s]")), 1,
         "must hold numbers, got values of type timedelta64[s]"),
    # -- model files from strangers --
    Case("truncated model", lambda t, m: encode_with(stranger(t, model_bytes(m)[:-300]), t), 1,
         "not a readable safetensors file"),
    Case("empty model", lambda t, m: encode_with(stranger(t, b""), t), 1, "not a readable safetensors file"),
    Case("a folder in the model file's place", lambda t, m: encode_with(stranger(t, None), t), 1,
         "model.safetensors is a folder, not a model file"),
    Case("random bytes", lambda t, m: encode_with(stranger(t, np.random.default_rng(0).bytes(4096)), t), 1,
         "not a readable safetensors file"),
    Case("appended bytes", lambda t, m: encode_with(stranger(t, model_bytes(m) + b"\x00extra"), t), 1,
         "not a readable safetensors file"),
    Case("pickle renamed", lambda t, m: encode_with(stranger(t, pickle.dumps({"weights": [1, 2]})), t), 1,
         "not a readable safetensors file"),
    Case("no format version", lambda t, m: encode_with(tampered(m, t, lambda tn, md: (
        tn, {k: v for k, v in md.items() if k != "format_version"})), t), 1, "format version None is not one"),
    Case("future format version", lambda t, m: encode_with(tampered(m, t, lambda tn, md: (
        tn, {**md, "format_version": "7"})), t), 1, "format version '7' is not one this dimred reads"),
    Case("missing tensor", lambda t, m: encode_with(tampered(m, t, lambda tn, md: (
        {k: v for k, v in tn.items() if k != "model.decoder.1.bias"}, md)), t), 1,
        "missing tensors ['decoder.1.bias']"),
    Case("narrower network in the metadata", lambda t, m: encode_with(tampered(m, t, lambda tn, md: (
        tn, {**md, "model_options": json.dumps({**json.loads(md["model_options"]), "hidden": [128]})})), t), 1,
        "tensors the network has no place for ['decoder.7.bias'"),
    Case("shapes do not match metadata", lambda t, m: encode_with(tampered(m, t, lambda tn, md: (
        tn, {**md, "model_options": json.dumps({**json.loads(md["model_options"]), "hidden": [64, 64]})})), t), 1,
        "the network needs (64, 3)"),
    Case("weights altered after saving", lambda t, m: encode_with(tampered(m, t, altered, rehash=False), t), 1,
         "do not match the checksum"),
    Case("nan weights", lambda t, m: encode_with(tampered(m, t, poisoned), t), 1,
         "non-finite values (NaN or infinity) in model.encoder.0.weight"),
    Case("code width not the network's", lambda t, m: encode_with(tampered(m, t, lambda tn, md: (
        tn, {**md, "n_components": "3"})), t), 1, "its network gives 2 codes, but its metadata says n_components 3"),
    Case("dtype not the tensors'", lambda t, m: encode_with(tampered(m, t, lambda tn, md: (
        tn, {**md, "dtype": "float64"})), t), 1, "is float32, but the metadata says the network is float64"),
    Case("scaler none that scales", lambda t, m: encode_with(tampered(m, t, lambda tn, md: (
        tn, {**md, "scaler": "none"})), t), 1, "a 'none' scaler leaves the rows as they are"),
    Case("model plugin not installed", lambda t, m: encode_with(tampered(m, t, lambda tn, md: (
        tn, {**md, "model": "zz-unheard-of"})), t), 1, "model plugin 'zz-unheard-of', which is not installed"),
    # -- runs --
    Case("existing run directory", lambda t, _m: ["run", "--dataset", "swissroll", "--model", "mlp-ae", "--out",
                                                  str(write(t / "notes.txt", "mine").parent)], 2, "already exists"),
    Case("resume without checkpoint", lambda t, m: ["run", "--resume", str(half_run(t, m))], 1,
         "has no checkpoint to resume from"),
    Case("resume a complete run", lambda t, m: ["run", "--resume", str(m["roll"])], 2, "is already complete"),
    Case("evaluate on data of another width", lambda t, m: ["evaluate", str(m["roll"]), "--dataset", "file", "--set",
         f"dataset.path={write(t / 'w.csv', TWO_COLUMNS)}", "--out", str(t / "ev")], 1,
         "w.csv) has 2 columns, but the model expects 3 features"),
    Case("checkpoints without the checkpoint callback", lambda t, _m: ["run", "--dataset", "swissroll", "--model",
         "mlp-ae", "--checkpoint-every", "5", "--callback", "no-checkpoint", "--out", str(t / "run")], 2,
         "leaves out (no-checkpoint)"),
    Case("t-SNE on fewer rows than its perplexity", lambda t, _m: ["run", "--model", "tsne", "--dataset", "file",
         "--set", f"dataset.path={write(t / 'd.npy', np.eye(9))}", "--holdout", "0", "--out", str(t / "out")], 2,
         "model 'tsne' needs more rows than its perplexity (30), got 9 to train on"),
    Case("a loss for a model fitted in one call", lambda t, _m: ["run", "--dataset", "swissroll", "--model", "pca",
         "--loss", "ne-tsne", "--out", str(t / "run")], 2, "model 'pca' is fitted in one call and takes no loss"),
    Case("a training setting for a model fitted in one call", lambda t, _m: ["run", "--dataset", "swissroll", "--model",
         "pca", "--steps", "7", "--out", str(t / "run")], 2, "model 'pca' is fitted in one call, without training "
         "steps: --steps (steps) does not apply to it; leave it out"),
    Case("the full batch for a model fitted in one call", lambda t, _m: ["run", "--dataset", "swissroll", "--model",
         "isomap", "--batch-size", "full"], 2, "--batch-size (batch_size) does not apply"),
    Case("bad option value", lambda t, _m: ["run", "--dataset", "swissroll", "--model", "mlp-ae", "--set",
                                            "dataset.noise=-1"], 2, "noise must not be negative"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_command_line_faults(case, models, tmp_path):
    arguments = case.arguments(tmp_path, models)
    before = fingerprint(tmp_path, *models.values())
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == case.exit_code, result.output
    assert case.message in result.stderr
    assert result.stderr.startswith("Error: ")
    assert len(result.stderr.strip().splitlines()) == 1, "one line, no traceback"
    assert result.stdout == ""
    after = fingerprint(tmp_path, *models.values())
    assert {path: after.get(path) for path in before} == before, "an existing file changed"
    assert not hidden_leftovers(after), "a temporary file was left behind"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda X, m: dimred.Reducer(steps=2).fit(np.where(X > 0.99, np.nan, X)), ValueError, "has NaN at row"),
        (lambda X, m: dimred.Reducer(steps=2).fit(X[:, 0]), ValueError, "Expected 2D array, got 1D array"),
        (lambda X, m: dimred.Reducer(steps=2).fit(X.astype(complex)), ValueError, "Complex data not supported"),
        (lambda X, m: dimred.load(m["roll"]).transform(np.ones((2, 5))), ValueError, "X has 5 features"),
        (lambda X, m: dimred.load(m["roll"]).inverse_transform(np.ones((2, 3))), ValueError, "Z has 3 columns"),
        (lambda X, m: dimred.run(dataset="swisroll", model="mlp-ae"), UsageError, "did you mean 'swissroll'"),
        (lambda X, m: dimred.run(dataset="swissroll", model="mlp-ae", lr=-1), UsageError, "learning rate must be"),
        (lambda X, m: dimred.load(m["roll"] / "metrics.json"), ModelFileError, "not a readable safetensors file"),
    ],
)
def test_library_faults(call, error, message, models):
    X = np.random.default_rng(0).random((50, 3))
    original = X.copy()
    with pytest.raises(error, match=message):
        call(X, models)
    assert np.array_equal(X, original)


@pytest.mark.parametrize(
    "X",
    [
        np.random.default_rng(0).integers(0, 10, (60, 3)),
        np.random.default_rng(0).random((60, 3)) > 0.5,
        np.random.default_rng(0).random((60, 3)).astype(np.float32),
        np.asfortranarray(np.random.default_rng(0).random((60, 3))),
    ],
    ids=["int", "bool", "float32", "fortran"],
)
def test_every_numeric_input_is_accepted_and_never_modified(X):
    original = X.copy()
    codes = dimred.Reducer(steps=3, batch_size=16, random_state=0).fit_transform(X)
    assert codes.shape == (60, 2)
    assert np.array_equal(X, original)


def test_a_read_only_memory_map_works(tmp_path, models):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((40, 3)))
    X = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert dimred.load(models["roll"]).transform(X).shape == (40, 2)
    assert dimred.Reducer(steps=3, batch_size=16, random_state=0).fit(X).n_features_in_ == 3


def test_metrics_json_is_strict_json_with_null_for_values_that_are_not_finite(tmp_path):
    from dimred._io.rundir import write_json

    write_json(tmp_path / "m.json", {"rmse": float("nan"), "curve": [1.0, float("inf")], "ok": 0.5})
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text
    assert "Infinity" not in text
    assert json.loads(text) == {"rmse": None, "curve": [1.0, None], "ok": 0.5}


def test_a_plugin_calling_sys_exit_at_import_is_a_failed_plugin_not_the_end(fake_entry_points):
    from conftest import FakeDistribution, FakeEntryPoint

    def exits():
        raise SystemExit(3)

    fake_entry_points(FakeEntryPoint("quitter", exits, FakeDistribution("quitter-dist")))
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "quitter from quitter-dist" in result.output


def test_an_interrupt_an_extension_module_turned_into_an_import_error_stays_an_interrupt():
    """Ctrl-C while matplotlib's extension loaded (a reporter's first plot): pybind11 raises ImportError
    ('initialization failed') from it, which had been skipped as the reporter's failure, the run going on."""
    from dimred._core.errors import blame

    class Plot:
        kind, name = "reporter", "codes-plot"

    def load_extension() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise ImportError("initialization failed") from interrupt

    with pytest.raises(KeyboardInterrupt), blame(Plot(), "report", skipped=True):
        load_extension()


def test_a_plugins_failure_is_said_by_its_first_line_with_words_in_it():
    from dimred._core.errors import PluginError, blame

    class Plot:
        kind, name = "reporter", "codes-plot"

    with pytest.raises(PluginError) as raised, blame(Plot(), "report"):
        raise ValueError("\n^\n ^\nParseSyntaxException: Expected a formula, found end of text  (at char 1)")
    said = "ParseSyntaxException: Expected a formula, found end of text  (at char 1)"
    assert str(raised.value) == f"reporter 'codes-plot' failed to report: {said}"


def test_a_model_file_from_before_seeds_were_32_bit_loads_and_refits_only_with_a_new_seed(models, tmp_path):
    """Seeds had run to 2**63 - 1, of which torch's generator kept the low 32 bits (seed s and s + 2**32 trained
    the same weights): new work stops at 2**32 - 1, and a file written before, holding a larger seed, still loads
    and encodes as it did; a refit asks for a seed of 32 bits."""
    original = dimred.load(models["roll"])

    def seed_beyond_32_bits(tensors: dict, metadata: dict) -> tuple[dict, dict]:
        training = json.loads(metadata["training"])
        training["seed"] = training["random_state"] = training["seed"] + 2**40
        return tensors, {**metadata, "training": json.dumps(training)}

    loaded = dimred.load(tampered(models, tmp_path, seed_beyond_32_bits))
    assert loaded.random_state == original.random_state + 2**40  # as recorded
    rows = np.random.default_rng(0).random((10, 3))
    np.testing.assert_array_equal(loaded.transform(rows), original.transform(rows))
    with pytest.raises(UsageError, match=r"bad seed 1099511627776: must be at most 4294967295 \(torch's and "):
        loaded.fit(rows)
    with pytest.raises(UsageError, match=r"bad seed 4294967296: must be at most 4294967295"):
        dimred.run("swissroll", "pca", seed=2**32, out=None, reporters=[])
