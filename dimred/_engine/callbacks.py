"""Callbacks at work: the handle they get on the training in progress, and the dispatcher that calls them.

The engine knows no callback by name: progress bars, checkpoints, early stopping and the collapse check are all
plugins that arrive as instances. Under torchrun every process runs the callbacks (so they see the same steps),
only process 0 prints or writes, and a stop decided on process 0 is shared with the others at the interval.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from dimred._core.contracts import Callback, Model, Training, TrainingStatus, new_run_key
from dimred._core.errors import PluginError, blame
from dimred._core.jsonable import json_ready
from dimred._core.runfiles import RUN_RESULTS
from dimred._core.settings import TrainingSettings
from dimred._engine import evaluation
from dimred._engine.checkpoint import write_checkpoint
from dimred._engine.training import Listener, Trainer
from dimred._io.written import check_results_kept, results_state, results_written

SAMPLE_ROWS = 1024  # rows whose codes ``sample_codes`` gives


class TrainingHandle(Training):
    """The engine's side of ``dimred.plugin.Training``."""

    def __init__(
        self,
        trainer: Trainer,
        settings: TrainingSettings,
        model: Model,
        *,
        directory: Path | None,
        checkpoint: Path | None,
        echo: Callable[[str], None],
        callback_states: Callable[[], dict[str, Any]],
        config: Mapping[str, Any],
    ) -> None:
        self.total_steps = trainer.total
        self.n_samples = len(trainer.X)
        self.settings = settings.for_rows(self.n_samples)  # as the loop takes them, as config.json records them
        self.config = config
        self.directory = directory
        self.is_main = trainer.world.is_main
        self.stop_reason: str | None = None
        self.run_key = new_run_key()
        self._checkpoint_due = False
        self._unsaved: set[str] = set()  # what was not finite at a checkpoint, said once
        self._trainer, self._checkpoint, self._echo, self._callback_states = trainer, checkpoint, echo, callback_states
        self._model = model  # the plugin named where its network fails to encode for a callback
        generator = torch.Generator().manual_seed(settings.seed)
        count = min(SAMPLE_ROWS, self.n_samples)
        self._sample = torch.randperm(self.n_samples, generator=generator)[:count].sort().values

    @property
    def history(self) -> list[dict[str, float]]:
        # a copy: the rows are the engine's own, which history.csv gets (a row a callback had added to took a
        # column no other row had and failed the run at its end; a NaN put in one was written with exit 0)
        return [dict(row) for row in self._trainer.history]

    def echo(self, text: str) -> None:
        if self.is_main:
            self._echo(text)

    def sample_codes(self) -> torch.Tensor:
        module = self._trainer.module
        with blame(self._model, "encode a sample of its training rows for the callbacks"):
            codes = evaluation.encode(module, self.sample_rows(), exact=False, advice=self._trainer.overflow_advice(),
                                      model=f"model '{self._model.name}'")  # fmt: skip
        module.train()
        return codes

    def sample_rows(self) -> torch.Tensor:
        return self._trainer.X[self._sample.to(self._trainer.X.device)]

    def stop(self, reason: str) -> None:
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"training.stop needs the reason as a sentence for the user, got {reason!r}")
        self.stop_reason = self.stop_reason or reason

    def save_checkpoint(self) -> None:
        self._checkpoint_due = self._checkpoint is not None and self.is_main

    def write_due_checkpoint(self) -> None:
        """The checkpoint asked for during this step, written once every callback has acted on the step: one
        written while later callbacks had yet to act would resume them a step behind an uninterrupted run."""
        if not self._checkpoint_due:
            return
        self._checkpoint_due = False
        tensors, facts = self._trainer.state()
        moments = [tensor for key, tensor in tensors.items() if key.startswith("optimizer.")]
        for what, learned in (("the weights", self._trainer.module.parameters()), ("the optimizer's moments", moments)):
            if not all(tensor.isfinite().all() for tensor in learned if tensor.is_floating_point()):
                # diverged since the step's loss was taken: the last good checkpoint stays the one to resume from
                self._say_unsaved(what, facts["step"])
                return
        facts |= {
            "callbacks": self._callback_states(),
            "stop_reason": self.stop_reason,  # a stop holds on resume
            "config": dict(self.config),
        }  # what it trains with: a resume checks config.json against it
        write_checkpoint(self._checkpoint, tensors, facts)

    def _say_unsaved(self, what: str, step: int) -> None:
        """Once, as a warning (stderr): no checkpoint can hold numbers that are not finite. Moments that overflowed
        (a learning rate far too high) leave the weights finite but stop them moving."""
        if self.is_main and what not in self._unsaved:
            self._unsaved.add(what)
            warnings.warn(f"no checkpoint from step {step} on: {what} are no longer finite numbers (a learning "
                          f"rate too high: --lr, now {self.settings.lr:g}); the last checkpoint stays",
                          stacklevel=2)  # fmt: skip


def restore_states(callbacks: Sequence[Callback], states: Mapping[str, Any]) -> None:
    """Give each callback of a resumed run the state its checkpoint holds (``Dispatcher.states``), before the
    run is checked: a callback may refuse the resume by it (``check_run``)."""
    for callback in callbacks:
        if callback.name in states:
            with blame(callback, "restore its state"):
                callback.load_state_dict(states[callback.name])


class Dispatcher(Listener):
    """Calls every callback at each event, naming the one that fails."""

    def __init__(self, callbacks: Sequence[Callback]) -> None:
        self.callbacks = list(callbacks)
        self.handle: TrainingHandle | None = None
        self._open: list[Callback] = []  # started and not yet ended: the ones a failure is told of
        self._written: dict[str, bytes | None] = {}  # dimred's own files as training starts (None: absent)
        self._present: tuple[str, ...] = ()  # those of them there then: config.json

    def states(self) -> dict[str, Any]:
        """Every callback's state as the checkpoint's JSON holds it; one it cannot hold names the callback."""
        states = {}
        for callback in self.callbacks:
            with blame(callback, "give its state (state_dict)"):
                state = callback.state_dict()
            if not isinstance(state, Mapping):
                raise PluginError(f"callback '{callback.name}' must return a dict from state_dict, not "
                                  f"{type(state).__name__}")  # fmt: skip
            try:  # NaN too: a checkpoint's JSON would hold it, and the run end with exit 0
                states[callback.name] = json_ready(state)
            except ValueError as error:
                raise PluginError(f"callback '{callback.name}' gave a state_dict holding {error} (a checkpoint "
                                  "holds finite numbers, text, and lists and dicts of them)") from None  # fmt: skip
        return states

    def _each(self, action: str, method: str, *arguments: Any) -> None:
        for callback in self.callbacks:
            self._call(callback, action, method, *arguments)

    def _call(self, callback: Callback, action: str, method: str, *arguments: Any, every_step: bool = False) -> None:
        """One callback's ``method``, named if it fails, and refused (the files put back, or removed) if it changed
        one of dimred's own files in the run folder: config.json, which --resume and --config read back, written
        before training and never again, around every call; the results dimred writes once training ends (which
        would replace the callback's), around every call but those after each step, whose time they would cost."""
        before = results_state(self.handle.directory, self._present if every_step else RUN_RESULTS)
        with blame(callback, action):
            getattr(callback, method)(self.handle, *arguments)
        check_results_kept(callback, self.handle.directory, before, self._written)

    def start(self, handle: TrainingHandle) -> None:
        self.handle = handle
        self._written = results_written(handle.directory, RUN_RESULTS)
        self._present = tuple(name for name, content in self._written.items() if content is not None)
        for callback in self.callbacks:
            self._open.append(callback)  # before its start: one that fails half-way may hold something open
            self._call(callback, "start", "on_fit_start")
        self.wants_every_step = self._in_any_process(any(callback.every_step for callback in self.callbacks))
        self._share_stop()  # one process stopping at the start stops all: each would otherwise wait on the others
        handle.write_due_checkpoint()

    def on_step(self, status: TrainingStatus) -> None:
        for callback in self.callbacks:
            if callback.every_step:
                self._call(callback, f"act at step {status.step}", "on_step", status, every_step=True)
        self._share_stop()

    def on_interval(self, status: TrainingStatus) -> None:
        self._each(f"act at step {status.step}", "on_interval", status)
        self._share_stop()

    def step_done(self) -> None:
        self.handle.write_due_checkpoint()

    def should_stop(self) -> bool:
        return self.handle is not None and self.handle.stop_reason is not None

    def end(self) -> None:
        for callback in self.callbacks:
            self._call(callback, "finish", "on_fit_end")
            self._open.remove(callback)
        self.handle.write_due_checkpoint()

    def fail(self, error: BaseException) -> None:
        """Tell the callbacks that started and did not end that training failed. The training's error is the
        one reported: a callback failing here is a warning. No checkpoint is written from here: a failed step's
        state is not one to resume from (the last checkpoint is)."""
        for callback in self._open:
            try:
                callback.on_fit_failed(self.handle, error)
            except Exception as problem:
                warnings.warn(f"callback '{callback.name}' failed to clean up after the failure: {problem}",
                              stacklevel=2)  # fmt: skip
        self._open = []

    def _in_any_process(self, wanted: bool) -> bool:
        """Under torchrun, whether a callback in any process acts every step (as they chose, starting): every
        process then shares each step's stop, where those with none had waited for the others at the next
        interval and those with one at the next step, all for good."""
        trainer = self.handle._trainer
        if not trainer.world.distributed:
            return wanted
        import torch.distributed as dist

        flag = torch.tensor([float(wanted)], device=trainer.X.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _share_stop(self) -> None:
        """Under torchrun, process 0's decision holds for every process."""
        trainer = self.handle._trainer
        if not trainer.world.distributed:
            return
        import torch.distributed as dist

        flag = torch.tensor([1.0 if self.should_stop() else 0.0], device=trainer.X.device)
        dist.broadcast(flag, src=0)
        if flag.item() and self.handle.stop_reason is None:
            self.handle.stop_reason = "stopped by process 0"
        elif not flag.item():
            self.handle.stop_reason = None
