"""The training loop, written for speed on small models.

The data lives on the device once; each step draws its minibatch by index on the device; the losses are read back
to the host once per logging interval, never inside a step (unless a callback asks for every step). Epochs drop
their last partial batch so every step has the same shape (and batch norm never sees a batch of one).
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist

from dimred._core.contracts import Batch, Term, TrainingStatus, adds_rows
from dimred._core.errors import DimredError, PluginError, UsageError, blame, noted_stop
from dimred._core.settings import TrainingSettings
from dimred._engine import evaluation
from dimred._engine.distributed import EncodeDecode, World, data_parallel
from dimred._engine.muon import Muon
from dimred._engine.optim import FlatAdam, one_cycle

HISTORY_ROWS = 200  # about how many rows history.csv gets, whatever the number of steps


class DivergenceError(DimredError):
    """The loss stopped being a finite number."""


def make_optimizer(settings: TrainingSettings, module: torch.nn.Module) -> FlatAdam | Muon:
    """The optimizer the settings name."""
    if settings.optimizer == "muon":
        return Muon(list(module.parameters()))
    return FlatAdam(module.parameters())


def _schedule(settings: TrainingSettings, total: int) -> Callable[[int], tuple[float, float]]:
    """Learning rate and Adam's beta1 for each step."""
    if settings.schedule == "constant":
        return lambda _step: (settings.lr, 0.9)
    return lambda step: one_cycle(step, total, settings.lr)


class Listener:
    """What the loop tells as it goes; the callbacks' dispatcher implements it."""

    wants_every_step = False

    def on_step(self, status: TrainingStatus) -> None: ...

    def on_interval(self, status: TrainingStatus) -> None: ...

    def step_done(self) -> None:
        """Everything the step had to tell was told."""

    def should_stop(self) -> bool:
        return False


class Trainer:
    """Trains a module on the rows of ``X`` (already on the device), one step at a time.

    Everything the loop depends on (weights, optimizer moments, the step, the current epoch's order, every RNG
    state) can be saved with ``state`` and put back with ``restore``, so a resumed run ends bit for bit where an
    uninterrupted one would.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        terms: Sequence[Term],
        X: torch.Tensor,
        settings: TrainingSettings,
        generator: torch.Generator,
        world: World | None = None,
        data_fingerprint: Callable[[], str] | None = None,
    ) -> None:
        """``data_fingerprint`` names the data as given (``fitting.data_fingerprint``): its checkpoints carry it,
        so that ``dimred.run`` refuses to resume on other data. It reads every value, so it is taken only when a
        first checkpoint is."""
        self.world = world or World()
        self.batch = settings.batch_for(len(X))
        self.share = self.batch // self.world.size  # rows of each global batch this process trains on
        if self.share < 1:
            raise UsageError(f"a batch of {self.batch} is shared by {self.world.size} processes, each needing a row "
                             f"at least: raise --batch-size to {self.world.size} or more, or train on fewer "
                             "processes")  # fmt: skip
        if self.batch % self.world.size and self.world.is_main:
            warnings.warn(
                f"the batch of {self.batch} rows does not divide among {self.world.size} processes: each "
                f"trains on {self.share} rows a step, {self.share * self.world.size} in all",
                stacklevel=2,
            )
        has_batch_norm = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())
        if self.share < 2 and has_batch_norm:
            raise UsageError("batch norm needs at least 2 samples per batch (per process); raise the batch size "
                             "(--batch-size, batch_size=) or turn batch norm off (dimred's MLP models: --set "
                             "model.batch_norm=false, model_options={'batch_norm': False})")  # fmt: skip
        self.module, self.terms, self.X, self.generator = module, list(terms), X, generator
        self.per_epoch = len(X) // self.batch
        self.total = settings.total_steps(len(X))
        self.log_every = max(1, self.total // HISTORY_ROWS)
        self.weight_decay = settings.weight_decay
        self.unscaled = settings.scaler == "none"
        self.optimizer = make_optimizer(settings, module)
        adding = [term for term in self.terms if adds_rows(type(term.loss))]
        if len(adding) > 1:
            raise UsageError(f"losses {' and '.join(term.name for term in adding)} both add rows to each step; "
                             "train with one of them")  # fmt: skip
        self.adds_rows = adding[0].loss if adding else None
        bf16 = settings.precision == "bf16"
        self.forward = data_parallel(module, X.device, bf16) if self.world.distributed else \
            EncodeDecode(module, bf16)  # fmt: skip
        self.schedule = _schedule(settings, self.total)
        self.step = 0
        self.order: torch.Tensor | None = None
        self.history: list[dict[str, float]] = []
        self.running = torch.zeros(len(self.terms), dtype=X.dtype, device=X.device)  # each term's sum since logged
        self.logged_step = 0
        self.seconds_before = 0.0  # time spent before a resume
        self._fingerprint_of = data_fingerprint

    def _next_batch(self) -> torch.Tensor | None:
        """The rows of this process's share of the next global batch; None: all rows (full batch, alone)."""
        mine = slice(self.world.rank * self.share, (self.world.rank + 1) * self.share)
        if self.batch == len(self.X):
            if self.adds_rows is not None:  # a new order each step: a loss may pick rows by their place (negatives)
                return torch.randperm(len(self.X), device=self.X.device, generator=self.generator)[mine]
            return torch.arange(len(self.X), device=self.X.device)[mine] if self.world.distributed else None
        position = self.step % self.per_epoch
        if position == 0:
            self.order = torch.randperm(len(self.X), device=self.X.device, generator=self.generator)
        return self.order[position * self.batch : (position + 1) * self.batch][mine]

    def _interval_due(self) -> bool:
        return self.step % self.log_every == 0 or self.step == self.total

    def _status(self, means: list[float], lr: float) -> TrainingStatus:
        total = sum(term.weight * mean for term, mean in zip(self.terms, means, strict=True))
        losses = {term.name: mean for term, mean in zip(self.terms, means, strict=True)}
        seconds = self.seconds_before
        return TrainingStatus(self.step, self.total, self.step / self.per_epoch, total, losses, lr, seconds)

    def _check_finite(self, status: TrainingStatus) -> None:
        if not math.isfinite(status.loss):
            label = "NaN" if math.isnan(status.loss) else "infinite"
            terms = [name for name, value in status.losses.items() if not math.isfinite(value)]
            which = f" (in loss '{terms[0]}')" if terms else ""
            advice = self._unscaled_advice(then=", ")
            shrink = status.lr * self.weight_decay  # the share of each weight decoupled decay takes in a step
            if shrink >= 1:
                advice += (
                    f"lower the weight decay (--weight-decay, weight_decay=: at lr {status.lr:.3g} each "
                    f"step takes {shrink:.3g} times every weight off it, from 1 on flipping its sign), "
                )
            raise DivergenceError(
                f"loss became {label}{which} at epoch {math.ceil(self.step / self.per_epoch)} (step {self.step}); "
                f"{advice}lower the learning rate (--lr, lr=), or reset any model option or loss weight you set far "
                "from its default"
            )

    def overflow_advice(self) -> str:
        """Advice for codes that are not finite: before the first update the learning rate cannot be the cause."""
        if self.step:
            return evaluation.OVERFLOW_ADVICE
        if self.unscaled:
            return f"the untrained network overflows on the input, before any step; {self._unscaled_advice(then='')}"
        return (
            "they come from the untrained network, before any step, so not from training: the network the "
            "model builds, or a model option set far from its default, gives them"
        )

    def _unscaled_advice(self, then: str) -> str:
        """Advice for a loss that is not finite where the data trained unscaled, followed by ``then``; '' where
        it was scaled."""
        return f"scale the data (--scaler minmax or standard: it trained unscaled){then}" if self.unscaled else ""

    def _check_trainable(self, z: torch.Tensor, x_hat: torch.Tensor) -> None:
        """The network's codes and reconstructions on the first step must be finite and carry a gradient, else
        the first loss computed from them would be blamed for the model's fault."""
        for method, values in (("encode", z), ("decode", x_hat)):
            if not bool(torch.isfinite(values).all()):
                cause = self._unscaled_advice(then="") or ("the network the model builds, or a model option set far "
                                                           "from its default, gives them")  # fmt: skip
                raise ValueError(f"its {method} gave values that are not finite (NaN or inf) on the first step, "
                                 f"before training changed anything; {cause}")  # fmt: skip
        if z.grad_fn is None and x_hat.grad_fn is None:
            raise ValueError("its encode and decode give values that carry no gradient (detached, or not computed "
                             "with torch from its parameters): nothing would train")  # fmt: skip
        if z.grad_fn is None:  # the decoder alone would train, and the codes stay the untrained encoder's
            raise ValueError("its encode gives codes that carry no gradient (detached, or not computed with torch "
                             "from its parameters): the encoder would never train")  # fmt: skip

    def _check_first_losses(self, values: torch.Tensor) -> None:
        """A loss that is not finite on the first step, before any update, is no divergence: the learning rate
        cannot be the cause."""
        for term, value in zip(self.terms, values.tolist(), strict=True):
            if not math.isfinite(value):
                advice = self._unscaled_advice(then=" or ")
                raise DivergenceError(f"loss '{term.name}' gave {value} on the first step, before training changed "
                                      f"anything; {advice}reset any model or loss option you set far from its "
                                      "default, or, for a loss of your own, check what it computes from the untrained "
                                      "network's outputs")  # fmt: skip

    def run(self, listener: Listener | None = None) -> list[dict[str, float]]:
        """Train to the planned number of steps, or until the listener says stop."""
        listener = listener or Listener()
        if listener.should_stop():  # stopped as it started, or resumed from a checkpoint taken as it was stopped
            self.module.eval()
            return self.history
        self.module.train()
        weights = torch.tensor([term.weight for term in self.terms], dtype=self.X.dtype, device=self.X.device)
        started = time.perf_counter() - self.seconds_before
        first_step = self.step
        while self.step < self.total:
            if (stop := noted_stop()) is not None:  # a stop raised where Python discards it (a garbage-collection
                raise stop  # callback of a library's): ended here, at the next step, not ignored
            index = self._next_batch()
            drawn = len(self.X) if index is None else len(index)
            if self.adds_rows is not None:
                index = torch.cat([index, self._added_rows(index, check=self.step == first_step)])
            # gathered once, with any rows a loss added; on the CPU index_select takes a fraction of indexing's time
            # (a MNIST-5k step's 1 024 x 784 rows: 0.07 ms instead of 0.48 ms)
            x = self.X if index is None else self.X.index_select(0, index)
            z, x_hat, extras = self.forward(x, drawn)
            if self.step == first_step:  # a plugin that breaks its contract shows it on the first step
                _check_outputs(x, x_hat, drawn, extras)
                self._check_trainable(z, x_hat)
            batch = Batch(x=x[:drawn], z=z, x_hat=x_hat, index=index, extras=extras, drawn=drawn)
            values = torch.stack([self._loss(term, batch, check=self.step == first_step) for term in self.terms])
            if self.step == 0 and not self.world.distributed:  # one process raising would leave the others waiting
                self._check_first_losses(values)
            loss = (weights * values).sum()
            self.optimizer.zero_grad()
            loss.backward()
            lr, beta1 = self.schedule(self.step)
            self.optimizer.step(lr, beta1, self.weight_decay)
            self.running += values.detach()
            self.step += 1
            if listener.wants_every_step:
                self.seconds_before = time.perf_counter() - started
                listener.on_step(self._status(values.detach().tolist(), lr))
            if self._interval_due() or listener.should_stop():
                if self.world.distributed:  # here at the same steps in every process (a stop is process 0's)
                    dist.all_reduce(self.running)  # every process logs and checks the whole batch's loss
                    self.running /= self.world.size
                self.seconds_before = time.perf_counter() - started
                status = self._status((self.running / (self.step - self.logged_step)).tolist(), lr)
                self._check_finite(status)
                self.history.append(status.history_row())
                self.running.zero_()
                self.logged_step = self.step
                listener.on_interval(status)
            listener.step_done()
            if listener.should_stop():
                break
        self.module.eval()
        return self.history

    def _added_rows(self, index: torch.Tensor, *, check: bool) -> torch.Tensor:
        """The rows the loss that adds rows adds to the drawn ``index``: one row number per drawn row."""
        loss = self.adds_rows
        with blame(loss, "add rows to a step (extra_rows)"):
            added = loss.extra_rows(index, self.generator)
        if check and not (isinstance(added, torch.Tensor) and added.dtype == torch.long and added.shape == index.shape
                          and bool(((added >= 0) & (added < len(self.X))).all())):  # fmt: skip
            raise PluginError(f"loss '{loss.name}' must return from extra_rows one row number (a long tensor) per "
                              f"drawn row, each from 0 to {len(self.X) - 1}; for {len(index)} drawn rows it returned "
                              f"{_describe_rows(added)}")  # fmt: skip
        return added

    @staticmethod
    def _loss(term: Term, batch: Batch, *, check: bool) -> torch.Tensor:
        with blame(term.loss, "compute on a batch"):
            value = term.loss(batch)
        # a tensor made with requires_grad=True, not computed from the batch, has no grad_fn: it trains nothing
        if check and not (isinstance(value, torch.Tensor) and value.ndim == 0 and value.grad_fn is not None):
            raise PluginError(f"loss '{term.name}' must return a scalar tensor that carries a gradient (computed "
                              f"with torch from the batch, not detached); it returned {_describe(value)}")  # fmt: skip
        return value

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors and JSON-ready facts that ``restore`` needs to continue exactly from here."""
        tensors = {f"model.{key}": value for key, value in self.module.state_dict().items()}
        tensors |= {f"optimizer.{name}": tensor for name, tensor in self.optimizer.state().items()}
        tensors |= {"rng.torch": torch.get_rng_state(), "rng.batches": self.generator.get_state()}
        if self.X.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.X.device)
        if self.order is not None:
            tensors["order"] = self.order
        tensors["running"] = self.running  # a checkpoint between logging intervals goes on with their mean
        facts = {"step": self.step, "logged_step": self.logged_step, "optimizer_steps": self.optimizer.steps,
                 "history": self.history,
                 "seconds": self.seconds_before, "device_type": self.X.device.type,
                 "data": self._data_fingerprint}  # fmt: skip
        return tensors, facts

    @functools.cached_property
    def _data_fingerprint(self) -> str | None:
        return None if self._fingerprint_of is None else self._fingerprint_of()

    def restore(self, tensors: dict[str, torch.Tensor], facts: dict[str, Any]) -> None:
        model_state = {key.removeprefix("model."): value for key, value in tensors.items() if key.startswith("model.")}
        self.module.load_state_dict(model_state)
        self.optimizer.load_state({key.removeprefix("optimizer."): value for key, value in tensors.items()
                                   if key.startswith("optimizer.")})  # fmt: skip
        self.optimizer.steps = int(facts["optimizer_steps"])
        self._restore_random_streams(tensors, facts)
        self.order = tensors["order"].to(self.X.device) if "order" in tensors else None
        self.step = int(facts["step"])
        self.history = list(facts["history"])
        if "running" in tensors:  # a checkpoint before they were saved was taken at a logging interval
            self.running = tensors["running"].to(self.running)
        self.logged_step = int(facts.get("logged_step", self.step))
        self.seconds_before = float(facts["seconds"])

    def _restore_random_streams(self, tensors: dict[str, torch.Tensor], facts: dict[str, Any]) -> None:
        """The saved random states, where they fit this device. A generator's state belongs to its kind of device
        (a CUDA generator's is its seed and offset), so a run resumed on another kind of device draws its batches
        from a generator seeded anew with the run's seed plus the step: it goes on reproducibly, though not as
        the uninterrupted run would have (another device computes differently anyway)."""
        torch.set_rng_state(tensors["rng.torch"])
        saved_on = facts.get("device_type", "cuda" if "rng.cuda" in tensors else "cpu")  # older checkpoints
        if saved_on != self.X.device.type:
            self.generator.manual_seed(self.generator.initial_seed() + int(facts["step"]))
            return
        self.generator.set_state(tensors["rng.batches"])
        if "rng.cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.X.device)


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        if not value.requires_grad:
            return f"a tensor of shape {tuple(value.shape)} without a gradient"
        made = " not computed from the batch (made with requires_grad=True)" if value.grad_fn is None else ""
        return f"a tensor of shape {tuple(value.shape)}{made}"
    return f"a {type(value).__name__}"


def _describe_rows(value: Any) -> str:
    if not isinstance(value, torch.Tensor):
        return f"a {type(value).__name__}"
    described = f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if value.numel() and not value.is_floating_point() and not value.is_complex():
        described += f" holding {int(value.min())} to {int(value.max())}"
    return described


def _check_outputs(x: torch.Tensor, x_hat: Any, decoded: int, extras: dict[str, Any]) -> None:
    """The network's extra outputs must be one row per input row and its reconstructions the decoded rows' shape
    (its codes are checked before they are decoded)."""
    expected = x[:decoded].shape
    if not isinstance(x_hat, torch.Tensor) or x_hat.shape != expected:
        raise ValueError(f"its decode must return rows of shape {tuple(expected)}, got {_describe(x_hat)}")
    for name, value in extras.items():
        if not isinstance(value, torch.Tensor) or value.ndim == 0 or len(value) != len(x):
            raise ValueError(f"its encode_for_training must return extras of one row per input row ({len(x)}); "
                             f"'{name}' is {_describe(value)}")  # fmt: skip
