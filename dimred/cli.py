"""The ``dimred`` command: parses options, calls the library, prints. No logic of its own.

Only click is imported at start-up; torch and the plugins load inside the commands that need them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import click
from click.core import ParameterSource

from dimred._core import defaults as defaults
from dimred._core.environment import switch
from dimred._core.errors import (
    OUT_OF_MEMORY_ADVICE,
    DimredError,
    PluginExit,
    SkippedPluginWarning,
    is_out_of_memory,
    note_stop,
    noted_stop,
    stops_noted,
)
from dimred._io.signals import Terminated

DEBUG_ENV = "DIMRED_DEBUG"
ONE_PROCESS_COMMANDS = ("compare", "evaluate", "encode", "decode", "export")  # refused under torchrun


_NO_ARGUMENTS = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click 8.2 and later


class _Group(click.Group):
    """Every failure ends as one ``Error:`` line on stderr and an exit code: 2 for usage errors, 1 for errors at
    run time, 130 for Ctrl-C. ``--debug`` (or DIMRED_DEBUG=1) shows the traceback instead."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            if (ctx.obj or {}).get("debug") and not isinstance(error, BrokenPipeError):
                raise
            if (stop := noted_stop()) is not None:  # an error a library raised in place of the stop it swallowed
                raise stop from error
            _report(ctx, error)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            with _stops_as_interrupts():
                result = super().main(*args, standalone_mode=False, **kwargs)
                if (stop := noted_stop()) is not None:  # raised where Python discards it, and never met again
                    raise stop
            exit_code = result if isinstance(result, int) else 0
        except _NO_ARGUMENTS as error:  # bare ``dimred``: the help, as click shows it, not as an error
            error.show()
            exit_code = error.exit_code
        except click.ClickException as error:
            _say_error(_click_message(error))
            exit_code = error.exit_code
        except OSError as error:  # --help or --version written to a full disk, say
            _say_error(_refused_by_the_system(error))
            exit_code = 1
        except PluginExit as error:  # whatever its status, which would pass for one of dimred's own
            _say_error(error.message)
            exit_code = 1
        except (click.Abort, KeyboardInterrupt) as error:
            interrupt = error if isinstance(error, KeyboardInterrupt) else error.__context__
            terminated = isinstance(interrupt, Terminated)
            where = "".join(f"; {note}" for note in getattr(interrupt, "__notes__", ()))  # its folder, how to go on
            _say_error(f"{'terminated' if terminated else 'interrupted'}; files already written are complete, "
                       f"nothing was half-written{where}")  # fmt: skip
            exit_code = 143 if terminated else 130
        if standalone_mode:
            sys.exit(exit_code)
        return exit_code


def _report(ctx: click.Context, error: Exception) -> None:
    """The one ``Error:`` line and the exit code of a command that failed."""
    if isinstance(error, DimredError):
        _say_error(str(error))
        ctx.exit(error.exit_code)
    if isinstance(error, BrokenPipeError):  # stdout's reader left (``| head``): stop quietly, as SIGPIPE would
        _quiet_stdout()
        ctx.exit(128 + signal.SIGPIPE)
    if isinstance(error, OSError):
        _say_error(_refused_by_the_system(error))
    elif is_out_of_memory(error):
        _say_error(f"dimred {OUT_OF_MEMORY_ADVICE}")
    else:
        _say_error(f"unexpected {type(error).__name__}: {error} (rerun with --debug to see where)")
    ctx.exit(1)


# how Python splits lines: each written as its escape, so that a path holding one leaves the error one line
_LINE_BREAKS = {ord(char): repr(char)[1:-1] for char in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def _say_error(message: str) -> None:
    """The one ``Error:`` line on stderr."""
    click.echo(f"Error: {message.translate(_LINE_BREAKS)}", err=True)


def _click_message(error: click.ClickException) -> str:
    """click's message, in dimred's words where click's own read as a fault ("Got unexpected extra argument")."""
    message = error.format_message()
    extra = re.match(r"Got unexpected (extra arguments?) (.*)", message)
    if extra is None:
        return message
    context = getattr(error, "ctx", None)
    where = f"; see '{context.command_path} --help'" if context is not None else ""
    return f"{extra[1]} {extra[2]}: the command takes no more{where}"


def _refused_by_the_system(error: OSError) -> str:
    """The one line for a read or write the system refused: a full disk, output to /dev/full, ..."""
    return f"{error.strerror or error}" + (f": {error.filename}" if error.filename else "")


@contextlib.contextmanager
def _stops_as_interrupts() -> Iterator[None]:
    """SIGTERM raised as ``Terminated`` and Ctrl-C as KeyboardInterrupt (where Python's own handler has it), each
    noted as it is raised (``note_stop``)."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers live in the main thread
        yield
        return

    def stop(number: int, _frame: Any) -> None:
        interrupt = Terminated() if number == signal.SIGTERM else KeyboardInterrupt()
        note_stop(interrupt)
        raise interrupt

    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    with stops_noted():
        try:
            for number, handler in previous.items():
                if number == signal.SIGTERM or handler is signal.default_int_handler:
                    signal.signal(number, stop)
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:  # fmt: skip
    click.echo(f"Warning: {message}", err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help=f"Show full tracebacks of errors (also {DEBUG_ENV}=1).")
@click.version_option(package_name="dimred")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """dimred: reduce the dimensions of data with neural autoencoders and compare them with classical methods.

    Start with:  dimred run --dataset swissroll --model mlp-ae
    """
    debug = debug or switch(DEBUG_ENV)
    ctx.obj = {"debug": debug}
    if not debug:
        warnings.showwarning = _show_warning
    if ctx.invoked_subcommand in ONE_PROCESS_COMMANDS and _under_torchrun():
        raise click.UsageError(f"{ctx.invoked_subcommand} runs in one process; start it without torchrun (dimred run "
                               "trains under it)")  # fmt: skip


def _under_torchrun() -> bool:
    """Whether torchrun started this process among others: every one would do the whole command and race to write.
    (WORLD_SIZE alone is set by other launchers too, around programs that may call dimred's library.)"""
    processes = os.environ.get("WORLD_SIZE", "1")
    return bool(os.environ.get("TORCHELASTIC_RUN_ID")) and processes.isdecimal() and int(processes) > 1


def _parse_settings(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    settings = {}
    for text in values:
        key, separator, value = text.partition("=")
        key = key.strip()
        if not separator or not key:
            raise click.BadParameter(f"'{text}' is not KIND.OPTION=VALUE (e.g. dataset.n_samples=2500)")
        # a key given twice with two values: which was meant is not for us to guess
        if key in settings and settings[key].strip() != value.strip():
            raise click.BadParameter(f"{key} is set twice ({settings[key]!r} and {value!r}); give it once")
        settings[key] = value
    return settings


class _Automatic(click.ParamType):
    """A number, ``auto`` (the model plugin chooses for the data) or, for the batch size, ``full``."""

    def __init__(self, number: type, *, full: bool = False) -> None:
        self.number, self.full = number, full
        self.name = f"{number.__name__.upper()}|auto" + ("|full" if full else "")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value).strip().lower()
        if text == "auto" or value is None:
            return "auto"
        if self.full and text == "full":
            return None
        try:
            return self.number(value)
        except ValueError:
            kind = "a whole number" if self.number is int else "a number"
            choices = f"{kind}, 'auto'" + (" or 'full'" if self.full else "")
            self.fail(f"'{value}' is not {choices}", param, ctx)


class _Fraction(click.FloatRange):
    """A share of the rows, from 0 to below 1."""

    def __init__(self) -> None:
        super().__init__(0, 1, max_open=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            float(value)
        except (TypeError, ValueError):
            self.fail(f"'{value}' is not a number; give a fraction of the rows from 0 (none) to below 1, e.g. 0.2",
                      param, ctx)  # fmt: skip
        return super().convert(value, param, ctx)


class _RowProgress:
    """A progress bar of rows on stderr, so stdout carries only results (training draws its own, a callback); where
    stderr is no terminal (a log, a batch job), which a bar cannot redraw in, a line at each tenth of the rows, as
    training writes."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._bar: Any = None
        self._done = 0
        self._tenths = 0

    def __call__(self, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            if (tenths := done * 10 // max(1, total)) > self._tenths:
                self._tenths = tenths
                click.echo(f"{self._label}: {done * 100 // max(1, total)}% ({done} of {total} rows)", err=True)
            return
        if self._bar is None:
            self._bar = click.progressbar(length=total, label=self._label, file=sys.stderr, show_eta=True)
            self._bar.__enter__()
        self._bar.update(done - self._done)
        self._done = done
        if done >= total:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _path(**checks: bool) -> click.Path:
    """A file or folder argument. Whether it can be read is dimred's to say, in its own words and with exit 1, as
    for a data file named in --set; click's own check had refused it as a usage error (exit 2)."""
    return click.Path(readable=False, **checks)


def _choice(flag: str, choices: tuple[str, ...], default: str, help: str) -> Any:
    return click.option(flag, type=click.Choice(choices), default=default, show_default=True, help=help)


def _holdout_option(default: str) -> Any:
    return click.option("--holdout", type=_Fraction(), default=None,
                        help="Share of rows held out (stratified by labels) and scored through the model's transform "
                        f"as holdout.* metrics; 0 turns it off [default: {default}].")  # fmt: skip


_DEVICE_OPTION = _choice("--device", defaults.DEVICES, defaults.DEVICE, "auto picks cuda, then mps, then cpu.")


@cli.command()
@click.option("--config", "config_file", type=_path(), default=None,
              help="An experiment file (.toml, or a run's config.json); flags given here override it.")  # fmt: skip
@click.option(
    "--dataset", default=None, help="Dataset plugin (see `dimred plugins`); required unless --config names one."
)
@click.option("--model", default=None, help="Model plugin (see `dimred plugins`); required unless --config names one.")
@click.option("--loss", "losses", multiple=True, metavar="NAME[:WEIGHT]",
              help="Loss plugin; a weighted sum as NAME+NAME:WEIGHT or repeated (--loss mse+geodesic:10, "
              "--loss mse --loss geodesic:10) [default: the model's own].")  # fmt: skip
@click.option(
    "--reporter",
    "reporters",
    multiple=True,
    help="Reporter plugin; repeat for several. Naming any replaces the default ones (name those you keep too) "
    "[default: all default ones].",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    callback=_parse_settings,
    metavar="KIND.OPTION=VALUE",
    help="Set a plugin option, e.g. dataset.n_samples=2500 or reporter.codes-plot.dpi=200; repeatable.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=None,
    help=f"Optimizer steps to train for [default: the model's choice for the data, else {defaults.STEPS}; "
    "unless --epochs is given].",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Train for this many passes over the data instead (each in whole batches: a last partial batch is left "
    "out of that pass).",
)
@click.option("--batch-size", type=_Automatic(int, full=True), default="auto", show_default=True,
              help="Samples per step, 'full' for the whole data set, or auto: the model's choice for the data, "
              f"else {defaults.BATCH_SIZE}.")  # fmt: skip
@click.option("--lr", type=_Automatic(float), default="auto", show_default=True,
              help="Peak learning rate (Adam's; Muon's steps scale with it); auto: the model's choice, "
              f"else {defaults.LR}.")  # fmt: skip
@click.option("--weight-decay", type=_Automatic(float), default="auto", show_default=True,
              help="Decoupled weight decay (AdamW); auto: the model's choice, else 0.")  # fmt: skip
@_choice("--schedule", defaults.SCHEDULES, defaults.SCHEDULE, "Learning-rate schedule.")
@_choice("--dtype", defaults.DTYPES, defaults.DTYPE, "Floating-point type of training.")
@_choice("--precision", defaults.PRECISIONS, defaults.PRECISION, "Arithmetic of the layers in training: bf16 computes "
         "them in bfloat16 (mixed precision); auto: where the model suggests it and the device computes bfloat16 "
         "natively.")  # fmt: skip
@_choice("--optimizer", defaults.OPTIMIZERS, defaults.OPTIMIZER, "adam, or muon: Muon for the weight matrices of "
         "inner layers, Adam for the rest; auto: the model's choice, else adam.")  # fmt: skip
@_choice(
    "--scaler", defaults.SCALERS, defaults.SCALER, "Feature scaling, fitted on the training data, saved with the model."
)
@_DEVICE_OPTION
@click.option(
    "--seed",
    type=int,
    default=defaults.SEED,
    show_default=True,
    help="Seed of data, initialisation and batches (0 to 4294967295).",
)
@click.option(
    "--out", type=_path(), default=None, help="Run directory [default, or 'auto': runs/<dataset>-<model>-<time>]."
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Allow writing into an existing, non-empty run directory (an earlier run's files there are removed first).",
)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=1),
    default=None,
    help="Save the training state to the run directory every N steps, so --resume can continue it.",
)
@click.option(
    "--resume",
    "resume_directory",
    type=_path(),
    default=None,
    help="Continue the killed run in this directory from its last checkpoint, with its config.json.",
)
@_holdout_option("0.1 from 500 to 2 000 000 rows for models that map new rows, else 0")
@click.option("--callback", "callbacks", multiple=True, metavar="NAME",
              help="Add a callback (see `dimred plugins`), e.g. early-stopping; no-NAME turns a default one off "
              "(no-collapse); repeatable.")  # fmt: skip
@click.pass_context
def run(ctx: click.Context, config_file: str | None, resume_directory: str | None, **arguments: Any) -> None:
    """Train a model on a dataset, evaluate it and save it with its plots and metrics."""
    from dimred._api.command import run_command

    arguments["reporters"] = list(arguments["reporters"]) or None
    arguments["callbacks"] = list(arguments["callbacks"]) or None
    given = {name for name in ctx.params if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE}
    with _skips_said_once():
        result = run_command(arguments, given, config_file=config_file, resume_directory=resume_directory,
                             echo=click.echo)  # fmt: skip
    if result.path is not None:
        click.echo(f"run directory: {result.path}")
    _fail_on_skipped(result.failures, result.path)


@contextlib.contextmanager
def _skips_said_once() -> Iterator[None]:
    """The library warns of each plugin it skipped; the command says them in its one Error line instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedPluginWarning)
        yield


def _fail_on_skipped(failures: list[str], path: Path | None) -> None:
    """Exit 1 when plugins failed and were skipped, though everything else was written; the Error line names
    each (the library's warnings of them are not shown: _skips_said_once)."""
    if failures:
        raise DimredError(f"{'; '.join(failures)} (skipped; the other results are in {path})")


@cli.command()
@click.argument("model", type=_path(exists=True))
@click.option("--dataset", required=True, help="Dataset plugin to evaluate on (see `dimred plugins`).")
@click.option("--set", "settings", multiple=True, callback=_parse_settings, metavar="KIND.OPTION=VALUE",
              help="A dataset, metric or reporter option, e.g. dataset.n_samples=2500; repeatable.")  # fmt: skip
@click.option(
    "--refit-scaler", is_flag=True, help="Fit the scaling on this data (the tutorial's way) instead of the saved one."
)
@click.option(
    "--reporter", "reporters", multiple=True,
    help="Reporter plugin; repeat for several. Naming any replaces the default ones [default: all default ones].",
)  # fmt: skip
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Seed of the data and the metric subsample, 0 to 4294967295 (1, not the training default 0: the data is "
    "fresh).",
)
@_DEVICE_OPTION
@click.option(
    "--out",
    type=_path(),
    default=None,
    help="Folder for the results [default, or 'auto': evaluations/<dataset>-<time> in MODEL's run directory, or "
    "beside a model file].",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Allow writing into an existing, non-empty --out folder (an earlier dimred output's files there are removed "
    "first).",
)
def evaluate(model: str, out: str | None, reporters: tuple[str, ...], **arguments: Any) -> None:
    """Score a trained model (a run directory or model file) on a dataset, without touching its training results."""
    from dimred._api import evaluate as api

    with _skips_said_once():
        result = api.evaluate(model, **arguments, reporters=list(reporters) or None,
                              out=api.AUTO if out is None else out, echo=click.echo)  # fmt: skip
    click.echo(f"results: {result.path}")
    _fail_on_skipped(result.failures, result.path)


@cli.command()
@click.option("--dataset", required=True, help="Dataset plugin (see `dimred plugins`).")
@click.option("--model", "models", multiple=True, required=True, help="A model to compare; repeat for several.")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True, help="Runs per model, seeds 0..N-1.")
@click.option("--set", "settings", multiple=True, callback=_parse_settings, metavar="KIND.OPTION=VALUE",
              help="dataset.OPTION, metric.NAME.OPTION, reporter.NAME.OPTION or callback.NAME.OPTION for every "
                   "model, loss.NAME.OPTION for the models that train with that loss (ne-ae: ne-tsne), "
                   "model.NAME.OPTION for one; repeatable.")  # fmt: skip
@click.option("--reporter", "reporters", multiple=True, metavar="NAME",
              help="A reporter for every run, e.g. mlflow (one MLflow run per run, nested in one for the "
                   "comparison); repeatable. The runs write no folder, so a reporter that writes a run's files "
                   "(codes-plot, reconstruction-plot) writes nothing here; one that shows comparisons (explorer) "
                   "shows this one. The comparison's table and figures are written whatever.")  # fmt: skip
@click.option("--callback", "callbacks", multiple=True, metavar="NAME",
              help="Add a callback to every run, e.g. mlflow; no-NAME turns a default one off; "
                   "repeatable.")  # fmt: skip
@click.option(
    "--out",
    type=_path(),
    default=None,
    help="Folder for the results [default, or 'auto': runs/compare-<dataset>-<time>].",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Allow writing into an existing, non-empty folder (an earlier dimred output's files there are removed first).",
)
@click.option("--save", is_flag=True, help="Keep each model's seed-0 fit as models/<model>.safetensors in the folder.")
@_holdout_option(
    "0.1 from 500 to 2 000 000 rows where a compared model maps new rows, else 0; every model "
    "trains on the same rows, those that map none (t-SNE) too, without held-out figures"
)
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Optimizer steps of every network model [default: each model's choice for the data].")  # fmt: skip
@_DEVICE_OPTION
def compare(models: tuple[str, ...], out: str | None, **arguments: Any) -> None:
    """Run several models on one dataset and print a table of their metrics (mean ± spread over seeds)."""
    from dimred._api.arguments import AUTO
    from dimred._api.compare import compare as run_comparison

    echo_err = lambda text: click.echo(text, err=True)  # noqa: E731 (progress lines stay off stdout)
    for many in ("reporters", "callbacks"):
        arguments[many] = list(arguments[many]) or None
    with _skips_said_once():
        comparison = run_comparison(models=list(models), out=AUTO if out is None else out, echo=echo_err, **arguments)
    click.echo(comparison.markdown())
    click.echo(f"results: {comparison.path}")
    if comparison.failures:
        raise DimredError(f"{'; '.join(comparison.failures)}; the rest is compared in {comparison.path}")


def _transcode_command(decoding: bool) -> Any:
    @click.argument("model", type=_path(exists=True))
    @click.argument("source", type=_path())
    @click.option("-o", "--output", "destination", required=True, type=_path(),
                  help="Output file: .npy or .csv" + ("." if decoding else " (.h5ad for an .h5ad SOURCE)."),
                  )  # fmt: skip
    @click.option("--overwrite", is_flag=True, help="Replace the output file if it exists.")
    @click.option("--header/--no-header", default=None,
                  help="For a text SOURCE (.csv, .tsv, .txt): its first row names the columns, or is data [default: "
                  + ("guessed" if decoding else "as the run said of its training file (dataset.header), else guessed")
                  + "].")  # fmt: skip
    @_DEVICE_OPTION
    def command(model: str, source: str, destination: str, overwrite: bool, header: bool | None, device: str,
                layer: str | None = None, key: str | None = None) -> None:  # fmt: skip
        from dimred._api import transcode as transcode

        run = transcode.decode_file if decoding else functools.partial(transcode.encode_file, layer=layer, key=key)
        rows = run(model, source, destination, overwrite=overwrite, device=device, header=header,
                   progress=_RowProgress("decoding" if decoding else "encoding"))  # fmt: skip
        click.echo(f"{'decoded' if decoding else 'encoded'} {rows} row{'' if rows == 1 else 's'} into {destination}")

    if decoding:
        return command
    command = click.option("--key", default=None, metavar="NAME",
                           help="For an .h5ad SOURCE: the obsm key the codes go to, replacing what the file holds "
                           "there [default: X_dimred, where the file holds none].")(command)  # fmt: skip
    return click.option("--layer", default=None, metavar="NAME",
                        help="For an .h5ad SOURCE: the layer to encode, or X [default: what MODEL (a run directory "
                        "or model file) was trained on].")(command)  # fmt: skip


cli.command(
    "encode",
    help="Write the codes of every row of SOURCE (.csv, .tsv, .txt, .npy, .npz) to the --output file, in batches; "
    "an .h5ad SOURCE's go into obsm['X_dimred'] (or --key) of an .h5ad copy.",
)(_transcode_command(decoding=False))
cli.command("decode", help="Write the reconstructions of the codes in SOURCE to the --output file, in batches.")(
    _transcode_command(decoding=True)
)


@cli.command()
@click.argument("run_path", metavar="RUN", type=_path(exists=True))
@click.option("--format", "export_format", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="File format of the exported model.")  # fmt: skip
@click.option("--out", required=True, type=_path(file_okay=False), help="Folder for encoder.onnx and decoder.onnx.")
@click.option(
    "--opset", type=click.IntRange(min=9), default=defaults.ONNX_OPSET, show_default=True, help="ONNX opset version."
)
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
def export(run_path: str, export_format: str, out: str, opset: int, overwrite: bool) -> None:
    """Write RUN's encoder and decoder (a run directory or model file) with the scaler folded in, for serving:
    encoder.onnx maps raw rows to codes, decoder.onnx codes to rows (ONNX Runtime; needs dimred[onnx])."""
    from dimred._api.export import export_onnx

    exporters = {"onnx": export_onnx}  # by --format
    for role, path in exporters[export_format](run_path, out, opset=opset, overwrite=overwrite).items():
        click.echo(f"{role}: {path}")


def _print_catalogue(listing: dict[str, Any]) -> None:
    from dimred._core.kinds import KIND

    for kind, entries in listing.items():
        if kind == "failed":
            continue
        click.secho(KIND[kind].plural, bold=True)
        for entry in entries:
            default = ", on by default" if entry.get("enabled_by_default") else ""
            click.echo(f"  {entry['name']}  {entry['description']}  [from {entry['source']}{default}]")
            missing = [method for method in ("transform", "inverse_transform") if entry.get(f"can_{method}") is False]
            if missing:
                click.echo(f"      has no {' or '.join(missing)}: metrics that need it are reported as not available")
            if entry.get("keeps_model_file") is False:
                click.echo("      keeps no model file (its state is its training rows): dimred encode, evaluate and "
                           "export and dimred.load take other models")  # fmt: skip
            for opt in entry["options"]:
                click.echo(f"      {opt['name']} ({opt['type']}, default {opt['default']!r}): {opt['help']}")
    if listing["failed"]:
        click.secho("failed plugins", bold=True, fg="red")
        for failure in listing["failed"]:
            click.echo(f"  {failure['plugin']} from {failure['source']}: {failure['error']}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def plugins(as_json: bool) -> None:
    """List every plugin by kind, with its options and where it comes from."""
    from dimred._host.registry import catalogue, get_registry

    listing = catalogue(get_registry())
    if as_json:
        click.echo(json.dumps(listing, indent=2, default=str))
    else:
        _print_catalogue(listing)


def _quiet_stdout() -> None:
    """Point stdout at the null device, so that nothing more goes to the closed pipe, at exit either."""
    with contextlib.suppress(OSError, ValueError):  # a stdout without a file descriptor (embedded, CliRunner)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, sys.stdout.fileno())
        finally:
            os.close(null)


def main() -> None:
    """The console script's entry point."""
    cli(prog_name="dimred")
