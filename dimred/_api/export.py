"""Exporting a trained model to ONNX for serving: the encoder and the decoder, each with the training scaler folded in.

``encoder.onnx`` maps raw rows (the units the model was trained on) to codes and ``decoder.onnx`` maps codes back
to raw units, as ``Reducer.transform`` and ``Reducer.inverse_transform`` do, in eval mode and with a dynamic batch
size. ``dimred.load`` stays the way back into dimred; the ONNX files are for ONNX Runtime and friends.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import io
import json
import numbers
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dimred._api.arguments import check_flags
from dimred._core.atomic import atomic_paths
from dimred._core.defaults import ONNX_OPSET
from dimred._core.errors import DimredError, UsageError, first_line, path_argument
from dimred._core.packages import import_extra, installed
from dimred._engine import modelfile
from dimred._io.folderlock import check_unlocked
from dimred._io.rundir import cannot_create

if TYPE_CHECKING:
    from dimred._api.reducer import Reducer

_EXPORTING = threading.Lock()
ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"


class _Wrapper(torch.nn.Module):
    """The float64 network with the training scaler, computing as dimred does on the CPU: the scaler in the
    model's dtype, the network in float64, the result rounded to the model's dtype."""

    def __init__(self, network: torch.nn.Module, offset: torch.Tensor, factor: torch.Tensor) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("offset", offset)
        self.register_buffer("factor", factor)


class _Encoder(_Wrapper):
    """Raw rows -> codes: the scaler's ``(x - offset) * factor`` and then the network's ``encode``."""

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.network.encode(((rows - self.offset) * self.factor).double()).to(rows.dtype)


class _Decoder(_Wrapper):
    """Codes -> raw rows: the network's ``decode`` and then the scaler undone, ``x / factor + offset``."""

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.network.decode(codes.double()).to(codes.dtype) / self.factor + self.offset


def _require_onnx() -> Any:
    return import_extra("onnx", needed_by="ONNX export", extra="onnx", distribution="the onnx package")


def export_onnx(
    reducer_or_path: Reducer | str | Path, out_dir: str | Path, *, opset: int = ONNX_OPSET, overwrite: bool = False
) -> dict[str, Path]:
    """Write ``encoder.onnx`` and ``decoder.onnx`` into ``out_dir`` (created if missing) and return their paths
    by role (``{"encoder": ..., "decoder": ...}``).

    ``reducer_or_path`` is a fitted ``dimred.Reducer``, a run directory or a model file. The encoder's input
    ``rows`` (batch x n_features, raw units) gives ``codes`` (batch x n_components); the decoder's input
    ``codes`` gives ``rows``. The inputs and outputs are the model's dtype (float32, or float64 for a float64
    model) and the network computes in float64, as ``Reducer.transform`` does on the CPU, so ONNX Runtime's
    results are dimred's up to float32 rounding; the batch size is dynamic. Existing files are replaced only
    with ``overwrite``; each file is written to a temporary file and renamed into place. Each file's metadata
    (``dimred.*`` properties) names the model plugin, its options, the feature names and the sizes.
    """
    check_flags(overwrite=overwrite)
    onnx = _require_onnx()
    from dimred._api.reducer import as_fitted_reducer

    reducer = as_fitted_reducer(reducer_or_path, device="cpu")
    module = reducer.module_
    for method in ("encode", "decode"):
        if not callable(getattr(module, method, None)):
            raise UsageError(
                f"model '{reducer.model}' cannot be exported to ONNX: its network ({type(module).__name__}) has "
                f"no {method}() method"
            )
    newest = _newest_opset()
    if isinstance(opset, bool | np.bool_) or not isinstance(opset, numbers.Integral) or not 9 <= opset <= newest:
        raise UsageError(
            f"bad ONNX opset {opset!r}: torch {torch.__version__} exports opsets 9 to {newest}, e.g. {ONNX_OPSET}"
        )
    opset = int(opset)  # numpy's whole numbers too, as a grid search hands them over
    directory = path_argument(out_dir, "the output folder (--out)", "a folder's path")
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    if directory.is_dir():  # a run, evaluation or comparison writing there holds it: refused, as by them
        check_unlocked(directory)
    paths = {"encoder": directory / ENCODER_FILE, "decoder": directory / DECODER_FILE}
    for path in paths.values():
        if path.exists() and not overwrite:
            raise UsageError(f"{path} already exists; pass overwrite=True (--overwrite) to replace it")
        if path.exists() and not path.is_file():  # found before either file is written: never half a pair
            raise UsageError(f"{path} is a folder, not a file; remove it or export to another folder")

    # A CPU copy in eval mode, in the precision dimred computes in on the CPU: the estimator keeps its own.
    dtype = reducer.scaler_.offset.dtype
    network = copy.deepcopy(module).to("cpu", torch.float64).eval()
    offset = reducer.scaler_.offset.detach().to("cpu", dtype).clone()
    factor = reducer.scaler_.factor.detach().to("cpu", dtype).clone()
    n_features, n_components = int(reducer.n_features_in_), int(reducer.n_components_)
    metadata = _metadata(reducer, n_features, n_components, dtype)
    jobs = {
        "encoder": (_Encoder(network, offset, factor), torch.zeros(2, n_features, dtype=dtype), "rows", "codes"),
        "decoder": (_Decoder(network, offset, factor), torch.zeros(2, n_components, dtype=dtype), "codes", "rows"),
    }
    written, samples = {}, _sample_rows(offset, factor)
    for role, (wrapper, example, input_name, output_name) in jobs.items():
        proto = _export(wrapper.eval(), example, input_name, output_name, opset, reducer.model, role, onnx)
        _check_computes_as_traced(proto, wrapper, samples, input_name, reducer.model, role)
        with torch.no_grad():
            samples = wrapper(samples)  # the decoder is checked on the encoder's codes
        for key, value in (metadata | {"dimred.role": role}).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "dimred"
        onnx.checker.check_model(proto)
        written[role] = proto.SerializeToString()
    # both or neither: an encoder never sits beside another model's decoder
    with _folder_made_for(directory), atomic_paths(paths["encoder"], paths["decoder"]) as (encoder, decoder):
        encoder.write_bytes(written["encoder"])
        decoder.write_bytes(written["decoder"])
    return paths


@contextlib.contextmanager
def _folder_made_for(directory: Path) -> Iterator[None]:
    """``directory`` created (with its parents) for the files written inside, and removed again where they fail
    (a full disk): an export that wrote nothing leaves no empty folder behind."""
    missing = [folder for folder in (directory, *directory.parents) if not folder.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise cannot_create(directory, error) from None
    try:
        yield
    except BaseException:
        for folder in missing:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _newest_opset() -> int:
    """The newest opset torch's TorchScript-based exporter writes (a private constant, so looked up with care:
    beyond it the exporter prints its whole graph before failing)."""
    try:
        from torch.onnx import _constants
    except ImportError:
        return 17  # the default: written by every torch dimred runs on
    return int(getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 17))


def _export(wrapper: torch.nn.Module, example: torch.Tensor, input_name: str, output_name: str, opset: int,
            model: str, role: str, onnx: Any) -> Any:  # fmt: skip
    """One wrapped network as an ONNX ModelProto, through torch's TorchScript-based exporter.

    The newer torch.export-based exporter needs onnxscript on top of onnx; the TorchScript one covers these
    plain feed-forward networks with onnx alone.
    """
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad(), _exporters_log_silenced():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice and tracer warnings
            torch.onnx.export(
                wrapper, (example,), buffer, dynamo=False, input_names=[input_name], output_names=[output_name],
                dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}}, opset_version=opset,
                do_constant_folding=True,
            )  # fmt: skip
    except Exception as error:  # the exporter's errors come in many types; name the model and the part
        raise DimredError(f"could not export the {role} of model '{model}' to ONNX: {error}") from error
    return onnx.load_from_string(buffer.getvalue())


@contextlib.contextmanager
def _exporters_log_silenced() -> Iterator[None]:
    """The process's stdout pointed at nothing inside, then torch's native ONNX log switched off: torch's
    TorchScript exporter switches that log on for every export (its flag test reads a function, always true)
    and, where it fails, writes its whole graph there, in C++, before the error dimred reports. What other
    threads write to stdout meanwhile is lost too; exports take turns (torch's exporter keeps global state, and
    two overlapping redirections would leave stdout pointing at nothing)."""
    with _EXPORTING:
        if sys.stdout is not None:  # None: no stdout at all (a windowed process)
            with contextlib.suppress(OSError, ValueError):  # closed, or a broken pipe: nothing to flush into
                sys.stdout.flush()
        _flush_native_stdout()
        try:
            kept = os.dup(1)
        except OSError:  # file descriptor 1 closed: nothing to keep clean
            kept = None
        try:
            if kept is not None:
                with open(os.devnull, "wb") as nothing:
                    os.dup2(nothing.fileno(), 1)
            yield
        finally:
            if kept is not None:
                _flush_native_stdout()
                os.dup2(kept, 1)
                os.close(kept)
            switch = getattr(torch._C, "_jit_set_onnx_log_enabled", None)  # private, so looked up with care
            if switch is not None:
                switch(False)


def _flush_native_stdout() -> None:
    """Flush the C library's stdout buffer, where C++'s std::cout writes (it holds what was written since, until
    it fills, where stdout is not a terminal)."""
    if os.name == "posix":
        ctypes.CDLL(None).fflush(None)


def _sample_rows(offset: torch.Tensor, factor: torch.Tensor, count: int = 33) -> torch.Tensor:
    """Seeded raw rows whose scaled values are a standard normal's (about the training rows' scale where the
    model scales its rows; the scaler's factors are positive). More than the exporter's example rows, whose
    number a graph of constant shape would keep."""
    scaled = torch.randn(count, len(offset), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return (scaled / factor.double() + offset.double()).to(offset.dtype)


def _check_computes_as_traced(
    proto: Any, wrapper: torch.nn.Module, rows: torch.Tensor, input_name: str, model: str, role: str
) -> None:
    """Refuse a graph that does not compute what ``wrapper`` does on ``rows``, as ONNX Runtime runs it. Tracing
    records the tensor operations of one call: a network that leaves torch on the way (numpy, a Python number
    of a tensor's value) is recorded with what it computed then, as constants, and the exporter only warns. A
    model that gives values that are not finite on rows of its data's scale is refused before: its graph, NaN for
    NaN, would pass (a model file's damaged batch-norm variances had exported a decoder of NaN alone)."""
    with torch.no_grad():
        expected = wrapper(rows).numpy()
    if not np.isfinite(expected).all():
        raise DimredError(f"could not export the {role} of model '{model}' to ONNX: it gives values that are not "
                          f"finite (NaN or infinity) on {len(rows)} rows of its data's scale; the model file is "
                          "damaged, or its training diverged")  # fmt: skip
    if not installed("onnxruntime"):  # dimred[onnx] installs it; without it onnx's checker is the only check
        return
    onnxruntime = import_extra("onnxruntime", needed_by="checking the exported graph", extra="onnx",
                               distribution="ONNX Runtime")  # fmt: skip
    try:
        session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        (computed,) = session.run(None, {input_name: rows.numpy()})
    except Exception as error:  # ONNX Runtime's errors are its own types
        difference = f"ONNX Runtime cannot run it ({first_line(error)})"
    else:
        if computed.shape != expected.shape:
            difference = f"it gives {computed.shape} values for {len(rows)} rows, the model {expected.shape}"
        elif np.allclose(computed, expected, rtol=1e-4, atol=1e-5):
            return
        else:
            difference = (
                f"it differs from the model by up to {np.abs(computed - expected).max():.3g} on {len(rows)} rows"
            )
    raise DimredError(
        f"could not export the {role} of model '{model}' to ONNX: the graph traced from it does not compute what "
        f"it does: {difference}; its {'encode' if role == 'encoder' else 'decode'}() most likely leaves torch "
        "(numpy, or a Python number of a tensor's value), which a traced graph records as a constant"
    )


def _metadata(reducer: Reducer, n_features: int, n_components: int, dtype: torch.dtype) -> dict[str, str]:
    names = getattr(reducer, "feature_names_in_", None)
    return {
        "dimred.model": str(reducer.model),
        "dimred.model_options": json.dumps(reducer.model_options_, default=str, sort_keys=True),
        "dimred.scaler": str(reducer.scaler_.kind),
        "dimred.dtype": str(dtype).removeprefix("torch."),
        "dimred.n_features": str(n_features),
        "dimred.n_components": str(n_components),
        "dimred.feature_names": json.dumps(None if names is None else [str(name) for name in names]),
        "dimred.format_version": str(modelfile.FORMAT_VERSION),
    }
