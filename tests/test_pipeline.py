"""One settings object, one seed, one `--set` grammar for every plugin kind, and the vae seam: a model that hands
its losses more than codes, added as a plugin without touching dimred/."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import dimred
from dimred.cli import cli
from dimred.plugin import TrainingSettings, UsageError
from dimred.plugins.callbacks import CollapseCheck, EarlyStopping
from dimred.plugins.swissroll import SwissRoll
from dimred.plugins.vae import KLDivergence, VariationalAutoencoder
from dimred.testing import check_callback_plugin, check_loss_plugin, check_model_plugin

SMALL = ["--set", "dataset.n_samples=300", "--batch-size", "100", "--steps", "40"]


def invoke(*arguments: str):
    return CliRunner().invoke(cli, list(arguments))


# -- the settings object ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"steps": "abc"}, "bad steps 'abc': must be a whole number"),
        ({"steps": 1.5}, "bad steps 1.5"),
        ({"steps": True}, "bad steps True"),
        ({"lr": "fast"}, "bad lr 'fast'"),
        ({"lr": float("nan")}, "bad lr nan"),
        ({"steps": 10, "epochs": 2}, "either --steps (steps) or --epochs (epochs)"),
        ({"seed": 2**63}, "bad seed 9223372036854775808: must be at most 4294967295 (torch's and scikit-learn's "),
        ({"steps": 2**70}, "bad steps 1180591620717411303424: must be at most 9223372036854775807"),
        ({"seed": -1}, "bad seed -1: must be at least 0"),
        ({"batch_size": 0}, "bad batch size 0: must be at least 1, full or auto"),
        ({"schedule": "onecycel"}, "did you mean 'onecycle'"),
        ({"stpes": 3}, "unknown setting 'stpes' (did you mean 'steps'?)"),
        ({"precision": "bf16", "dtype": "float64"}, "precision bf16 computes the layers of a float32 model"),
        ({"precision": "half"}, "bad precision 'half'"),
    ],
)
def test_training_settings_refuse_bad_values_with_one_message(values, message):
    with pytest.raises(UsageError) as caught:
        TrainingSettings.from_mapping(values, "somewhere")
    assert message in str(caught.value)


def test_training_settings_are_frozen_and_recorded_whole(default_run):
    settings = TrainingSettings(steps=10, seed=3)
    with pytest.raises(AttributeError):
        settings.steps = 20
    config = json.loads((default_run / "config.json").read_text())
    recorded = set(config["training"]) | {key for key in ("dtype", "scaler", "device", "seed") if key in config}
    assert recorded == set(TrainingSettings.names())
    assert dimred.load(default_run).fitted_.settings.seed == config["seed"]


@pytest.mark.parametrize(
    ("chosen", "suggested", "native", "dtype", "used"),
    [
        ("auto", "bf16", True, "float32", "bf16"),
        ("auto", "bf16", False, "float32", "float32"),  # emulated bfloat16 would be slower
        ("auto", "bf16", True, "float64", "float32"),
        ("auto", None, True, "float32", "float32"),
        ("float32", "bf16", True, "float32", "float32"),
        ("bf16", None, False, "float32", "bf16"),  # asked for by name: used wherever it runs
    ],
)
def test_auto_precision_takes_bf16_where_the_model_suggests_it_and_the_device_computes_it(
    chosen, suggested, native, dtype, used
):
    suggestions = {} if suggested is None else {"precision": suggested}
    settings = TrainingSettings(precision=chosen, dtype=dtype).resolved(suggestions, bf16_native=native)
    assert settings.precision == used


def test_bf16_precision_computes_the_layers_in_bfloat16_and_hands_the_losses_float32():
    from dimred._engine.distributed import EncodeDecode

    module = VariationalAutoencoder(VariationalAutoencoder.Options(hidden=(16,))).build(3)
    seen: list[torch.dtype] = []
    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear):
            layer.register_forward_hook(lambda _layer, _inputs, output: seen.append(output.dtype))
    x = torch.rand(8, 3)
    z, x_hat, extras = EncodeDecode(module, bf16=True)(x, 8)
    assert set(seen) == {torch.bfloat16}
    assert {z.dtype, x_hat.dtype} | {tensor.dtype for tensor in extras.values()} == {torch.float32}
    assert all(parameter.dtype == torch.float32 for parameter in module.parameters())
    seen.clear()
    EncodeDecode(module)(x, 8)
    assert set(seen) == {torch.float32}


def test_a_bf16_run_records_its_precision_and_trains_a_float32_model(tmp_path):
    result = invoke("run", "--dataset", "swissroll", *SMALL, "--model", "ne-ae", "--precision", "bf16",
                    "--device", "cpu", "--reporter", "metrics-table", "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["training"]["precision"] == "bf16"
    reducer = dimred.load(tmp_path / "run")
    assert reducer.fitted_.settings.precision == "bf16"
    assert all(parameter.dtype == torch.float32 for parameter in reducer.module_.parameters())
    assert np.isfinite(reducer.transform(SwissRoll(SwissRoll.Options(n_samples=50)).load(1).X)).all()


# -- one seed --------------------------------------------------------------------------------------------------
def test_the_same_seed_gives_the_same_weights_through_every_entry_point(tmp_path):
    """`dimred run`, `dimred.run` and `Reducer.fit` on the same rows with seed 5 train bitwise-identical weights
    on the CPU, and none of them touches the caller's global RNG."""
    data = SwissRoll(SwissRoll.Options(n_samples=300)).load(5).X
    assert invoke("run", "--dataset", "swissroll", *SMALL, "--model", "mlp-ae", "--seed", "5", "--reporter",
                  "metrics-table", "--device", "cpu", "--out", str(tmp_path / "cli")).exit_code == 0  # fmt: skip
    from_cli = dimred.load(tmp_path / "cli").module_.state_dict()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    from_run = dimred.run("swissroll", "mlp-ae", settings={"dataset.n_samples": 300}, batch_size=100, steps=40,
                          seed=5, out=None, reporters=[], device="cpu").reducer.module_.state_dict()  # fmt: skip
    from_reducer = dimred.Reducer(batch_size=100, steps=40, random_state=5, device="cpu").fit(data).module_
    assert torch.equal(torch.get_rng_state(), before)
    for name, value in from_cli.items():
        assert torch.equal(value, from_run[name]), name
        assert torch.equal(value, from_reducer.state_dict()[name]), name


# -- --set for every kind ------------------------------------------------------------------------------------------
def test_metric_options_can_be_set(tmp_path):
    spearman = {}
    for pairs in (10, 200_000):  # ten pairs of points rank their distances far less surely
        out = tmp_path / f"pairs-{pairs}"
        result = invoke("run", "--dataset", "swissroll", "--model", "pca", "--reporter", "metrics-table",
                        "--set", f"metric.intrinsic-spearman.pairs={pairs}", "--out", str(out))  # fmt: skip
        assert result.exit_code == 0, result.output
        spearman[pairs] = json.loads((out / "metrics.json").read_text())["spearman_intrinsic"]
    assert abs(spearman[10] - spearman[200_000]) > 1e-3
    bad = invoke("run", "--dataset", "swissroll", "--model", "mlp-ae", "--set", "metric.intrinsic-spearman.pairs=3")
    assert bad.exit_code == 2
    assert "pairs must be at least 10" in bad.output


@pytest.mark.parametrize(
    ("setting", "recorded"),
    [
        ("dataset.noise=0.2", ("dataset", "noise", 0.2)),
        ("model.dropout=0.1", ("model", "dropout", 0.1)),
        ("loss.mse.reduction=sum", None),
        ("reporter.codes-plot.dpi=50", ("reporters", "dpi", 50)),
        ("callback.collapse.checks=7", ("callbacks", "checks", 7)),
        ("metric.intrinsic-spearman.pairs=500", ("metrics", "pairs", 500)),
    ],
)
def test_set_reaches_every_kind(tmp_path, setting, recorded):
    out = tmp_path / "run"
    arguments = ["run", "--dataset", "swissroll", "--model", "mlp-ae", *SMALL, "--set", setting, "--out", str(out)]
    if setting.startswith("loss."):  # mse takes no options: the message names the option and the plugin
        result = invoke(*arguments)
        assert result.exit_code == 2
        assert "unknown option 'loss.mse.reduction'" in result.output
        return
    result = invoke(*arguments, "--reporter", "codes-plot")
    assert result.exit_code == 0, result.output
    if recorded is not None:
        section, option, value = recorded
        config = json.loads((out / "config.json").read_text())[section]
        entries = config if isinstance(config, list) else [config]
        assert any(entry["options"].get(option) == value for entry in entries)


def test_a_setting_of_an_unknown_kind_lists_the_grammar():
    result = invoke("run", "--dataset", "swissroll", "--model", "mlp-ae", "--set", "trainer.steps=3")
    assert result.exit_code == 2
    assert "callback.NAME.OPTION" in result.output
    assert "metric.NAME.OPTION" in result.output


# -- the vae seam ----------------------------------------------------------------------------------------------
def test_vae_and_kl_pass_the_plugin_checks():
    check_model_plugin(VariationalAutoencoder)
    check_loss_plugin(KLDivergence, extras={"mu": (2,), "logvar": (2,)})
    with pytest.raises(AssertionError, match="needs a model whose codes are Gaussian"):
        check_loss_plugin(KLDivergence)  # without the model's extras the loss says what it needs


def test_callbacks_pass_the_plugin_checks():
    check_callback_plugin(EarlyStopping, {"patience": 2})
    check_callback_plugin(CollapseCheck)


def test_vae_trains_saves_reloads_encodes_and_decodes(tmp_path):
    out = tmp_path / "vae"
    result = invoke("run", "--dataset", "swissroll", "--model", "vae", "--steps", "300", "--reporter",
                    "metrics-table", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rmse"] < 0.15
    assert metrics["trustworthiness"] > 0.9
    reducer = dimred.load(out)
    rows = SwissRoll(SwissRoll.Options(n_samples=50)).load(9).X
    codes = reducer.transform(rows)
    assert codes.shape == (50, 2)
    np.testing.assert_array_equal(codes, reducer.transform(rows))  # the mean: no sampling outside training
    np.save(tmp_path / "rows.npy", rows)
    assert invoke("encode", str(out), str(tmp_path / "rows.npy"), "-o", str(tmp_path / "codes.npy")).exit_code == 0
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"), codes, rtol=1e-6, atol=1e-6)
    assert invoke("decode", str(out), str(tmp_path / "codes.npy"), "-o", str(tmp_path / "back.npy")).exit_code == 0
    assert np.load(tmp_path / "back.npy").shape == (50, 3)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_vae_keeps_clusters_apart_where_its_codes_had_collapsed_to_the_priors_mean(seed):
    """At the tutorial's learning rate of 0.05 the KL term pulled every code of these three clusters to one point
    (the run failed its collapse check) for these seeds."""
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    clusters = rng.normal(size=(300, 3)) + np.repeat([[5.0], [-5.0], [0.0]], 100, axis=0)
    X = np.hstack([clusters, 0.1 * rng.normal(size=(300, 7))])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the suite's processes compute (two threads' rounding had trained these seeds)
    try:
        codes = dimred.Reducer(model="vae", random_state=seed).fit_transform(X)
    finally:
        torch.set_num_threads(threads)
    assert cross_val_score(KNeighborsClassifier(5), codes, np.repeat([0, 1, 2], 100), cv=3).mean() > 0.9


def test_kl_with_a_model_without_gaussian_codes_names_the_loss():
    result = invoke("run", "--dataset", "swissroll", "--model", "mlp-ae", "--loss", "mse", "--loss", "kl", *SMALL)
    assert result.exit_code == 2
    assert "loss 'kl' needs a model whose codes are Gaussian" in result.output
