"""Batch mixing (mixup / CutMix / switch): target arithmetic, λ correction, replay, and a
training step of each mode on 2 replicas."""

import numpy as np
import pytest
import tensorflow as tf

from engine import config, mixing, trainer
from engine.errors import ConfigError


def batch(n=8, size=16, classes=5):
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(-100, 100, (n, size, size, 3)), tf.float32)
    labels = tf.constant(rng.integers(0, classes, n))
    return images, tf.one_hot(labels, classes)


@pytest.mark.parametrize("mode", mixing.MODES)
def test_mixed_targets_sum_to_one_and_replay(mode):
    images, targets = batch()
    cfg = mixing.MixConfig(mode)
    seed = tf.constant([3, 4], tf.int64)
    x1, y1, lam1 = mixing.mix(images, targets, seed, cfg)
    x2, y2, lam2 = mixing.mix(images, targets, seed, cfg)
    np.testing.assert_allclose(y1.numpy().sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(x1.numpy(), x2.numpy())
    assert float(lam1) == float(lam2)
    # targets are λ·y + (1−λ)·reversed(y)
    want = float(lam1) * targets.numpy() + (1 - float(lam1)) * targets.numpy()[::-1]
    np.testing.assert_allclose(y1.numpy(), want, rtol=1e-5, atol=1e-6)


def test_cutmix_lambda_matches_the_pasted_area():
    images, targets = batch(n=4, size=20)
    for s in range(20):
        x, _, lam = mixing.mix(images, targets, tf.constant([s, 1], tf.int64),
                               mixing.MixConfig("cutmix"))
        changed = np.any(x.numpy() != images.numpy(), axis=-1)[0]  # pixels from the partner
        assert 1.0 - changed.mean() == pytest.approx(float(lam), abs=1e-6)


def test_mixup_is_a_convex_combination():
    images, targets = batch(n=2)
    x, _, lam = mixing.mix(images, targets, tf.constant([1, 2], tf.int64),
                           mixing.MixConfig("mixup"))
    lam = float(lam)
    want = lam * images.numpy() + (1 - lam) * images.numpy()[::-1]
    np.testing.assert_allclose(x.numpy(), want, rtol=1e-5, atol=1e-4)


def test_mix_prob_zero_is_identity():
    images, targets = batch()
    x, y, lam = mixing.mix(images, targets, tf.constant([1, 2], tf.int64),
                           mixing.MixConfig("mixup_cutmix", mix_prob=0.0))
    np.testing.assert_array_equal(x.numpy(), images.numpy())
    np.testing.assert_array_equal(y.numpy(), targets.numpy())
    assert float(lam) == 1.0


def test_switch_prob_picks_cutmix_at_the_given_rate():
    images, targets = batch(n=2, size=8)
    cut = 0
    for s in range(300):
        x, _, lam = mixing.mix(images, targets, tf.constant([s, 7], tf.int64),
                               mixing.MixConfig("mixup_cutmix", switch_prob=0.3))
        # CutMix copies pixels exactly: every pixel equals one of the two sources.
        xs, a, b = x.numpy()[0], images.numpy()[0], images.numpy()[1]
        cut += bool(np.all((xs == a) | (xs == b)))
    assert 0.22 <= cut / 300 <= 0.38


def test_pending_mixup_types_are_refused_by_name():
    with pytest.raises(ConfigError, match="--mixup_type=2"):
        config.make_config(mixup_type="2")
    with pytest.raises(ConfigError, match="--mixup_type must be one of"):
        config.make_config(mixup_type="mixmatch")


@pytest.mark.parametrize("mode", mixing.MODES)
def test_one_training_step_of_each_mode_on_two_replicas(tmp_path, mode):
    cfg = config.make_config(model_dir=str(tmp_path / mode), resnet_size=18, base_width=4,
                             batch_size=32, val_batch_size=120, train_epochs=1,
                             max_train_steps=1, steps_per_loop=1, lr_warmup_epochs=0.0,
                             num_cpu_replicas=2, mixup_type=mode, label_smoothing=0.1)
    result = trainer.run(cfg)
    assert result["count"] == 360 and np.isfinite(result["loss"])
