"""The built-in callbacks: a progress bar, checkpoints, early stopping and the collapse check."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

from dimred.plugin import Callback, DimredError, Training, TrainingStatus, hookimpl, option

QUIET_SECONDS = 2.0
LINE_SECONDS = 60.0  # in a log, a line at least this often where a tenth of the steps takes longer
WIDE_COLUMNS = 32  # wide data, where a fixed learning rate chosen on 3-D rolls collapsed codes (geo-ae on digits)


class ProgressBar(Callback):
    """click's progress bar on stderr (stdout carries only results), with the running loss. Where stderr is not a
    terminal (a log file, a batch job, a notebook) a bar cannot redraw, so it writes a line at every tenth of the
    steps, and at the first logging interval after LINE_SECONDS without one, once training has taken
    QUIET_SECONDS (a short fit says nothing)."""

    name = "progress"
    description = (
        "shows a progress bar with the running loss on stderr (in logs a line per tenth of the steps, "
        "and at least one a minute)"
    )
    enabled_by_default = True

    def on_fit_start(self, training: Training) -> None:
        import click

        self._bar = None
        self._lines = training.is_main and not sys.stderr.isatty()
        self._done = training.history[-1]["step"] if training.history else 0
        self._tenths = self._done * 10 // max(1, training.total_steps)
        self._line_seconds = training.history[-1]["seconds"] if training.history else 0.0  # at the last line
        if training.is_main and not self._lines:
            self._bar = click.progressbar(length=training.total_steps, label="training", file=sys.stderr,
                                          show_eta=True, item_show_func=lambda item: item)  # fmt: skip
            self._bar.__enter__()
            self._bar.update(self._done)

    def on_interval(self, training: Training, status: TrainingStatus) -> None:
        if self._bar is not None:
            self._bar.update(status.step - self._done, f"loss {status.loss:.4g}")
            self._done = status.step
        tenths = status.step * 10 // max(1, status.total_steps)
        due = tenths > self._tenths or status.seconds - self._line_seconds >= LINE_SECONDS
        if self._lines and due and status.seconds >= QUIET_SECONDS:
            self._tenths, self._line_seconds = tenths, status.seconds
            # a line is due at each tenth, and the step it comes at may be past it
            done = status.step * 100 // max(1, status.total_steps)
            print(f"training: {done}% (step {status.step} of {status.total_steps}), loss {status.loss:.4g}, "
                  f"{status.seconds:.0f} s", file=sys.stderr, flush=True)  # fmt: skip

    def on_fit_end(self, training: Training) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def on_fit_failed(self, training: Training, error: BaseException) -> None:
        self.on_fit_end(training)  # the bar's line ends, so the error is a line of its own


class Checkpointing(Callback):
    """Saves the training state every ``--checkpoint-every`` steps, so ``--resume`` can continue a killed run."""

    name = "checkpoint"
    description = "saves the training state every --checkpoint-every steps (does nothing without that setting)"
    enabled_by_default = True

    def on_fit_start(self, training: Training) -> None:
        self.every = training.settings.checkpoint_every
        # at its own steps, not at logging intervals: --checkpoint-every changes nothing else of the run (which a
        # resume may change); each step's status costs a host synchronisation, so only while checkpointing
        self.every_step = bool(self.every)

    def on_step(self, training: Training, status: TrainingStatus) -> None:
        if status.step % self.every == 0 and status.step < status.total_steps:
            training.save_checkpoint()


class EarlyStopping(Callback):
    """Stops when the loss has not improved by ``min_delta`` (relative) for ``patience`` intervals."""

    name = "early-stopping"
    description = "stops training when the loss stops improving (a plateau of `patience` logging intervals)"

    @dataclass(frozen=True)
    class Options:
        patience: int = option(20, "logging intervals (about 200 per run) without improvement before stopping")
        min_delta: float = option(1e-3, "the relative improvement that counts")

        def __post_init__(self) -> None:
            if self.patience < 1:
                raise ValueError(f"patience must be at least 1, got {self.patience}")
            if not self.min_delta >= 0:
                raise ValueError(f"min_delta must be at least 0, got {self.min_delta:g}")

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.best, self.waited = math.inf, 0

    def on_interval(self, training: Training, status: TrainingStatus) -> None:
        # below the best by min_delta of its size, whatever its sign (a negative log-likelihood, say)
        if math.isinf(self.best) or status.loss < self.best - abs(self.best) * self.options.min_delta:
            self.best, self.waited = status.loss, 0
            return
        self.waited += 1
        if self.waited >= self.options.patience:
            training.stop(f"early-stopping: the loss did not improve for {self.waited} logging intervals "
                          f"(best {self.best:.4g})")  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best if math.isfinite(self.best) else None, "waited": self.waited}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = math.inf if state["best"] is None else state["best"]
        self.waited = state["waited"]


class CollapseCheck(Callback):
    """Fails a run whose codes have collapsed: a held-back sample's codes stop spreading (their spread falls by
    orders of magnitude from the start of training) or pile up on a handful of places. A collapsed model cannot
    recover, and finishing would report a useless embedding as a success."""

    name = "collapse"
    description = "stops a run whose codes collapse (stop spreading, or pile up on a few points) with advice"
    enabled_by_default = True

    @dataclass(frozen=True)
    class Options:
        shrink: float = option(1e-4, "collapse when the codes' spread falls below this fraction of the initial one")
        places: int = option(5, "collapse when the sampled codes sit on this many distinct places or fewer")
        after: float = option(0.2, "start checking after this fraction of the training steps")
        checks: int = option(3, "consecutive collapsed checks before the run is stopped")

        def __post_init__(self) -> None:
            if not 0 <= self.shrink < 1:
                raise ValueError(
                    f"shrink must be from 0 to below 1 (a fraction of the initial spread), got {self.shrink}"
                )
            if self.places < 0:
                raise ValueError(f"places must not be negative, got {self.places}")
            if not 0 <= self.after <= 1:
                raise ValueError(f"after must be from 0 to 1 (a fraction of the training steps), got {self.after}")
            if self.checks < 1:
                raise ValueError(f"checks must be at least 1, got {self.checks}")

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.initial: float | None = None
        self.initial_places: int | None = None  # None: resumed from a checkpoint written before it was kept
        self.strikes = 0
        self.distinct_rows = 0

    def on_fit_start(self, training: Training) -> None:
        self.distinct_rows = _places(training.sample_rows())  # codes of a few distinct rows sit on as few places
        if self.initial is None:
            codes = training.sample_codes()
            self.initial, self.initial_places = _spread(codes), _places(codes)

    def on_interval(self, training: Training, status: TrainingStatus) -> None:
        if status.step < self.options.after * status.total_steps or status.step % (10 * _interval(training)):
            return
        collapse = self._collapse(training)
        self.strikes = self.strikes + 1 if collapse else 0
        if collapse and self.strikes >= self.options.checks:
            raise DimredError(f"training collapsed by step {status.step}: {collapse}")

    def on_fit_end(self, training: Training) -> None:
        """The codes as training leaves them are the ones reported, whatever the checks before (a run too short
        for ``checks`` interval checks had never been checked)."""
        if collapse := self._collapse(training):
            raise DimredError(f"training collapsed: {collapse}")

    def _collapse(self, training: Training) -> str:
        """What collapsed in the sampled codes, with advice, or "" where they spread."""
        codes = training.sample_codes()
        spread, places = _spread(codes), _places(codes)
        collapsed = not math.isfinite(spread) or spread < self.options.shrink * (self.initial or 0.0)
        if not collapsed and places > self._few_places(len(codes)):
            return ""
        shape = f"sit on {_distinct_places(places)}" if places <= self.options.places else "stopped spreading"
        advice = self._advice(training, len(codes))
        return (f"the codes of {len(codes)} training rows {shape} (spread {spread:.3g}, {self.initial:.3g} at the "
                f"start); {advice}; --callback no-collapse (callbacks=[..., 'no-collapse']) turns this check "
                "off")  # fmt: skip

    def _few_places(self, sampled: int) -> int:
        """As many distinct places as collapsed codes of ``sampled`` rows sit on, or fewer."""
        return min(self.options.places, sampled // 2, self.distinct_rows - 1)

    def _advice(self, training: Training, sampled: int) -> str:
        """What to change: codes that sat on a few places before any step were not collapsed by training but by
        the input's scale, which the untrained network could not tell apart, or, where the scaled rows spread,
        by the untrained network itself (layers so narrow that every ReLU of one is off)."""
        unscaled = training.settings.scaler == "none"
        if self.initial_places is None or self.initial_places > self._few_places(sampled):
            scaling = ", scale the data (--scaler minmax or standard, scaler=: it trained unscaled)" if unscaled else ""
            wide = training.sample_rows().shape[1] >= WIDE_COLUMNS
            adapting = ", use a model that adapts to wide data (ne-ae)" if wide else ""
            return (f"lower the learning rate (--lr, lr=, e.g. {training.settings.lr / 10:g}){_decay_advice(training)}"
                    f"{_noise_advice(training)}{scaling}{adapting} or reset a model or loss option or loss weight you "
                    "set far from its default")  # fmt: skip
        before = f"they sat on {_distinct_places(self.initial_places)} before training too: the untrained network"
        if unscaled:
            return (f"{before} does not tell these rows apart at the input's scale; scale the data (--scaler minmax "
                    "or standard, scaler=: it trained unscaled)")  # fmt: skip
        if self.distinct_rows <= self.options.places:
            return (f"{before} does not tell these rows apart at the input's scale; rescale or clip the data, where "
                    "one far-out value squeezes the others together")  # fmt: skip
        return (f"{before} mapped rows on {self.distinct_rows} distinct places onto those few: a layer too "
                "narrow for any of its ReLUs to stay on; widen the hidden layers (model.hidden) or try another "
                "--seed")  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        return {"initial": self.initial, "initial_places": self.initial_places, "strikes": self.strikes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.initial, self.strikes = state["initial"], state["strikes"]
        self.initial_places = state.get("initial_places")


ROUNDINGS_PER_PLACE = 4  # the finest place _places tells apart, in roundings of the codes' magnitude


# peak lr * weight decay * steps beyond which decoupled decay alone leaves under e^-5 of every weight by the last
# step (the one-cycle schedule's mean rate is about half its peak); ne-ae's own choices come to 1.5 at most
DECAYED = 10.0


def _decay_advice(training: Training) -> str:
    """Advice on a weight decay strong enough to pull every weight to 0 within the run, whatever the gradients."""
    settings = training.settings
    if settings.lr * settings.weight_decay * training.total_steps <= DECAYED:
        return ""
    return (f", the weight decay (--weight-decay, weight_decay=; now {settings.weight_decay:g}: at lr "
            f"{settings.lr:g} over {training.total_steps} steps it takes nearly all of every weight, whatever the "
            "gradients)")  # fmt: skip


def _noise_advice(training: Training) -> str:
    """Advice on the noise a model adds to its input while training (ne-ae's): clusters of rows closer than it are
    one blur to the encoder, and a loss that tightens clusters pulls each into a point."""
    noise = training.config.get("model", {}).get("options", {}).get("noise")
    if not isinstance(noise, int | float) or isinstance(noise, bool) or noise <= 0:
        return ""
    return f", its input noise (--set model.noise={noise / 5:g}; now {noise:g}, it blurs clusters narrower than that)"


def _distinct_places(count: int) -> str:
    return "1 distinct place" if count == 1 else f"{count} distinct places"


def _interval(training: Training) -> int:
    """The steps between two logging intervals (the first history row's step)."""
    return int(training.history[0]["step"]) if training.history else 1


def _spread(codes) -> float:
    """The root of the codes' total variance."""
    return float(codes.double().var(dim=0).sum().sqrt())


def _places(codes) -> int:
    """How many distinct places the codes occupy, at a resolution of a thousandth of their range, and never finer
    than a few roundings of their magnitude: codes that differ by rounding alone sit on one place (a network fed
    values of 1e6 had spread its codes by 1e-7, which counted as a hundred places)."""
    import numpy as np
    import torch

    low, high = codes.min(dim=0).values, codes.max(dim=0).values
    rounding = ROUNDINGS_PER_PLACE * 1000 * torch.finfo(codes.dtype).eps * float(codes.abs().max())
    scale = (high - low).max().clamp_min(max(rounding, 1e-30))
    cells = ((codes - low) / scale * 1000).round()
    return len(np.unique(cells.cpu().numpy(), axis=0))  # a quarter of torch's unique(dim=0) time


@hookimpl
def register_callbacks(register):
    for callback in (ProgressBar, Checkpointing, EarlyStopping, CollapseCheck):
        register(callback)
