"""Callbacks act while a model trains: they see every logging interval, can stop a run early (the reason reaches
metrics.json and the console), keep their state across --resume, and the built-in collapse check fails a run
whose codes collapse."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pytest
from click.testing import CliRunner

import dimred
from conftest import plugin_module
from dimred.cli import cli
from dimred.plugin import Callback, Data, Dataset, Loss, Training, TrainingStatus, option

QUICK = {"settings": {"dataset.n_samples": 300}, "batch_size": 100}


class Recorder(Callback):
    """Keeps what it saw; stops at a given step when told to."""

    name = "recorder"
    description = "records every event and may stop training"
    every_step = True
    seen: list = []

    @dataclass(frozen=True)
    class Options:
        stop_at: int = option(0, "stop at this step (0: never)")

    def on_fit_start(self, training: Training) -> None:
        Recorder.seen = [("start", training.total_steps)]

    def on_step(self, training: Training, status: TrainingStatus) -> None:
        Recorder.seen.append(("step", status.step))

    def on_interval(self, training: Training, status: TrainingStatus) -> None:
        Recorder.seen.append(("interval", status.step, status.loss, status.lr))
        if self.options.stop_at and status.step >= self.options.stop_at:
            training.stop(f"recorder: told to stop at step {self.options.stop_at}")

    def on_fit_end(self, training: Training) -> None:
        Recorder.seen.append(("end", len(training.history)))


@pytest.fixture
def recorder(register_in_process):
    register_in_process(plugin_module("recorder_plugin", register_callbacks=lambda register: register(Recorder)))


def test_a_callback_sees_every_step_and_every_logging_interval(recorder):
    result = dimred.run("swissroll", "mlp-ae", callbacks=["recorder"], steps=30, out=None, reporters=[], **QUICK)
    kinds = [event[0] for event in Recorder.seen]
    assert Recorder.seen[0] == ("start", 30)
    assert Recorder.seen[-1] == ("end", len(result.history))
    assert [event[1] for event in Recorder.seen if event[0] == "step"] == list(range(1, 31))
    intervals = [event for event in Recorder.seen if event[0] == "interval"]
    assert [event[1] for event in intervals] == [row["step"] for row in result.history]
    assert [event[2] for event in intervals] == pytest.approx([row["loss"] for row in result.history])
    assert kinds.count("interval") == len(result.history)


def test_a_callback_stops_a_run_early_and_its_reason_reaches_metrics_json(recorder, tmp_path):
    out = tmp_path / "stopped"
    arguments = ["run", "--dataset", "swissroll", "--model", "mlp-ae", "--set", "dataset.n_samples=300",
                 "--batch-size", "100", "--steps", "60", "--callback", "recorder", "--set",
                 "callback.recorder.stop_at=9", "--reporter", "metrics-table", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped_early"] is True
    assert metrics["stop_reason"] == "recorder: told to stop at step 9"
    assert metrics["steps_trained"] == 9
    assert "training stopped early at step 9: recorder: told to stop at step 9" in result.output
    assert (out / "model.safetensors").exists()


def test_early_stopping_ends_a_plateaued_run():
    result = dimred.run("swissroll", "mlp-ae", callbacks=["early-stopping"], steps=3000, schedule="constant",
                        lr=0.5, settings={"dataset.n_samples": 300, "callback.early-stopping.patience": 3},
                        batch_size=100, out=None, reporters=[])  # fmt: skip
    assert result.metrics["stopped_early"] is True
    assert result.metrics["stop_reason"].startswith("early-stopping:")
    assert result.history[-1]["step"] < 3000


def test_early_stopping_sees_a_plateau_of_a_negative_loss(register_in_process):
    """min_delta is a share of the best loss's size: below zero, a loss a little above the best counted as better,
    and the run never stopped."""

    class ShiftedMSE(Loss):
        name = "shifted-mse"
        description = "mean squared error minus 10 (a negative loss, as a log-likelihood's can be)"

        def __call__(self, batch):
            return ((batch.x_hat - batch.x) ** 2).mean() - 10.0

    register_in_process(plugin_module("shifted", register_losses=lambda register: register(ShiftedMSE)))
    result = dimred.run("swissroll", "mlp-ae", loss="shifted-mse", callbacks=["early-stopping"], steps=2000,
                        settings={"dataset.n_samples": 300, "callback.early-stopping.patience": 3,
                                  "callback.early-stopping.min_delta": 0.01}, batch_size=100, out=None,
                        reporters=[])  # fmt: skip
    assert result.metrics["stopped_early"] is True
    assert result.history[-1]["step"] < 2000


class Constant(Dataset):
    """Rows that carry no structure a bad learning rate could keep apart."""

    name = "blobs-wide"
    description = "wide data"

    def load(self, seed):
        rng = np.random.default_rng(seed)
        return Data(X=rng.random((600, 200)) ** 8)


def test_the_collapse_check_fails_a_collapsed_run_with_advice(register_in_process, tmp_path):
    """A learning rate far too high kills every ReLU of the encoder: the codes stop spreading."""
    register_in_process(plugin_module("wide_data", register_datasets=lambda register: register(Constant)))
    out = tmp_path / "collapsed"
    arguments = ["run", "--dataset", "blobs-wide", "--model", "geo-ae", "--lr", "5", "--steps", "400",
                 "--reporter", "metrics-table", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 1, result.output
    assert "Error: training collapsed" in result.output
    assert "--lr" in result.output
    assert "use a model that adapts to wide data (ne-ae)" in result.output  # 200 columns
    assert "no-collapse" in result.output
    turned_off = CliRunner().invoke(cli, [*arguments[:-1], str(tmp_path / "unchecked"), "--callback", "no-collapse"])
    assert turned_off.exit_code == 0, turned_off.output


def test_a_collapse_on_narrow_data_points_at_the_options_set_not_at_wide_data(tmp_path):
    """A repulsion of 1e-12 collapses the codes of a 3-D roll: the advice had sent the user to a model for wide
    data."""
    arguments = ["run", "--dataset", "swissroll", "--set", "dataset.n_samples=300", "--model", "mlp-ae", "--loss",
                 "ne-umap", "--set", "loss.ne-umap.repulsion=1e-12", "--steps", "200", "--reporter", "metrics-table",
                 "--out", str(tmp_path / "r")]  # fmt: skip
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 1, result.output
    assert "or reset a model or loss option or loss weight you set far from its default" in result.output
    assert "wide data" not in result.output


def test_a_collapse_under_a_weight_decay_that_empties_every_weight_names_the_decay(tmp_path):
    """It had been told to lower the learning rate and the input noise, neither of which trains, and to reset a
    model or loss option, which a training setting is not."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "blobs.npy", np.vstack([rng.normal(centre, 1, (40, 10)) for centre in (0, 6, 12)]))
    result = CliRunner().invoke(cli, ["run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'blobs.npy'}",
                                      "--model", "ne-ae", "--weight-decay", "5", "--reporter", "metrics-table",
                                      "--out", str(tmp_path / "decayed")])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "the weight decay (--weight-decay, weight_decay=; now 5: at lr 0.01 over 600 steps it takes nearly all " \
           "of every weight, whatever the gradients)" in result.output  # fmt: skip
    assert dimred.run("file", "ne-ae", settings={"dataset.path": str(tmp_path / "blobs.npy")}, out=None,
                      reporters=[]).codes.std() > 0.1  # the decay the model chose trains  # fmt: skip


def test_codes_that_differ_by_rounding_alone_are_a_collapse():
    """Rows of 1e6 + noise, unscaled: ne-ae's codes spread by 1e-7, float32 rounding, which had counted as a hundred
    places (exit 0, two distinct codes)."""
    rng = np.random.default_rng(0)
    with pytest.raises(
        dimred.DimredError,
        match=r"training collapsed by step \d+: the codes of 300 training rows "
        r"sit on \d distinct place.*scale the data",
    ):
        dimred.Reducer(model="ne-ae", scaler="none", callbacks=["no-progress"]).fit(1e6 + rng.normal(size=(300, 4)))


def test_a_collapse_under_input_noise_wider_than_the_clusters_names_the_noise(tmp_path):
    """Two blobs 40 deviations apart, scaled to [0, 1]: ne-ae's input noise (0.05 on 3 columns) is wider than a
    blob, which each blob's codes shrink into a point; the advice names the noise and a fifth of it (which trains:
    checked by hand, 300 steps, on one thread and two; at 30 deviations one thread's rounding did not collapse)."""
    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "far.csv", np.vstack([rng.normal(0, 1, (100, 3)), rng.normal(40, 1, (100, 3))]),
               delimiter=",")  # fmt: skip
    result = CliRunner().invoke(cli, ["run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'far.csv'}",
                                      "--model", "ne-ae", "--steps", "300", "--reporter", "metrics-table", "--holdout",
                                      "0", "--out", str(tmp_path / "noisy")])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "its input noise (--set model.noise=0.01; now 0.05, it blurs clusters narrower than that)" in result.output


@pytest.mark.parametrize(
    ("scale", "expected"),
    [(1e20, "codes of model .ne-ae. are not finite .* the untrained network overflows on the input, before any step; "
                "scale the data"),
     (1e-20, "sat on 1 distinct place before training too: the untrained network does not tell these rows apart at "
             r"the input's scale; scale the data \(--scaler minmax or standard, scaler=: it trained unscaled\)")],
)  # fmt: skip
def test_codes_lost_to_the_inputs_scale_before_any_step_are_not_blamed_on_the_learning_rate(scale, expected, tmp_path):
    """Unscaled rows of 1e20 overflow the untrained network, and of 1e-20 vanish under its biases: the codes were
    no use before training changed anything, so the advice is to scale the data, not to lower the learning rate."""
    np.save(tmp_path / "rows.npy", np.random.default_rng(0).normal(size=(300, 5)) * scale)
    result = CliRunner().invoke(cli, ["run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'rows.npy'}",
                                      "--model", "ne-ae", "--steps", "200", "--scaler", "none", "--reporter",
                                      "metrics-table", "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert re.search(expected, result.output), result.output
    assert "--lr" not in result.output


def test_a_run_too_short_for_the_interval_checks_is_checked_as_it_ends():
    """20 steps come before the first interval check: rows of 1e-12, unscaled, had ended with exit 0 and one code
    for every row. The codes are checked once as training ends."""
    X = np.random.default_rng(0).normal(size=(300, 4)) * 1e-12
    with pytest.raises(dimred.DimredError, match=r"^training collapsed: the codes of \d+ training rows sit on 1 "):
        dimred.Reducer(model="ne-ae", steps=20, scaler="none", callbacks=["no-progress"]).fit(X)
    fitted = dimred.Reducer(model="ne-ae", steps=20, callbacks=["no-progress"]).fit(X)  # scaled: it spreads
    assert len(np.unique(fitted.transform(X).round(3), axis=0)) > 100


def test_one_code_for_every_row_from_a_network_too_narrow_blames_the_network_not_the_data():
    """Two layers of four ReLUs, all off for these scaled rows: the advice had been to rescale the data."""
    from dimred.plugins.swissroll import SwissRoll

    X = SwissRoll(SwissRoll.Options(n_samples=300)).load(0).X[:60]
    expected = r"sit on 1 distinct place .* mapped rows on \d+ distinct places onto those few: a layer too narrow"
    with pytest.raises(dimred.DimredError, match=expected + r".* widen the hidden layers"):
        dimred.Reducer(steps=20, batch_size=100, random_state=0, callbacks=["no-progress"],
                       model_options={"hidden": [4, 4], "dropout": 0.0}).fit(X)  # fmt: skip


def test_codes_of_a_few_distinct_rows_on_as_few_places_are_no_collapse(tmp_path):
    """Four distinct points, fifteen copies each: their codes can sit on four places only."""
    points = np.random.default_rng(0).random((4, 5))
    np.save(tmp_path / "copies.npy", np.repeat(points, 15, axis=0))
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", "--dataset", "file", "--set", f"dataset.path={tmp_path / 'copies.npy'}",
                                      "--model", "ne-ae", "--steps", "200", "--reporter", "metrics-table", "--out",
                                      str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "stop_reason" not in json.loads((out / "metrics.json").read_text())


def test_unknown_callbacks_and_settings_are_named():
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "mlp-ae", "--callback", "erly"])
    assert result.exit_code == 2
    assert "unknown callback 'erly'" in result.output
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "mlp-ae", "--set",
                                      "callback.collapse.shrnk=1"])  # fmt: skip
    assert result.exit_code == 2
    assert "unknown option 'callback.collapse.shrnk'" in result.output
    # a one-call model: the name refused first, without a warning that the unknown callback would do nothing
    result = CliRunner().invoke(cli, ["run", "--dataset", "swissroll", "--model", "pca", "--callback", "erly"])
    assert result.exit_code == 2
    assert result.output.startswith("Error: unknown callback 'erly'")


def test_an_extra_argument_is_named_in_dimreds_words():
    """click's "Got unexpected extra argument" had read as a fault of dimred's."""
    result = CliRunner().invoke(cli, ["plugins", "extra"])
    assert result.exit_code == 2
    assert result.output.startswith("Error: extra argument (extra): the command takes no more; see '")
    assert result.output.endswith(" plugins --help'\n")  # 'dimred plugins', as a shell names the program


def test_progress_goes_to_a_log_as_a_line_per_tenth_of_the_steps_and_at_least_one_a_minute(monkeypatch, tmp_path):
    """Where stderr is not a terminal a bar cannot redraw: a long enough fit writes ten progress lines."""
    import dimred.plugins.callbacks as built_in

    def run(out: str):
        arguments = ["run", "--dataset", "swissroll", "--model", "mlp-ae", "--steps", "50", "--set",
                     "dataset.n_samples=300", "--reporter", "metrics-table", "--out", str(tmp_path / out)]  # fmt: skip
        result = CliRunner().invoke(cli, arguments)
        assert result.exit_code == 0, result.output
        return [line for line in result.output.splitlines() if line.startswith("training: ")]

    monkeypatch.setattr(built_in, "QUIET_SECONDS", 0.0)
    lines = run("logged")
    assert [line.split("%")[0] for line in lines] == [f"training: {tenth * 10}" for tenth in range(1, 11)]
    assert lines[-1].startswith("training: 100% (step 50 of 50), loss ")
    monkeypatch.setattr(built_in, "QUIET_SECONDS", 3600.0)
    assert run("quiet") == []
    # where a tenth takes longer than LINE_SECONDS, a line at each logging interval past it (here every step)
    monkeypatch.setattr(built_in, "QUIET_SECONDS", 0.0)
    monkeypatch.setattr(built_in, "LINE_SECONDS", 0.0)
    lines = run("often")
    assert [line.split(" of ")[0] for line in lines] == [f"training: {step * 2}% (step {step}" for step in range(1, 51)]


def test_a_failure_is_told_to_the_callbacks_that_started_and_did_not_end(register_in_process):
    """A callback failing in on_fit_start: those started before it (and itself) hear of the failure, those after
    it never started; a callback failing to clean up is a warning, and the run's own error is the one raised."""
    heard: list[str] = []

    def callback(name: str, fails_at_start: bool = False, fails_to_clean_up: bool = False) -> type[Callback]:
        class Hearing(Callback):
            description = "records the failures it hears of"

            def on_fit_start(self, training):
                if fails_at_start:
                    raise dimred.DimredError("cannot start")

            def on_fit_failed(self, training, error):
                heard.append(f"{self.name}: {error}")
                if fails_to_clean_up:
                    raise RuntimeError("cleaning up failed")

        Hearing.name = name
        return Hearing

    plugins = [callback("first", fails_to_clean_up=True), callback("second", fails_at_start=True), callback("third")]
    register_in_process(plugin_module("hearing", register_callbacks=lambda register: [register(p) for p in plugins]))
    cleaning_up = "callback 'first' failed to clean up after the failure: cleaning up failed"
    with pytest.warns(UserWarning, match=cleaning_up), pytest.raises(dimred.DimredError, match="cannot start"):
        dimred.run("swissroll", "mlp-ae", steps=5, out=None, reporters=[], callbacks=["first", "second", "third"],
                   settings={"dataset.n_samples": 200})  # fmt: skip
    assert heard == ["first: cannot start", "second: cannot start"]


class IntervalCounter(Callback):
    """Counts the logging intervals it saw, across --resume (its state), and is killed once at a step when told."""

    name = "interval-counter"
    description = "counts logging intervals"
    every_step = True
    counted: int = 0
    killed = False

    @dataclass(frozen=True)
    class Options:
        kill_at: int = option(0, "raise KeyboardInterrupt at this step, once (0: never)")

    def __init__(self, options=None) -> None:
        super().__init__(options)
        self.count = 0

    def on_step(self, training: Training, status: TrainingStatus) -> None:
        if status.step == self.options.kill_at and not IntervalCounter.killed:
            IntervalCounter.killed = True
            raise KeyboardInterrupt

    def on_interval(self, training: Training, status: TrainingStatus) -> None:
        self.count += 1

    def on_fit_end(self, training: Training) -> None:
        IntervalCounter.counted = self.count

    def state_dict(self) -> dict:
        return {"count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.count = state["count"]


def test_a_checkpoint_holds_the_state_of_callbacks_that_act_after_it_at_its_step(register_in_process, tmp_path):
    """The checkpoint callback comes first by name; what it saves at a step must still include what the callbacks
    after it did at that step, or a resumed run's callbacks go on one interval behind an uninterrupted run's."""
    register_in_process(plugin_module("counter_plugin", register_callbacks=lambda register: register(IntervalCounter)))

    settings = {**QUICK["settings"], "callback.interval-counter.kill_at": 15}

    def run(out: str, resume: bool = False):
        return dimred.run("swissroll", "mlp-ae", callbacks=["interval-counter"], steps=40, checkpoint_every=10,
                          out=tmp_path / out, reporters=[], settings=settings, batch_size=QUICK["batch_size"],
                          resume=resume)  # fmt: skip

    IntervalCounter.killed = True  # the uninterrupted run is not killed
    uninterrupted = run("whole")
    whole_count = IntervalCounter.counted
    IntervalCounter.killed = False
    with pytest.raises(KeyboardInterrupt):
        run("killed")
    resumed = run("killed", resume=True)
    assert IntervalCounter.counted == whole_count == len(uninterrupted.history)
    assert [row["step"] for row in resumed.history] == [row["step"] for row in uninterrupted.history]


@pytest.mark.parametrize(("state", "error"), [
    ({"best": np.float32(0.5), "seen": np.arange(2), "before": None}, None),
    ({"best": {0.5}}, "callback 'stateful' gave a state_dict holding a set, which JSON has no form for"),
    # had been written into the checkpoint's JSON, the run ending with exit 0 (dimred.testing refused them)
    ({"best": float("nan")}, "callback 'stateful' gave a state_dict holding nan, not a finite number"),
    ({"before": [float("-inf")]}, "callback 'stateful' gave a state_dict holding -inf, not a finite number"),
    ([0.5], "callback 'stateful' must return a dict from state_dict, not list"),
])  # fmt: skip
def test_a_callback_state_is_checkpointed_as_json_or_the_callback_is_named(register_in_process, tmp_path, state,
                                                                            error):  # fmt: skip
    class Stateful(Callback):
        name = "stateful"
        description = "keeps a state of numpy numbers"

        def state_dict(self):
            return state

    register_in_process(plugin_module("stateful_plugin", register_callbacks=lambda register: register(Stateful)))

    def run():
        return dimred.run("swissroll", "mlp-ae", callbacks=["stateful"], steps=20, checkpoint_every=10, reporters=[],
                          out=tmp_path / "run", **QUICK)  # fmt: skip

    if error is None:
        run()
        assert (tmp_path / "run" / "model.safetensors").exists()
    else:
        with pytest.raises(dimred.PluginError, match=error):
            run()


def test_a_model_failing_to_encode_for_the_collapse_check_is_the_one_named(register_in_process):
    from conftest import LinearNetwork
    from dimred.plugin import Model

    class Failing(LinearNetwork):
        def encode(self, x):
            raise RuntimeError("encode exploded")

    class FailingModel(Model):
        name = "fails-to-encode"
        description = "a network whose encode raises"

        def build(self, n_features):
            return Failing(n_features, 2)

    register_in_process(plugin_module("failing_model", register_models=lambda register: register(FailingModel)))
    with pytest.raises(dimred.PluginError, match=r"^model 'fails-to-encode' failed to encode a sample .*: encode expl"):
        dimred.run("swissroll", "fails-to-encode", steps=5, out=None, reporters=[], **QUICK)


def test_the_callback_check_trains_with_the_options_it_is_given(register_in_process):
    from dimred.testing import check_callback_plugin

    class NeedsItsOption(Callback):
        name = "needs-its-option"
        description = "refuses to start without its option set"

        @dataclass(frozen=True)
        class Options:
            ready: bool = option(False, "set to start")

        def on_fit_start(self, training: Training) -> None:
            if not self.options.ready:
                raise dimred.DimredError("not ready")

    register_in_process(plugin_module("needs_option", register_callbacks=lambda register: register(NeedsItsOption)))
    check_callback_plugin(NeedsItsOption, {"ready": True})
    with pytest.raises(AssertionError, match="fails in a run that checkpoints: not ready"):
        check_callback_plugin(NeedsItsOption)


def test_the_callback_check_finds_a_state_a_checkpoint_cannot_hold_or_a_resume_loses(register_in_process):
    from dimred.testing import check_callback_plugin

    class KeepsASet(Callback):
        name = "keeps-a-set"
        description = "a state of a set, which JSON cannot hold"

        def __init__(self, options=None):
            super().__init__(options)
            self.seen: object = []

        def on_interval(self, training, status):
            self.seen = {status.step}

        def state_dict(self):
            return {"seen": self.seen}

    class ForgetsOnLoad(KeepsASet):
        name = "forgets-on-load"
        description = "saves its state, and ignores it when loaded"

        def on_interval(self, training, status):
            self.seen = [status.step]

    def both(register):
        register(KeepsASet)
        register(ForgetsOnLoad)

    register_in_process(plugin_module("stateful", register_callbacks=both))
    with pytest.raises(AssertionError, match="gave a state_dict holding a set"):
        check_callback_plugin(KeepsASet)
    with pytest.raises(AssertionError, match="does not come back from load_state_dict"):
        check_callback_plugin(ForgetsOnLoad)


class StopsAsItStarts(Callback):
    name = "stops-as-it-starts"
    description = "stops training before its first step"

    def on_fit_start(self, training: Training) -> None:
        training.stop("nothing to train today")


def test_a_stop_as_training_starts_trains_no_step(register_in_process):
    """It had trained one step: the loop asked whether to stop only after a step."""
    register_in_process(plugin_module("stops_at_start", register_callbacks=lambda register: register(StopsAsItStarts)))
    said: list[str] = []
    result = dimred.run("swissroll", "mlp-ae", callbacks=["stops-as-it-starts"], steps=50, out=None, reporters=[],
                        settings={"dataset.n_samples": 300}, echo=said.append)  # fmt: skip
    assert (result.metrics["steps_trained"], result.metrics["stop_reason"]) == (0, "nothing to train today")
    assert result.history == []
    assert "training stopped early at step 0: nothing to train today" in said


def test_a_callback_named_for_a_model_fitted_in_one_call_is_said_to_do_nothing(tmp_path):
    """PCA runs no training loop: a callback named for it (MLflow's, TensorBoard's) had been dropped in silence,
    exit 0 and nothing logged. A warning, not a refusal: a comparison gives its callbacks to the networks in it."""
    with pytest.warns(
        UserWarning,
        match="model 'pca' is fitted in one call, without training steps, so callback "
        "'early-stopping', which acts while a model trains, does nothing for it",
    ):
        dimred.run(dataset="swissroll", model="pca", callbacks=["early-stopping"], out=None, settings=QUICK["settings"])
    arguments = ["--dataset", "swissroll", "--set", "dataset.n_samples=300", "--model", "pca"]
    result = CliRunner().invoke(cli, ["run", *arguments, "--reporter", "metrics-table", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "does nothing for it" not in result.stderr  # the default callbacks are not the user's to leave out
