"""Faults around files: inputs and outputs of encode/decode and the file dataset, a full disk, forged model files
with a valid checksum, and saving or pickling a Reducer. Each ends in one clear message and the right exit code
or exception, and no file that existed before is changed."""

from __future__ import annotations

import errno
import importlib.metadata
import json
import os
import pickle
import pickletools
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from sklearn.base import clone
from test_faults import fingerprint, tampered

import dimred
from conftest import hidden_leftovers
from dimred._core.atomic import write_text
from dimred._core.errors import DimredError, UsageError
from dimred._engine.modelfile import ModelFileError
from dimred.cli import cli

LATIN_1_CSV = b"a,b,c\n1,2,3\n" + "é,5,6\n".encode("latin-1")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A small model trained on the swiss roll (3 features, 2 components), as ``tampered`` expects."""
    folder = tmp_path_factory.mktemp("models")
    dimred.run(dataset="swissroll", model="mlp-ae", steps=20, out=folder / "roll", reporters=[],
               settings={"dataset.n_samples": 200})  # fmt: skip
    return {"roll": folder / "roll"}


def points(tmp: Path, name: str = "x.npy", rows: int = 10) -> Path:
    np.save(tmp / name, np.random.default_rng(2).random((rows, 3)))
    return tmp / name


def fails(arguments: list[str], exit_code: int, message: str, *folders: Path) -> str:
    """Run the CLI; it must print one ``Error:`` line holding ``message``, exit with ``exit_code``, change no
    existing file in ``folders`` and leave no temporary file there. Returns the line."""
    before = fingerprint(*folders)
    result = CliRunner().invoke(cli, [str(argument) for argument in arguments])
    assert result.exit_code == exit_code, result.output
    assert result.stderr.startswith("Error: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, "one line, no traceback"
    assert message in result.stderr, result.stderr
    assert "unexpected" not in result.stderr
    after = fingerprint(*folders)
    assert {path: after.get(path) for path in before} == before, "an existing file changed"
    assert not hidden_leftovers(after), "a temporary file was left behind"
    return result.stderr


# -- 1. inputs and outputs of encode and decode ----------------------------------------------------------------
def missing_csv(tmp: Path, model: Path) -> list:
    return ["encode", model, tmp / "nowhere.csv", "-o", tmp / "c.npy"]


def missing_npz_decode(tmp: Path, model: Path) -> list:
    return ["decode", model, tmp / "nowhere.npz", "-o", tmp / "r.npy"]


def directory_source(tmp: Path, model: Path) -> list:
    (tmp / "folder.csv").mkdir()
    return ["encode", model, tmp / "folder.csv", "-o", tmp / "c.npy"]


def latin_1_source(tmp: Path, model: Path) -> list:
    (tmp / "latin.csv").write_bytes(LATIN_1_CSV)
    return ["encode", model, tmp / "latin.csv", "-o", tmp / "c.npy"]


def missing_output_folder(tmp: Path, model: Path) -> list:
    return ["encode", model, points(tmp), "-o", tmp / "nowhere" / "c.npy"]


def output_folder_is_a_file(tmp: Path, model: Path) -> list:
    (tmp / "notes.txt").write_text("mine")
    return ["encode", model, points(tmp), "-o", tmp / "notes.txt" / "c.npy"]


def output_is_a_directory(tmp: Path, model: Path) -> list:
    (tmp / "codes.npy").mkdir()
    return ["encode", model, points(tmp), "-o", tmp / "codes.npy", "--overwrite"]


def anndata_to_npy(tmp: Path, model: Path) -> list:
    return ["encode", model, tmp / "cells.h5ad", "-o", tmp / "c.npy"]


def missing_anndata(tmp: Path, model: Path) -> list:
    return ["encode", model, tmp / "cells.h5ad", "-o", tmp / "coded.h5ad"]


def anndata_decode(tmp: Path, model: Path) -> list:
    (tmp / "cells.h5ad").write_bytes(b"not really")
    return ["decode", model, tmp / "cells.h5ad", "-o", tmp / "r.npy"]


TRANSCODE_FAULTS = [
    (missing_csv, 2, "no such file: "),
    (missing_npz_decode, 2, "no such file: "),
    (directory_source, 2, "folder.csv is a directory, not a data file"),
    (latin_1_source, 1, "latin.csv is not UTF-8 text (it holds the byte 0xe9); save it with UTF-8 encoding"),
    (missing_output_folder, 2, "nowhere does not exist; create it or name another"),  # before the rows are read
    (output_folder_is_a_file, 2, "notes.txt is a file, not a folder"),
    (output_is_a_directory, 2, "codes.npy is a directory; name a file (.csv, .npy)"),
    (anndata_to_npy, 2, "name an .h5ad output, not"),
    (missing_anndata, 2, "no such file: "),
    (anndata_decode, 2, "decode reads codes from .csv, .tsv, .txt, .npy, .npz files, not"),
]


@pytest.mark.parametrize(("arguments", "exit_code", "message"), TRANSCODE_FAULTS,
                         ids=[case[0].__name__ for case in TRANSCODE_FAULTS])  # fmt: skip
def test_bad_inputs_and_outputs_of_encode_and_decode(arguments, exit_code, message, models, tmp_path):
    fails(arguments(tmp_path, models["roll"]), exit_code, message, tmp_path, models["roll"])


def test_a_missing_output_folder_is_named(models, tmp_path):
    line = fails(missing_output_folder(tmp_path, models["roll"]), 2, "", tmp_path)
    assert f"the folder {tmp_path / 'nowhere'} does not exist" in line


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_named(models, tmp_path):
    (tmp_path / "locked").mkdir(mode=0o555)
    fails(["encode", models["roll"], points(tmp_path), "-o", tmp_path / "locked" / "c.npy"], 1,
          "locked is not writable (permission denied)", tmp_path)  # fmt: skip


UNREADABLE = {  # what a command reads: (the arguments, given the run folder and a data file; the file made unreadable)
    "model file, encode": (lambda run, data: ["encode", run, data, "-o", data.with_name("c.npy")], "model.safetensors"),
    "data file, encode": (lambda run, data: ["encode", run, data, "-o", data.with_name("c.npy")], "x.npy"),
    "data file, run": (
        lambda run, data: [
            "run",
            "--dataset",
            "file",
            "--set",
            f"dataset.path={data}",
            "--model",
            "pca",
            "--out",
            data.with_name("new"),
        ],
        "x.npy",
    ),
    "data file, evaluate": (
        lambda run, data: ["evaluate", run, "--dataset", "file", "--set", f"dataset.path={data}"],
        "x.npy",
    ),
    "config file, run": (lambda run, data: ["run", "--config", data.with_name("e.toml")], "e.toml"),
}


@pytest.mark.skipif(os.name != "posix" or not shutil.which("setpriv"), reason="needs a process that permissions bind")
@pytest.mark.parametrize("case", UNREADABLE)
def test_a_file_that_may_not_be_read_is_said_so_by_every_command_with_one_exit_code(case, models, tmp_path):
    """safetensors said 'No such file or directory' of a model file it may not open; click refused an unreadable
    data file given to encode as a usage error (exit 2), where run said it in its own words (exit 1)."""
    arguments, unreadable = UNREADABLE[case]
    folder = tmp_path / "run"
    shutil.copytree(models["roll"], folder)
    data = points(tmp_path)
    (tmp_path / "e.toml").write_text('dataset = "swissroll"\nmodel = "pca"\n')
    path = (folder if unreadable == "model.safetensors" else tmp_path) / unreadable
    path.chmod(0)
    command = [sys.executable, "-m", "dimred", *map(str, arguments(folder, data))]
    if os.geteuid() == 0:  # root reads any file: run without the capabilities that let it
        dropped = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={dropped}", f"--bounding-set={dropped}", *command]
    shown = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert shown.returncode == 1, shown.stderr
    kind = {"model.safetensors": "model file ", "e.toml": "config file "}.get(unreadable, "")
    assert shown.stderr.strip() == f"Error: {kind}{path} is not readable (permission denied)"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc file system")
def test_a_folder_that_refuses_new_files_is_not_said_to_be_missing(models, tmp_path):
    """/proc refuses a new file with ENOENT: the message had said that /proc does not exist."""
    fails(["encode", models["roll"], points(tmp_path), "-o", "/proc/codes.csv"], 1,
          "could not write /proc/codes.csv: the folder /proc refuses new files", tmp_path)  # fmt: skip


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda t, m: dimred.encode_file(m, t / "nowhere.csv", t / "c.npy"), UsageError, "no such file"),
        (lambda t, m: dimred.encode_file(m, points(t), t / "nowhere" / "c.npy"), DimredError, "does not exist"),
        (lambda t, m: dimred.encode_file(m, points(t), t, overwrite=True), UsageError, "is a directory"),
        (lambda t, m: dimred.load(m).save(points(t) / "model.safetensors"), DimredError,
         r"the folder .*x.npy is a file, not a folder$"),  # it had said 'is not a folder' of the folder
        (lambda t, m: (t / "l.csv").write_bytes(LATIN_1_CSV) and dimred.encode_file(m, t / "l.csv", t / "c.npy"),
         DimredError, "is not UTF-8 text"),
    ],
)  # fmt: skip
def test_the_library_raises_the_same_errors(call, error, message, models, tmp_path):
    with pytest.raises(error, match=message):
        call(tmp_path, models["roll"])


@pytest.mark.parametrize("container", [".npy", ".npz"])
def test_a_big_endian_file_is_read_in_native_byte_order(container, models, tmp_path):
    X = np.random.default_rng(3).random((30, 3))
    if container == ".npy":
        np.save(tmp_path / "big.npy", X.astype(">f8"))
    else:
        np.savez(tmp_path / "big.npz", X=X.astype(">f8"))
    result = CliRunner().invoke(cli, ["encode", str(models["roll"]), str(tmp_path / f"big{container}"), "-o",
                                      str(tmp_path / "codes.npy")])  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = dimred.load(models["roll"]).transform(X.astype(np.float32))
    np.testing.assert_array_equal(np.load(tmp_path / "codes.npy"), expected)


def test_the_file_dataset_reads_big_endian_files_and_refuses_other_encodings(tmp_path):
    np.save(tmp_path / "big.npy", np.random.default_rng(3).random((40, 3)).astype(">f4"))
    base = ["run", "--model", "mlp-ae", "--steps", "2", "--reporter", "metrics-table", "--dataset", "file"]
    result = CliRunner().invoke(cli, [*base, "--set", f"dataset.path={tmp_path / 'big.npy'}", "--out",
                                      str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 0, result.output
    (tmp_path / "latin.csv").write_bytes(LATIN_1_CSV)
    fails([*base, "--set", f"dataset.path={tmp_path / 'latin.csv'}", "--out", tmp_path / "other"], 1,
          "latin.csv is not UTF-8 text", tmp_path)  # fmt: skip


# -- 2. a full disk ------------------------------------------------------------------------------------------------
def no_space(*_arguments: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_encoding_onto_a_full_disk_is_one_error_and_leaves_no_file(models, tmp_path, monkeypatch):
    """The space of an .npy output is reserved before the first row; a full disk refuses the reservation."""
    monkeypatch.setattr(os, "posix_fallocate", no_space, raising=False)
    fails(["encode", models["roll"], points(tmp_path), "-o", tmp_path / "codes.npy"], 1,
          f"could not write {tmp_path / 'codes.npy'}: no space left on the device", tmp_path)  # fmt: skip
    assert not (tmp_path / "codes.npy").exists()


@pytest.mark.parametrize("character", ["a", "é"])
def test_a_file_name_as_long_as_the_file_system_takes_is_written(tmp_path, character):
    """A legal name of 245 bytes had failed as 'File name too long': the temporary name beside it is longer."""
    name = character * (245 // len(character.encode())) + ".npy"
    (tmp_path / name).touch()
    (tmp_path / name).unlink()  # the name itself is legal here
    write_text(tmp_path / name, "kept")
    assert (tmp_path / name).read_text() == "kept"
    assert [path.name for path in tmp_path.iterdir()] == [name]


def test_atomic_writers_name_the_file_on_a_full_disk(tmp_path, monkeypatch):
    (tmp_path / "kept.json").write_text("old")
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(DimredError, match=r"could not write .*kept\.json: no space left"):
        write_text(tmp_path / "kept.json", "new")
    assert (tmp_path / "kept.json").read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["kept.json"]


@pytest.fixture
def tiny_disk(tmp_path) -> Path:
    """A 64 KiB tmpfs: a real full disk, where this machine lets the tests mount one (as root on Linux)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if shutil.which("mount") is None or os.name != "posix" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                      capture_output=True).returncode:  # fmt: skip
        pytest.skip("cannot mount a tmpfs here")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_a_real_full_disk_is_one_error_not_a_crash(suffix, tiny_disk, models, tmp_path):
    """In a separate process: writing through a memory map onto a full disk used to kill it with SIGBUS."""
    source = points(tmp_path, rows=20_000)
    output = tiny_disk / f"codes{suffix}"
    command = [sys.executable, "-m", "dimred", "encode", str(models["roll"]), str(source), "-o", str(output)]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert done.returncode == 1, done.stderr
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line == f"Error: could not write {output}: no space left on the device (the disk is full)"
    assert list(tiny_disk.iterdir()) == []
    with pytest.raises(DimredError, match="no space left"):
        write_text(tiny_disk / "big.txt", "x" * 200_000)
    assert list(tiny_disk.iterdir()) == []


# -- 3. and 4. forged model files with a valid checksum ------------------------------------------------------------
def options(**changes: object) -> Callable[[dict, dict], tuple[dict, dict]]:
    def change(tensors: dict, metadata: dict) -> tuple[dict, dict]:
        return tensors, {**metadata, "model_options": json.dumps({**json.loads(metadata["model_options"]), **changes})}

    return change


def metadata_field(key: str, value: str) -> Callable[[dict, dict], tuple[dict, dict]]:
    return lambda tensors, metadata: (tensors, {**metadata, key: value})


def scaler(name: str, value: float) -> Callable[[dict, dict], tuple[dict, dict]]:
    def change(tensors: dict, metadata: dict) -> tuple[dict, dict]:
        return {**tensors, f"scaler.{name}": np.full_like(tensors[f"scaler.{name}"], value)}, metadata

    return change


def weights_as(dtype: type) -> Callable[[dict, dict], tuple[dict, dict]]:
    """The first layer's weights cast to ``dtype`` (a model file of whole numbers had given one code for all rows)."""
    name = "model.encoder.0.weight"
    return lambda tensors, metadata: ({**tensors, name: tensors[name].astype(dtype)}, metadata)


def batch_count_as(dtype: type) -> Callable[[dict, dict], tuple[dict, dict]]:
    name = "model.decoder.0.num_batches_tracked"
    return lambda tensors, metadata: ({**tensors, name: tensors[name].astype(dtype)}, metadata)


FORGERIES = [
    ("huge widths", options(hidden=[60_000, 60_000]), "tensor 'model.encoder.0.weight' has shape (128, 3), "
     "the network needs (60000, 3)"),
    ("absurd widths", options(hidden=[10**9, 10**9]), "hidden needs at least one width, each from 1 to 65536"),
    ("n_components beyond 64 bits", options(n_components=10**30), "model_options.n_components = "
     "1000000000000000000000000000000 is out of range"),
    ("a NaN dropout", options(dropout=float("nan")), "model_options.dropout = nan is not a finite number"),
    ("options are a list", metadata_field("model_options", "[128, 64]"),
     "metadata field 'model_options' must be an object, not list"),
    ("training is a string", metadata_field("training", '"fast"'), "metadata field 'training' must be an object"),
    ("feature names are an object", metadata_field("feature_names", '{"a": 1}'),
     "metadata field 'feature_names' must be a list"),
    ("n_features is not a number", metadata_field("n_features", "three"),
     "metadata field 'n_features' must be a whole number from 1 to"),
    ("n_features disagrees with the scaler", metadata_field("n_features", "4"),
     "tensor 'scaler.offset' has shape (3,), expected (4,)"),
    ("n_components beyond the file", metadata_field("n_components", str(10**12)),
     "metadata field 'n_components' must be a whole number from 1 to"),
    ("n_components a superscript two", metadata_field("n_components", "\u00b2"),  # str.isdigit's, not int()'s
     "metadata field 'n_components' must be a whole number from 1 to"),
    ("an option of 5 000 digits", metadata_field("model_options", '{"n_components": 1' + "0" * 5000 + "}"),
     "metadata field 'model_options' is not valid JSON"),
    ("requested is a list", metadata_field("requested", "[]"), "metadata field 'requested' must be an object"),
    ("requested lacks training", metadata_field("requested", '{"model_options": {}, "loss_options": {}}'),
     "metadata field 'requested' must hold the objects model_options, loss_options and training"),
    ("requested training refused", metadata_field("requested", '{"model_options": {}, "loss_options": {}, '
     '"training": {"steps": -5}}'), "metadata field 'requested': "),
    ("requested model option refused", metadata_field("requested", '{"model_options": {"hidden": [0]}, '
     '"loss_options": {}, "training": {}}'), "metadata field 'requested': "),
    ("scaler factor 0", scaler("factor", 0.0), "its scaler is not one fitted on data: factor 0 of feature 0"),
    ("scaler factor 1e38", scaler("factor", 1e38), "factor 1e+38 of feature 0 is not a number from 1e-30 to 1e30"),
    ("scaler factor negative", scaler("factor", -1.0), "factor -1 of feature 0"),
    ("scaler offset 1e38", scaler("offset", 1e38), "offset 1e+38 of feature 0 is not a number from -1e30 to 1e30"),
    ("scaler factor inf", scaler("factor", np.inf), "non-finite values (NaN or infinity) in scaler.factor"),
    ("a loss without a name", metadata_field("loss", "mse+"), "metadata field 'loss': bad loss ''"),
    ("whole-number weights", weights_as(np.int32), "tensor 'model.encoder.0.weight' is int32, but the metadata "
     "says the network is float32"),
    ("a floating-point batch count", batch_count_as(np.float32), "tensor 'model.decoder.0.num_batches_tracked' is "
     "float32, but the network holds whole numbers there"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), [case[1:] for case in FORGERIES], ids=[case[0] for case in FORGERIES])
def test_forged_model_files_are_refused_before_anything_is_built(change, message, models, tmp_path):
    forged = tampered(models, tmp_path, change)
    line = fails(["encode", forged, points(tmp_path), "-o", tmp_path / "codes.npy"], 1, message, tmp_path)
    assert f"model file {forged / 'model.safetensors'}: " in line
    assert not (tmp_path / "codes.npy").exists()
    with pytest.raises(ModelFileError, match=re.escape(message)):
        dimred.load(forged)


@pytest.mark.parametrize("written_with", [None, "0.0.1"])
def test_a_network_that_no_longer_matches_its_file_names_the_package_versions_where_they_differ(
    written_with, models, tmp_path
):
    """Files that a later version of their model plugin builds another network for had said only that the tensors
    do not match, with no word of the version that wrote them."""

    def other_widths(tensors: dict, metadata: dict) -> tuple[dict, dict]:
        versions = json.loads(metadata["versions"]) | ({"dimred": written_with} if written_with else {})
        return options(hidden=[64, 32])(tensors, {**metadata, "versions": json.dumps(versions)})

    with pytest.raises(ModelFileError, match=re.escape("tensor 'model.encoder.0.weight' has shape")) as refused:
        dimred.load(tampered(models, tmp_path, other_widths))
    hint = f"; it was written with dimred {written_with} and dimred {importlib.metadata.version('dimred')} is installed"
    assert (hint in str(refused.value)) == (written_with is not None)


# -- 5. pickling a Reducer -----------------------------------------------------------------------------------------
def global_names(data: bytes) -> list[str]:
    """The classes and functions a pickle imports (GLOBAL and STACK_GLOBAL opcodes)."""
    names, strings = [], []
    for opcode, argument, _position in pickletools.genops(data):
        if isinstance(argument, str):
            strings.append(argument)
        if opcode.name == "GLOBAL":
            names.append(argument)
        elif opcode.name == "STACK_GLOBAL":
            names.append(" ".join(strings[-2:]))
    return names


def test_a_fitted_reducer_pickles_as_its_model_file_without_torch_objects():
    X = np.random.default_rng(0).random((80, 3))
    reducer = dimred.Reducer(steps=5, batch_size=16, random_state=0).fit(X)
    data = pickle.dumps(reducer)
    assert not [name for name in global_names(data) if "torch" in name], global_names(data)
    restored = pickle.loads(data)
    np.testing.assert_array_equal(restored.transform(X), reducer.transform(X))
    np.testing.assert_array_equal(restored.inverse_transform(reducer.transform(X)),
                                  reducer.inverse_transform(reducer.transform(X)))  # fmt: skip
    assert restored.history_ == reducer.history_
    assert restored.get_params() == reducer.get_params()
    assert clone(restored).get_params() == reducer.get_params()
    assert pickle.loads(pickle.dumps(dimred.Reducer(n_components=3))).n_components == 3


def test_a_reducer_pickled_with_a_gpu_device_unpickles_on_the_cpu_with_a_warning(tmp_path, monkeypatch):
    from sklearn.base import clone

    from dimred._api import reducer as reducer_module

    X = np.random.default_rng(0).random((80, 3))
    reducer = dimred.Reducer(steps=5, batch_size=16, random_state=0, device="cpu").fit(X)
    reducer.set_params(device="cuda")  # what a model fitted on a GPU machine carries
    monkeypatch.setattr(reducer_module, "available_here", lambda device: device != "cuda")  # a machine without one
    with pytest.warns(UserWarning, match="pickled with device='cuda', which this machine does not have"):
        restored = pickle.loads(pickle.dumps(reducer))
    np.testing.assert_array_equal(restored.transform(X), reducer.transform(X))
    saved = restored.save(tmp_path / "model.safetensors")
    with pytest.raises(dimred.UsageError, match="pick another with CUDA_VISIBLE_DEVICES"):
        dimred.load(saved, device="cuda:1")
    loaded = dimred.load(saved, device=torch.device("cpu"))
    assert str(loaded.device_) == "cpu"
    clone(loaded).fit(X)  # the parameter is the device's name, which a refit takes


@pytest.mark.parametrize("device", ["cpu:0", torch.device("cpu", 0)], ids=["cpu:0", "torch.device('cpu', 0)"])
def test_torchs_name_of_the_first_device_is_taken_wherever_a_device_is(tmp_path, device):
    """dimred.load, encode_file and a Reducer had refused "cpu:0" (and so "cuda:0"), load blaming the model file."""
    X = np.random.default_rng(0).random((80, 3))
    reducer = dimred.Reducer(steps=5, batch_size=16, random_state=0, device=device).fit(X)
    saved = reducer.save(tmp_path / "model.safetensors")
    loaded = dimred.load(saved, device=device)
    assert loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.transform(X), reducer.transform(X))
    np.save(tmp_path / "rows.npy", X)
    dimred.encode_file(saved, tmp_path / "rows.npy", tmp_path / "codes.npy", device=device)
    np.testing.assert_array_equal(np.load(tmp_path / "codes.npy"), reducer.transform(X))
    assert dimred.run("swissroll", "mlp-ae", steps=2, device=device, out=None).config["device_used"] == "cpu"
    with pytest.raises(dimred.UsageError, match="pick another with CUDA_VISIBLE_DEVICES"):  # not "did you mean"
        dimred.Reducer(steps=5, device="cuda:1").fit(X)


# -- 6. saving a Reducer -------------------------------------------------------------------------------------------
def test_save_never_overwrites_silently_and_says_where_it_wrote(models, tmp_path):
    reducer = dimred.load(models["roll"])
    assert reducer.save(tmp_path / "m.safetensors") == tmp_path / "m.safetensors"
    before = fingerprint(tmp_path)
    with pytest.raises(UsageError, match=r"m\.safetensors already exists; .* overwrite=True"):
        reducer.save(tmp_path / "m.safetensors")
    assert fingerprint(tmp_path) == before
    assert reducer.save(tmp_path / "m.safetensors", overwrite=True) == tmp_path / "m.safetensors"
    assert reducer.save(tmp_path) == tmp_path / "model.safetensors"
    with pytest.raises(UsageError, match=r"model\.safetensors already exists"):
        reducer.save(tmp_path)
    with pytest.raises(UsageError, match=r"name a \.safetensors file or an existing directory"):
        reducer.save(tmp_path / "m.bin")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["m.safetensors", "model.safetensors"]


def test_encode_removes_what_a_killed_encode_of_the_same_file_left_and_nothing_else(models, tmp_path):
    """A temporary file of the output written to within the hour may be another encode's, still running: a second
    encode to the same output had removed it, and the first failed."""
    stale = tmp_path / ".codes.npy.0123456789abcdef.tmp.npy"  # as atomic_path names a temporary of codes.npy
    others = [tmp_path / ".codes.npy.mine.tmp.npy", tmp_path / ".other.npy.0123456789abcdef.tmp.npy",
              tmp_path / ".codes.npy.fedcba9876543210.tmp.npy"]  # fmt: skip
    for path in (stale, *others):
        path.write_bytes(b"half a file")
    hours_ago = time.time() - 2 * 3600
    for path in (stale, *others[:2]):
        os.utime(path, (hours_ago, hours_ago))
    arguments = ["encode", str(models["roll"]), str(points(tmp_path)), "-o", str(tmp_path / "codes.npy")]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert all(path.exists() for path in others)


@pytest.mark.parametrize("overwrite", [False, True])
def test_encode_keeps_a_file_that_appears_at_its_output_while_it_writes_unless_told_to_overwrite(tmp_path, overwrite):
    """The output was checked free only as encode began: a file the user saved there meanwhile was replaced by
    the codes, exit 0."""
    X = np.random.default_rng(0).normal(size=(50, 3))
    np.save(tmp_path / "rows.npy", X)
    model = dimred.Reducer(model="pca").fit(X)
    output = tmp_path / "codes.csv"

    def users_save(done: int, total: int) -> None:
        if done == 20:
            output.write_text("the user's own\n")

    if overwrite:
        assert dimred.encode_file(model, tmp_path / "rows.npy", output, batch_rows=10, progress=users_save,
                                  overwrite=True) == 50  # fmt: skip
        assert output.read_text().startswith("code_0,code_1")
    else:
        with pytest.raises(dimred.DimredError, match=r"codes\.csv: a file of that name appeared there while this"):
            dimred.encode_file(model, tmp_path / "rows.npy", output, batch_rows=10, progress=users_save)
        assert output.read_text() == "the user's own\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["codes.csv", "rows.npy"]  # no temporary left
