"""Unit tests of the engine pieces that need no training: config tree, LR schedules,
weight-decay rule, metrics, losses."""

import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT

from core import config, losses
from core.errors import ConfigError
from engine import metrics, optim, schedules


# ----------------------------------------------------------------------------- config
def test_defaults_are_the_embedded_job():
    cfg = config.make_config()
    assert cfg["dataset_name"] == "digits"
    assert cfg["model_dir"] == "runs/digits"
    assert cfg["piecewise_lr_decay_rates"] == [1.0, 0.1, 0.01, 0.001, 1e-4]


def test_presets_apply_in_order_and_overrides_win(tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text("batch_size: 32\nbase_learning_rate: 0.4\nlearning_rate_decay_type: piecewise\n")
    b = tmp_path / "b.yaml"
    b.write_text("batch_size: 16\npiecewise_lr_boundary_epochs: [1, 2]\n"
                 "piecewise_lr_decay_rates: [1, 0.1, 0.01]\n")
    cfg = config.make_config([str(a), str(b)], base_learning_rate=0.2)
    assert cfg["batch_size"] == 16
    assert cfg["base_learning_rate"] == 0.2
    assert cfg["piecewise_lr_boundary_epochs"] == [1.0, 2.0]


@pytest.mark.parametrize("text, message", [
    ("batch_sz: 3\n", "unknown key 'batch_sz'"),
    ("dtype: fp64\n", "bad value 'fp64' for 'dtype'"),
    ("batch_size: [1, 2\n", "not valid YAML"),
    ("- a\n- b\n", "must be a mapping"),
])
def test_bad_presets_name_file_and_key(tmp_path, text, message):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match="bad.yaml") as e:
        config.make_config([str(p)])
    assert message in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("overrides, message", [
    (dict(batch_size=0), "--batch_size must be >= 1, got 0"),
    (dict(label_smoothing=1.0), "--label_smoothing"),
    (dict(learning_rate_decay_type="piecewise", piecewise_lr_decay_rates=["1", "0.1"]),
     "needs 5 values"),
    (dict(eval_only=True, clean=True), "would delete"),
    (dict(kd_logits_path="/x"), "need --kd_temp > 0"),
    (dict(kd_temp=1.0, kd_logits_path="/x", teacher="run:/y"), "exclude each other"),
    (dict(kd_temp=2.0, reinforce_data_path="/x"), "needs --kd_temp=1"),
    (dict(kd_temp=1.0, reinforce_data_path="/x", randaugment="2,9"), "unset --randaugment"),
    (dict(kd_temp=-1.0), "--kd_temp must be >= 0"),
    (dict(multicrop="1,8", mixup_type="cutmix"), "--multicrop cannot be combined"),
    (dict(multicrop="1"), "--multicrop: expected 'G,L'"),
    (dict(multicrop="0,8"), "--multicrop: need at least 1 global crop"),
    (dict(multicrop="1,8", multicrop_local_scale=["0.3", "0.2"]), "local scale must satisfy"),
    (dict(multicrop="1,8", multicrop_global_scale=["0.5"]), "--multicrop_global_scale"),
    (dict(bl_alpha=1.0), "apply to Big-Little Net only"),
    (dict(nesterov=True, momentum=0.0), "--nesterov"),
    (dict(num_cpu_replicas=2, num_gpus=1), "cannot be combined"),
])
def test_inconsistent_combinations_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        config.make_config(**overrides)


# A run not longer than its warm-up: the warm-up is clamped to half the run, with one
# warning line naming both values (the reported case: any preset with --train_epochs=1).
@pytest.mark.parametrize("preset, epochs, warmup", [
    ("imagenette_r18_vanilla.yaml", 1, 1.0),   # warm-up 1 of 12 epochs
    ("vanilla_r50_imagenet.yaml", 1, 5.0),     # 5 of 120
    ("vanilla_r50_imagenet.yaml", 5, 5.0),     # as long as the run: refused before too
    ("trex_r50_imagenet.yaml", 3, 10.0),
])
def test_a_short_run_clamps_the_presets_warmup(tmp_path, capsys, preset, epochs, warmup):
    path = os.path.join(ROOT, "configs", preset)
    assert config.make_config([path], model_dir=str(tmp_path / "long"))[
        "lr_warmup_epochs"] == warmup
    capsys.readouterr()
    cfg = config.make_config([path], train_epochs=epochs, model_dir=str(tmp_path / "short"))
    assert cfg["train_epochs"] == epochs and cfg["lr_warmup_epochs"] == epochs / 2
    lines = capsys.readouterr().err.splitlines()
    assert [line for line in lines if line.startswith("warning:")] == [
        f"warning: --lr_warmup_epochs={warmup} (from {path}) is not shorter than "
        f"--train_epochs={epochs}: using --lr_warmup_epochs={epochs / 2} (half the run)"]


def test_a_warmup_shorter_than_the_run_is_kept_silently(tmp_path, capsys):
    cfg = config.make_config(train_epochs=2, lr_warmup_epochs=1.99, model_dir=str(tmp_path))
    assert cfg["lr_warmup_epochs"] == 1.99
    assert "warning" not in capsys.readouterr().err


def test_a_clamped_warmup_from_the_command_line_or_defaults_names_its_origin(tmp_path,
                                                                             capsys):
    cfg = config.make_config(train_epochs=12, lr_warmup_epochs=12, model_dir=str(tmp_path))
    assert cfg["lr_warmup_epochs"] == 6.0
    assert "--lr_warmup_epochs=12.0 (from the command line) is not shorter than " \
           "--train_epochs=12: using --lr_warmup_epochs=6.0" in capsys.readouterr().err
    cfg = config.make_config(train_epochs=1, model_dir=str(tmp_path))  # small-image defaults
    assert cfg["lr_warmup_epochs"] == 0.5
    assert "=1.0 (from the defaults)" in capsys.readouterr().err


def test_the_clamped_schedule_warms_up_then_decays_to_zero(tmp_path):
    cfg = config.make_config([os.path.join(ROOT, "configs", "imagenette_r18_vanilla.yaml")],
                             train_epochs=1, model_dir=str(tmp_path))
    lr = schedules.from_config(cfg, steps_per_epoch=100, total_steps=100)
    peak = cfg["base_learning_rate"]
    assert lr.warmup_steps == 50
    assert float(lr(25)) == pytest.approx(peak / 2)
    assert float(lr(50)) == pytest.approx(peak)
    assert float(lr(100)) == pytest.approx(0.0, abs=1e-7)


def test_a_short_run_keeps_its_other_errors(tmp_path):
    with pytest.raises(ConfigError, match="needs 5 values"):
        config.make_config([os.path.join(ROOT, "configs", "imagenette_r18_vanilla.yaml")],
                           train_epochs=1, learning_rate_decay_type="piecewise",
                           piecewise_lr_decay_rates=["1", "0.1"], model_dir=str(tmp_path))


def test_missing_preset_file():
    with pytest.raises(ConfigError, match="preset file not found: nope.yaml"):
        config.make_config(["nope.yaml"])


# ----------------------------------------------------------------------------- schedules
def _lr(kind, step, **kw):
    args = dict(base_lr=1.0, steps_per_epoch=10, total_steps=100)
    args.update(kw)
    return float(schedules.WarmupDecay(kind, **args)(step))


def test_warmup_is_linear_from_zero():
    assert _lr("cosine", 0, warmup_epochs=2) == 0.0
    assert _lr("cosine", 10, warmup_epochs=2) == pytest.approx(0.5)
    assert _lr("cosine", 20, warmup_epochs=2) == pytest.approx(1.0)


def test_cosine_reaches_zero_at_the_end():
    assert _lr("cosine", 60, warmup_epochs=2) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert _lr("cosine", 100, warmup_epochs=2) == pytest.approx(0.0, abs=1e-7)


def test_exponential_is_staircase_after_warmup():
    kw = dict(warmup_epochs=1, decay_factor=0.5, epochs_per_decay=2)
    assert _lr("exponential", 29, **kw) == pytest.approx(1.0)
    assert _lr("exponential", 30, **kw) == pytest.approx(0.5)
    assert _lr("exponential", 50, **kw) == pytest.approx(0.25)


def test_polynomial_spans_epochs_per_decay():
    kw = dict(epochs_per_decay=4, end_lr=0.1)
    assert _lr("polynomial", 20, **kw) == pytest.approx(0.55)
    assert _lr("polynomial", 80, **kw) == pytest.approx(0.1)


def test_piecewise_boundaries_are_absolute_epochs():
    kw = dict(boundary_epochs=[3, 6], decay_rates=[1, 0.1, 0.01], warmup_epochs=1)
    assert _lr("piecewise", 29, **kw) == pytest.approx(1.0)
    assert _lr("piecewise", 30, **kw) == pytest.approx(0.1)
    assert _lr("piecewise", 65, **kw) == pytest.approx(0.01)
    assert _lr("fixed", 99) == 1.0


# ----------------------------------------------------------------------------- optimizer
def test_weight_decay_rule_skips_bn_and_biases():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(2, name="fc")(x)
    model = keras.Model(inputs, out)
    names = sorted(v.path for v in optim.decayed_variables(model))
    assert names == ["conv/kernel", "fc/kernel"]
    penalty = float(optim.l2_penalty(optim.decayed_variables(model), 0.1))
    expected = 0.1 * sum(0.5 * np.sum(np.square(v.numpy()))
                         for v in optim.decayed_variables(model))
    assert penalty == pytest.approx(expected, rel=1e-5)


# ----------------------------------------------------------------------------- metrics
def test_ece_and_topk_sums_match_numpy_reference():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(257, 7)).astype(np.float32) * 3
    labels = rng.integers(0, 7, size=257)
    probs = tf.nn.softmax(logits).numpy()
    acc = metrics.Accumulator()
    for start in range(0, 257, 64):  # streaming over batches gives the same answer
        sl = slice(start, start + 64)
        n = len(labels[sl])
        acc.add({k: v.numpy() for k, v in metrics.batch_sums(
            logits[sl], labels[sl], np.ones(n, np.float32), 7).items()})
    res = acc.result()
    assert res["count"] == 257
    assert res["ece"] == pytest.approx(metrics.expected_calibration_error(probs, labels),
                                       abs=1e-6)
    assert res["top1"] == pytest.approx(np.mean(probs.argmax(1) == labels))
    top5 = np.argsort(-logits, axis=1)[:, :5]
    assert res["top5"] == pytest.approx(np.mean([label in t for label, t in zip(labels, top5)]))


def test_padding_examples_count_for_nothing():
    logits = np.array([[5.0, 0.0], [0.0, 5.0]], np.float32)
    sums = metrics.batch_sums(logits, np.array([0, 0]), np.array([1.0, 0.0]), 2)
    assert float(sums["count"]) == 1.0 and float(sums["top1"]) == 1.0


def test_ece_hand_example():
    # Two bins used: conf 0.95 (correct) and conf 0.65 (wrong) -> ECE = 0.5*0.05 + 0.5*0.65
    probs = np.array([[0.95, 0.05], [0.35, 0.65]])
    assert metrics.expected_calibration_error(probs, np.array([0, 0])) == pytest.approx(0.35)


# ----------------------------------------------------------------------------- losses
def test_label_smoothing_applied_once():
    t = losses.one_hot_targets(tf.constant([1]), 4, 0.1).numpy()
    np.testing.assert_allclose(t, [[0.025, 0.925, 0.025, 0.025]], rtol=1e-6)
    logits = tf.constant([[1.0, 2.0, 0.0, -1.0]])
    ce = float(losses.soft_cross_entropy(t, logits)[0])
    ref = -np.sum(t * tf.nn.log_softmax(logits).numpy())
    assert ce == pytest.approx(ref, rel=1e-6)
