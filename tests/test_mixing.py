"""Batch mixing (mixup / CutMix / switch, the original's types 1 and 2): target arithmetic,
λ correction, replay, the type-2 teacher-target fix, and a training step of each mode on 2
replicas."""

import numpy as np
import pytest
import tensorflow as tf

from core import config
from core.errors import ConfigError
from engine import inputs, mixing, trainer


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


def test_unknown_mixup_type_is_refused_by_name():
    with pytest.raises(ConfigError, match="--mixup_type must be one of"):
        config.make_config(mixup_type="mixmatch")


def test_type1_mixes_first_half_with_second_half_per_pair():
    images, targets = batch(n=8)
    seed = tf.constant([5, 6], tf.int64)
    x, y, lam = mixing.mix_type1(images, targets, seed, alpha=0.2)
    assert x.shape == (4, 16, 16, 3) and y.shape == (4, 5) and lam.shape == (4,)
    lam = lam.numpy()
    assert len(set(np.round(lam, 6))) == 4  # one λ per pair
    l4 = lam[:, None, None, None]
    np.testing.assert_allclose(x.numpy(), l4 * images.numpy()[:4] + (1 - l4) * images.numpy()[4:],
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(y.numpy(), lam[:, None] * targets.numpy()[:4]
                               + (1 - lam[:, None]) * targets.numpy()[4:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.numpy().sum(-1), 1.0, rtol=1e-6)
    x2, _, _ = mixing.mix_type1(images, targets, seed, alpha=0.2)
    np.testing.assert_array_equal(x.numpy(), x2.numpy())


def test_type2_keeps_the_batch_and_mixes_teacher_targets_with_teacher_targets():
    images, labels = batch(n=8)
    teacher = tf.nn.softmax(tf.random.stateless_normal([8, 5], [1, 2]))
    x, y, lam = mixing.mix_type2(images, {"labels": labels, "teacher": teacher},
                                 tf.constant([9, 9], tf.int64), alpha=0.2)
    assert x.shape == images.shape and lam.shape == (8,)
    lam1, lam2 = lam.numpy()[:4, None], lam.numpy()[4:, None]
    x1, x2 = images.numpy()[:4], images.numpy()[4:]
    np.testing.assert_allclose(x.numpy()[:4], lam1[..., None, None] * x1
                               + (1 - lam1[..., None, None]) * x2, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(x.numpy()[4:], lam2[..., None, None] * x1
                               + (1 - lam2[..., None, None]) * x2[::-1], rtol=1e-5, atol=1e-4)
    t1, t2 = teacher.numpy()[:4], teacher.numpy()[4:]
    # The original mixed this half from the one-hot labels instead of the teacher's.
    np.testing.assert_allclose(y["teacher"].numpy()[4:], lam2 * t1 + (1 - lam2) * t2[::-1],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y["teacher"].numpy()[:4], lam1 * t1 + (1 - lam1) * t2,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y["labels"].numpy().sum(-1), 1.0, rtol=1e-6)


def test_original_types_draw_lambda_from_beta_0_2():
    images, targets = batch(n=2000, size=2)
    _, _, lam = mixing.mix_type1(images, targets, tf.constant([1, 2], tf.int64), alpha=0.2)
    lam = lam.numpy()
    # Beta(0.2, 0.2): mean 0.5, variance 1/(4·1.4) ≈ 0.179, mass piled near 0 and 1.
    assert abs(lam.mean() - 0.5) < 0.03 and abs(lam.var() - 0.179) < 0.02
    assert ((lam < 0.1) | (lam > 0.9)).mean() > 0.5


def test_type1_pipeline_reads_twice_the_batch(tmp_path):
    run = trainer.Run(config.make_config(model_dir=str(tmp_path / "type1"), batch_size=16,
                                         mixup_type="1"))
    assert run.pipeline.batch_multiplier == 2
    ds = run.strategy.distribute_datasets_from_function(
        lambda ctx: inputs.train_dataset(run.source, run.train_fn, run.pipeline, 0, 0,
                                         run.steps_per_epoch, ctx))
    first = next(iter(ds))
    assert first["image"].shape[0] == 32 and first["label"].shape == (32,)


def test_type2_needs_an_even_per_replica_batch(tmp_path):
    cfg = config.make_config(model_dir=str(tmp_path / "odd"), batch_size=30,
                             num_cpu_replicas=2, mixup_type="2")
    with pytest.raises(ConfigError, match="--mixup_type=2 .* must be even"):
        trainer.Run(cfg)


@pytest.mark.parametrize("mode", mixing.MODES + mixing.ORIGINAL_TYPES)
def test_one_training_step_of_each_mode_on_two_replicas(tmp_path, mode):
    cfg = config.make_config(model_dir=str(tmp_path / mode), resnet_size=18, base_width=4,
                             batch_size=32, val_batch_size=120, train_epochs=1,
                             max_train_steps=1, steps_per_loop=1, lr_warmup_epochs=0.0,
                             num_cpu_replicas=2, mixup_type=mode, label_smoothing=0.1)
    result = trainer.run(cfg)
    assert result["count"] == 360 and np.isfinite(result["loss"])
