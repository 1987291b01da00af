"""ONNX export: encoder and decoder with the scaler folded in, checked against dimred itself with ONNX Runtime."""

from __future__ import annotations

import copy
import errno
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

import dimred
from dimred._api.export import export_onnx
from dimred._core.errors import UsageError

onnx = pytest.importorskip("onnx")  # a fallback: the test extra installs onnx and onnxruntime
ort = pytest.importorskip("onnxruntime")

MODELS = ("mlp-ae", "geo-ae", "vae", "ne-ae")
QUICK = {"steps": 50, "batch_size": 100, "random_state": 0, "device": "cpu"}  # float64 there, as in ONNX
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def roll() -> np.ndarray:
    from dimred.plugins.swissroll import SwissRoll

    return SwissRoll(SwissRoll.Options(n_samples=300)).load(0).X


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().data


@pytest.fixture(scope="module")
def trained(roll) -> dict[str, dimred.Reducer]:
    return {model: dimred.Reducer(model=model, **QUICK).fit(roll) for model in MODELS}


@pytest.fixture(scope="module")
def trained_on_digits(digits) -> dict[str, dimred.Reducer]:
    return {model: dimred.Reducer(model=model, **QUICK).fit(digits) for model in MODELS}


def _sessions(paths):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return tuple(ort.InferenceSession(str(paths[role]), options) for role in ("encoder", "decoder"))


def _rows(roll: np.ndarray, dtype) -> dict[str, np.ndarray]:
    """Real rows (the training roll) and random rows spread wider than the roll, in the model's dtype."""
    rng = np.random.default_rng(1)
    random = roll.mean(axis=0) + rng.normal(size=(500, roll.shape[1])) * roll.std(axis=0) * 1.5
    return {"real": roll.astype(dtype), "random": random.astype(dtype)}


@pytest.mark.parametrize("data", ["roll", "digits"])
@pytest.mark.parametrize("model", MODELS)
def test_onnx_runtime_reproduces_transform_and_inverse_transform(model, data, request, tmp_path):
    reducer = request.getfixturevalue("trained" if data == "roll" else "trained_on_digits")[model]
    rows_by_kind = _rows(request.getfixturevalue(data), np.float32)
    paths = reducer.to_onnx(tmp_path / "onnx")
    assert paths == {"encoder": tmp_path / "onnx" / "encoder.onnx", "decoder": tmp_path / "onnx" / "decoder.onnx"}
    encoder, decoder = _sessions(paths)
    assert [node.name for node in encoder.get_inputs()] == ["rows"]
    assert [node.name for node in decoder.get_inputs()] == ["codes"]
    for kind, rows in rows_by_kind.items():
        codes = encoder.run(None, {"rows": rows})[0]
        expected_codes = reducer.transform(rows)
        assert codes.dtype == np.float32
        assert codes.shape == (len(rows), 2)
        np.testing.assert_allclose(codes, expected_codes, rtol=0, atol=TOLERANCE, err_msg=f"{model} codes, {kind}")
        reconstruction = decoder.run(None, {"codes": expected_codes})[0]
        expected = reducer.inverse_transform(expected_codes)
        assert reconstruction.shape == rows.shape
        np.testing.assert_allclose(reconstruction, expected, rtol=0, atol=TOLERANCE, err_msg=f"{model} rows, {kind}")


def test_onnx_runtime_on_all_threads_gives_the_same_values(trained_on_digits, digits, tmp_path):
    """The network computes in float64 on both sides, so ONNX Runtime's own threads and kernels cannot show."""
    reducer = trained_on_digits["ne-ae"]
    paths = reducer.to_onnx(tmp_path)
    encoder, decoder = (ort.InferenceSession(str(paths[role])) for role in ("encoder", "decoder"))
    rows = digits.astype(np.float32)
    codes = encoder.run(None, {"rows": rows})[0]
    np.testing.assert_allclose(codes, reducer.transform(rows), rtol=0, atol=1e-6)
    np.testing.assert_allclose(decoder.run(None, {"codes": codes})[0], reducer.inverse_transform(codes), rtol=0,
                               atol=1e-5)  # fmt: skip


@pytest.mark.parametrize("model", ["pca", "kernel-pca"])
def test_saved_classical_models_export_too(model, digits, tmp_path):
    """Their modules hold float64 buffers and no parameters; ONNX Runtime reproduces them as it does the networks."""
    reducer = dimred.run(dataset="digits", model=model, reporters=[], out=None).reducer
    encoder, decoder = _sessions(reducer.to_onnx(tmp_path))
    assert encoder.get_inputs()[0].type == "tensor(double)"
    rows = digits[:300]
    codes = encoder.run(None, {"rows": rows})[0]
    np.testing.assert_allclose(codes, reducer.transform(rows), rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(decoder.run(None, {"codes": codes})[0], reducer.inverse_transform(codes), rtol=0,
                               atol=TOLERANCE)  # fmt: skip


def test_the_batch_size_is_dynamic(trained, roll, tmp_path):
    reducer = trained["mlp-ae"]
    encoder, decoder = _sessions(reducer.to_onnx(tmp_path))
    for size in (1, 7, 300):
        rows = roll[:size].astype(np.float32)
        codes = encoder.run(None, {"rows": rows})[0]
        np.testing.assert_allclose(codes, reducer.transform(rows), rtol=0, atol=TOLERANCE)
        assert decoder.run(None, {"codes": codes})[0].shape == (size, 3)


def test_a_float64_model_exports_float64(roll, tmp_path):
    reducer = dimred.Reducer(model="mlp-ae", dtype="float64", **QUICK).fit(roll)
    encoder, decoder = _sessions(reducer.to_onnx(tmp_path))
    assert encoder.get_inputs()[0].type == decoder.get_outputs()[0].type == "tensor(double)"
    codes = encoder.run(None, {"rows": roll})[0]
    assert codes.dtype == np.float64
    np.testing.assert_allclose(codes, reducer.transform(roll), rtol=0, atol=1e-12)
    np.testing.assert_allclose(decoder.run(None, {"codes": codes})[0], reducer.inverse_transform(codes), atol=1e-10)


def test_export_reads_a_run_directory_and_the_files_describe_the_model(tmp_path):
    result = dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300}, reporters=[],
                        steps=50, batch_size=100, out=tmp_path / "run")  # fmt: skip
    paths = export_onnx(tmp_path / "run", tmp_path / "served", opset=17)
    encoder, _decoder = _sessions(paths)
    rows = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    np.testing.assert_allclose(encoder.run(None, {"rows": rows})[0], result.reducer.transform(rows), atol=TOLERANCE)
    proto = onnx.load(str(paths["encoder"]))
    properties = {entry.key: entry.value for entry in proto.metadata_props}
    assert properties["dimred.model"] == "mlp-ae"
    assert properties["dimred.role"] == "encoder"
    assert (properties["dimred.n_features"], properties["dimred.n_components"]) == ("3", "2")
    assert proto.opset_import[0].version == 17
    newer = result.reducer.to_onnx(tmp_path / "newer", opset=18)  # the Reducer takes the opset as --opset does
    assert onnx.load(str(newer["decoder"])).opset_import[0].version == 18


def test_existing_files_are_kept_unless_overwrite(trained, tmp_path):
    reducer = trained["mlp-ae"]
    paths = reducer.to_onnx(tmp_path)
    before = paths["decoder"].read_bytes()
    paths["encoder"].unlink()  # only the decoder is left: still refused, and nothing is written
    with pytest.raises(UsageError, match=r"decoder\.onnx already exists"):
        reducer.to_onnx(tmp_path)
    assert not paths["encoder"].exists()
    (tmp_path / "a-file").write_text("mine")
    with pytest.raises(UsageError, match=r"cannot create the output folder .*a-file/inside: Not a directory"):
        reducer.to_onnx(tmp_path / "a-file" / "inside")
    trained["vae"].to_onnx(tmp_path, overwrite=True)
    assert paths["decoder"].read_bytes() != before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file", "decoder.onnx", "encoder.onnx"]


def test_an_export_onto_a_full_disk_leaves_no_folder_it_made(trained, tmp_path, monkeypatch):
    """The folders had been made before anything was written: a full disk left them behind, empty."""

    def no_space(*_arguments: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(dimred.DimredError, match=r"could not write .*\.onnx: no space left"):
        trained["mlp-ae"].to_onnx(tmp_path / "made" / "for-it")
    assert list(tmp_path.iterdir()) == []


def test_a_rename_that_fails_after_the_other_leaves_the_pair_as_it_was(trained, tmp_path, monkeypatch):
    """The decoder was renamed into place first: where the encoder's rename then failed (a file made immutable, a
    shared folder's file of another user), the new decoder had stayed beside the old encoder."""
    paths = trained["mlp-ae"].to_onnx(tmp_path / "pair")
    before = {role: path.read_bytes() for role, path in paths.items()}
    replace = os.replace

    def refused_for_the_encoder(source, target):
        if Path(target).name == "encoder.onnx" and ".tmp" in Path(source).name:
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))
        replace(source, target)

    monkeypatch.setattr(os, "replace", refused_for_the_encoder)
    with pytest.raises(dimred.DimredError, match=r"could not write .*encoder\.onnx"):
        trained["vae"].to_onnx(tmp_path / "pair", overwrite=True)
    assert {role: path.read_bytes() for role, path in paths.items()} == before
    assert sorted(path.name for path in (tmp_path / "pair").iterdir()) == ["decoder.onnx", "encoder.onnx"]
    with pytest.raises(dimred.DimredError, match=r"could not write .*encoder\.onnx"):
        trained["vae"].to_onnx(tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()  # neither file, nor the folder made for them


def test_a_folder_in_a_files_place_is_refused_before_either_file_is_replaced(trained, tmp_path):
    paths = trained["mlp-ae"].to_onnx(tmp_path)
    encoder = paths["encoder"].read_bytes()
    paths["decoder"].unlink()
    paths["decoder"].mkdir()
    with pytest.raises(UsageError, match=r"decoder\.onnx is a folder, not a file"):
        trained["vae"].to_onnx(tmp_path, overwrite=True)
    assert paths["encoder"].read_bytes() == encoder  # not the vae's encoder beside no decoder
    assert sorted(path.name for path in tmp_path.iterdir()) == ["decoder.onnx", "encoder.onnx"]


def test_export_uses_eval_mode_and_leaves_the_estimator_alone(trained, roll, tmp_path):
    reducer = trained["mlp-ae"]  # dropout 0.2 and batch norm: train mode would differ from transform
    reducer.module_.train()
    try:
        encoder, _decoder = _sessions(reducer.to_onnx(tmp_path))
        assert reducer.module_.training
    finally:
        reducer.module_.eval()
    rows = roll[:50].astype(np.float32)
    np.testing.assert_allclose(encoder.run(None, {"rows": rows})[0], reducer.transform(rows), atol=TOLERANCE)


def test_a_model_that_gives_values_that_are_not_finite_is_refused_not_exported(trained, tmp_path):
    """A model file's batch-norm variances made negative (damaged, or forged) give NaN for every row: the graph
    matched the model NaN for NaN, and export wrote a decoder of NaN alone with exit 0."""
    import copy

    reducer = copy.deepcopy(trained["mlp-ae"])
    norm = next(layer for layer in reducer.module_.decoder.modules() if isinstance(layer, torch.nn.BatchNorm1d))
    norm.running_var.neg_()
    with pytest.raises(
        dimred.DimredError, match=r"the decoder of model 'mlp-ae' to ONNX: it gives values that are not finite"
    ):
        reducer.to_onnx(tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists()


def test_a_network_without_encode_and_decode_is_refused(trained, tmp_path):
    reducer = copy.copy(trained["mlp-ae"])
    reducer.module_ = torch.nn.Sequential(torch.nn.Linear(3, 2))
    with pytest.raises(UsageError, match=r"cannot be exported to ONNX: .* no encode\(\) method"):
        reducer.to_onnx(tmp_path)
    assert list(tmp_path.iterdir()) == []


class _Plugins(torch.nn.Module):
    """A third-party network around a trained one, computing its codes in a way the exporter cannot follow."""

    def __init__(self, network: torch.nn.Module, how: str) -> None:
        super().__init__()
        self.network, self.how = network, how

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        codes = self.network.encode(x)
        if self.how == "through numpy":
            return torch.from_numpy(codes.detach().numpy() * 2)
        if self.how == "by a Python number":
            return codes / max(1.0, float(x.abs().max()))
        return torch.special.erfcx(codes)  # an operator the exporter does not know

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.network.decode(codes)


def test_numpys_whole_numbers_are_opsets(trained, tmp_path):
    paths = trained["mlp-ae"].to_onnx(tmp_path, opset=np.int64(13))
    assert onnx.load(paths["encoder"]).opset_import[0].version == 13


@pytest.mark.parametrize("how", ["through numpy", "by a Python number"])
def test_a_graph_that_does_not_compute_what_the_model_does_is_refused(trained, tmp_path, how):
    """Tracing keeps what such an encode computed for the example rows as constants: the graph had been written,
    with exit 0, giving codes up to 2.4 away from transform's (or the same codes whatever the rows)."""
    reducer = copy.copy(trained["mlp-ae"])
    reducer.module_ = _Plugins(reducer.module_, how)
    with pytest.raises(dimred.DimredError, match=r"could not export the encoder of model 'mlp-ae' to ONNX: the "
                                                 r"graph traced from it does not compute what it does: .* leaves "
                                                 r"torch"):  # fmt: skip
        reducer.to_onnx(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_operator_the_exporter_does_not_know_is_one_error_and_nothing_on_stdout(trained, tmp_path, capfd):
    """torch's exporter had printed its whole graph on the process's stdout before failing."""
    reducer = copy.copy(trained["mlp-ae"])
    reducer.module_ = _Plugins(reducer.module_, "erfcx")
    with pytest.raises(dimred.DimredError, match=r"could not export the encoder of model 'mlp-ae' to ONNX: .*erfcx"):
        reducer.to_onnx(tmp_path)
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")
    assert list(tmp_path.iterdir()) == []


def test_exports_in_threads_take_turns_and_leave_stdout_where_it_was(trained, tmp_path):
    """Overlapping exports had failed in torch's exporter, and left the process's stdout pointing at nothing."""
    import os
    import threading

    errors: list[BaseException] = []

    def export(folder: str) -> None:
        try:
            trained["mlp-ae"].to_onnx(tmp_path / folder)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=export, args=(f"t{number}",)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert not os.path.samestat(os.fstat(1), os.stat(os.devnull))
    assert all(len(list((tmp_path / f"t{number}").iterdir())) == 2 for number in range(4))


def test_a_process_without_stdout_exports(trained, tmp_path, monkeypatch):
    """A windowed process (pythonw), or one started with stdout closed, has sys.stdout None."""
    monkeypatch.setattr(sys, "stdout", None)
    assert sorted(trained["mlp-ae"].to_onnx(tmp_path)) == ["decoder", "encoder"]


def test_an_unfitted_reducer_is_refused(tmp_path):
    with pytest.raises(NotFittedError):
        dimred.Reducer().to_onnx(tmp_path)


def test_without_onnx_the_error_names_the_extra(trained, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if onnx were not installed
    with pytest.raises(UsageError, match=r"pip install 'dimred\[onnx\]'"):
        trained["mlp-ae"].to_onnx(tmp_path)


def test_the_export_command(tmp_path):
    from click.testing import CliRunner

    from dimred.cli import cli

    dimred.run(dataset="swissroll", model="mlp-ae", settings={"dataset.n_samples": 300}, reporters=[], steps=20,
               batch_size=100, out=tmp_path / "run")  # fmt: skip
    arguments = ["export", str(tmp_path / "run"), "--format", "onnx", "--out", str(tmp_path / "served")]
    first = CliRunner().invoke(cli, arguments)
    assert first.exit_code == 0, first.output
    assert sorted(path.name for path in (tmp_path / "served").iterdir()) == ["decoder.onnx", "encoder.onnx"]
    again = CliRunner().invoke(cli, arguments)
    assert again.exit_code == 2
    assert "encoder.onnx already exists" in again.output
    assert CliRunner().invoke(cli, [*arguments, "--overwrite"]).exit_code == 0
    beyond = CliRunner().invoke(cli, [*arguments[:-1], str(tmp_path / "newer"), "--opset", "99"])
    assert beyond.exit_code == 2
    assert beyond.output.startswith("Error: bad ONNX opset 99: torch ")  # not the exporter's graph
    assert len(beyond.output.splitlines()) == 1
    assert not (tmp_path / "newer").exists()
