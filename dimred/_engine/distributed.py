"""Data-parallel training under ``torchrun``: the process group, and what each process does.

Without torchrun (no WORLD_SIZE above 1 in the environment) nothing here changes a run. Under torchrun every
process trains a DistributedDataParallel copy of the model on its own share of each global batch; gradients
are averaged across processes by DDP. gloo is used on the CPU, nccl on CUDA. Only process 0 writes files and
computes metrics.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from dimred._core.errors import DimredError, UsageError, first_line
from dimred._engine.device import resolve_device
from dimred._engine.evaluation import checked_encoding

Build = Callable[[], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (size 1 when not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def join(requested_device: str) -> tuple[World, torch.device]:
    """The world this process belongs to (started by torchrun, or alone), with the device it should use."""
    size = _process_count("WORLD_SIZE", 1)
    if size <= 1:
        return World(), resolve_device(requested_device)
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:  # torch's own errors had read as dimred's ("unexpected KeyError: 'RANK'")
        raise UsageError(f"WORLD_SIZE={size} says this process is one of {size}, but {', '.join(missing)} "
                         f"{'is' if len(missing) == 1 else 'are'} not set: start training on several processes with "
                         "torchrun (dimred run under it), or unset WORLD_SIZE")  # fmt: skip
    rank = _process_count("RANK", 0)
    if rank >= size:
        raise UsageError(f"RANK={rank} is not one of the WORLD_SIZE={size} processes' ranks, 0 to {size - 1}")
    world = World(rank, size, _process_count("LOCAL_RANK", 0))
    device = device_of_process(requested_device, world.local_rank, _process_count("LOCAL_WORLD_SIZE", 1))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_end_group_left_open)
    return world, device


def _process_count(name: str, default: int) -> int:
    """A whole number the launcher set in the environment variable ``name`` (``default`` where unset)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdecimal():
        raise UsageError(f"environment variable {name}={text!r} is not a whole number from 0 (torchrun sets it)")
    return int(text)


def _end_group_left_open() -> None:
    """End the process group that ``join`` started where a failure left it open: a process that exits with its
    group open sometimes aborts in gloo's threads ("terminate called without an active exception", SIGABRT)
    instead of exiting with its own code."""
    if dist.is_initialized():
        dist.destroy_process_group()


def device_of_process(requested_device: str, local_rank: int, local_processes: int) -> torch.device:
    """Each process of a machine trains on a GPU of its own, as nccl needs: ``auto`` takes the CPU where the
    machine has fewer GPUs than processes, and naming ``cuda`` there is an error."""
    device = resolve_device(requested_device)
    if device.type != "cuda":
        return device
    gpus = torch.cuda.device_count()
    if local_processes <= gpus:
        return torch.device("cuda", local_rank)
    if requested_device == "auto":
        return torch.device("cpu")
    raise UsageError(f"torchrun started {local_processes} processes on this machine, but it has {gpus} CUDA "
                     f"device{'s' if gpus != 1 else ''}: start at most {gpus} per machine (--nproc-per-node) or "
                     "train with --device cpu")  # fmt: skip


def _carrier(device: torch.device) -> torch.device:
    """Where tensors travel between processes: nccl sends CUDA tensors, gloo any."""
    return device if device.type == "cuda" else torch.device("cpu")


def check_same_data(
    world: World,
    device: torch.device,
    shape: tuple[int, ...],
    fingerprint: Callable[[], str],
    plan: Callable[[], str],
) -> None:
    """Refuse, in every process alike, data of another shape in some process (a stale copy, a relative path read
    from another folder), or another ``plan`` (the settings and plugins a process trains with: another number of
    steps, say): DDP would wait forever for a process that plans other steps. Other values in the same shape are
    warned of: the model trains on mixed data (generated data may differ in its last bits between machines'
    CPUs). ``fingerprint`` gives a hex digest of the data and ``plan`` the plan as text, taken only under
    torchrun."""
    if not world.distributed:
        return
    planned = hashlib.sha256(plan().encode()).digest()[:16]
    mine = torch.tensor([*planned, *shape, *bytes.fromhex(fingerprint())], dtype=torch.int64, device=_carrier(device))
    everyone = [torch.empty_like(mine) for _ in range(world.size)]
    with peers_failing(world):
        dist.all_gather(everyone, mine)
    seen = [found.tolist() for found in everyone]
    other = next((rank for rank, found in enumerate(seen) if found[: len(planned)] != seen[0][: len(planned)]), None)
    if other is not None:
        raise DimredError(f"the training processes were started with different settings: process {other}'s differ "
                          "from process 0's (steps, batch size, model or loss options...); start every process with "
                          "the same command")  # fmt: skip
    seen = [found[len(planned) :] for found in seen]
    other = next((rank for rank, found in enumerate(seen) if found[: len(shape)] != seen[0][: len(shape)]), None)
    if other is not None:
        first, theirs = (" x ".join(map(str, seen[rank][: len(shape)])) for rank in (0, other))
        raise DimredError(f"the training processes read different data: process {other} read {theirs} (rows x "
                          f"columns), process 0 {first}; every process must read the same data (the same file at the "
                          "same path on every machine)")  # fmt: skip
    other = next((rank for rank, found in enumerate(seen) if found != seen[0]), None)
    if other is not None and world.is_main:
        warnings.warn(f"process {other} read other values than process 0 (or another dtype), in the same shape: the "
                      "model trains on both; every process should read the same data", stacklevel=2)  # fmt: skip


_PEER_LOST = re.compile(r"connection (reset|closed) by peer|broken pipe", re.IGNORECASE)


@contextlib.contextmanager
def peers_failing(world: World) -> Iterator[None]:
    """An exchange between processes that fails because another process stopped (its own error, or killed) as
    one message that says so, not as this process's model failing; only a lost connection is taken for that."""
    try:
        yield
    except RuntimeError as error:
        if not world.distributed or not (isinstance(error, dist.DistNetworkError) or _PEER_LOST.search(str(error))):
            raise
        raise DimredError(f"another training process stopped (its own message says why), so this one could not go "
                          f"on ({first_line(error)})") from error  # fmt: skip


def computed_once(world: World, device: torch.device) -> Callable[[Build], dict[str, torch.Tensor]]:
    """``TrainingData.once`` for this world: process 0 builds the tensors and broadcasts them (their names,
    dtypes and shapes first, as JSON bytes); the other processes receive them instead of building their own."""
    if not world.distributed:
        return lambda build: build()
    carrier = _carrier(device)

    def once(build: Build) -> dict[str, torch.Tensor]:
        built = build() if world.is_main else {}
        header = json.dumps({name: [str(value.dtype).removeprefix("torch."), list(value.shape)]
                             for name, value in built.items()}).encode()  # fmt: skip
        size = torch.tensor([len(header)], dtype=torch.int64, device=carrier)
        dist.broadcast(size, src=0)
        raw = torch.zeros(int(size), dtype=torch.uint8, device=carrier)
        if world.is_main:
            raw.copy_(torch.frombuffer(bytearray(header), dtype=torch.uint8))
        dist.broadcast(raw, src=0)
        shared = {}
        for name, (dtype, shape) in json.loads(raw.cpu().numpy().tobytes()).items():
            tensor = built[name].to(carrier).contiguous() if world.is_main else \
                torch.empty(shape, dtype=getattr(torch, dtype), device=carrier)  # fmt: skip
            dist.broadcast(tensor, src=0)
            shared[name] = tensor
        return shared

    return once


def leave(world: World) -> None:
    """End this process's part in the process group (after training; process 0 then evaluates alone)."""
    if world.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


class EncodeDecode(torch.nn.Module):
    """Runs encode and decode in one forward call, which is what DistributedDataParallel synchronises on.

    With ``bf16`` the layers compute in bfloat16 (torch.autocast: mixed precision, the weights stay in their
    dtype) and what they return is cast back to the rows' dtype, so the losses compute in it."""

    def __init__(self, module: torch.nn.Module, bf16: bool = False) -> None:
        super().__init__()
        self.module, self.bf16 = module, bf16

    def forward(self, x: torch.Tensor, decoded: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Codes of every row, reconstructions of the first ``decoded`` (the rows a loss added to the step are
        only encoded), and the extra tensors of a model with ``encode_for_training``."""
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            if hasattr(self.module, "encode_for_training"):
                encoded = self.module.encode_for_training(x)
                if not (isinstance(encoded, tuple) and len(encoded) == 2 and isinstance(encoded[1], Mapping)):
                    raise ValueError("its encode_for_training must return (z, extras), extras a dict of tensors by "
                                     f"name, got {type(encoded).__name__}")  # fmt: skip
                z, extras = encoded
            else:
                z, extras = self.module.encode(x), {}
            dtypes = (x.dtype, torch.bfloat16) if self.bf16 else (x.dtype,)  # autocast's layers give bfloat16
            x_hat = self.module.decode(checked_encoding(z, x, dtypes)[:decoded])

        def as_rows(tensor: Any) -> Any:  # what is not a tensor is named by the checks of the outputs
            return tensor.to(x.dtype) if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() else tensor

        return as_rows(z), as_rows(x_hat), {name: as_rows(tensor) for name, tensor in extras.items()}


def data_parallel(module: torch.nn.Module, device: torch.device, bf16: bool = False) -> torch.nn.Module:
    """The module wrapped for DDP. On CUDA batch norm is synchronised across processes (SyncBatchNorm); on
    the CPU, where SyncBatchNorm does not run, each process normalises with its own share of the batch and the
    running statistics are process 0's (DDP broadcasts buffers)."""
    if device.type == "cuda":
        module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    device_ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(EncodeDecode(module, bf16), device_ids=device_ids)
