"""R-Mix on hand-made saliency maps: quantile thresholds, masks, the mixing rule and the
area-weighted labels; one training step on 2 replicas."""

import numpy as np
import pytest
import tensorflow as tf

from core import config
from engine import rmix, trainer


def test_quantile_set_is_linspace_0_to_099():
    np.testing.assert_allclose(rmix.QUANTILES, np.linspace(0.0, 0.99, 10), atol=1e-6)


def test_quantile_masks_on_a_hand_made_map():
    pooled = tf.constant([[[0.1, 0.2], [0.3, 0.4]]] * 3)
    masks = rmix.quantile_masks(pooled, tf.constant([0.0, 0.5, 0.99])).numpy()
    np.testing.assert_array_equal(masks[0], [[1, 1], [1, 1]])  # q=0: every patch salient
    np.testing.assert_array_equal(masks[1], [[0, 0], [1, 1]])  # median 0.25 (linear)
    np.testing.assert_array_equal(masks[2], [[0, 0], [0, 1]])  # only the top patch


def test_pooling_normalises_and_upsampling_is_nearest():
    sal = tf.constant(np.arange(16, dtype=np.float32).reshape(1, 4, 4))
    pooled = rmix.pool_saliency(sal, 2).numpy()
    assert pooled.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(pooled[0], np.array([[2.5, 4.5], [10.5, 12.5]]) / 30.0)
    up = rmix.upsample(tf.constant([[[1.0, 0.0], [0.0, 1.0]]]), 4, 4).numpy()[0]
    np.testing.assert_array_equal(up[:2, :2], 1)
    np.testing.assert_array_equal(up[:2, 2:], 0)


def test_mixing_rule_and_label_weights():
    x = tf.constant(np.stack([np.full((2, 2, 3), 10.0), np.full((2, 2, 3), 30.0)]),
                    tf.float32)
    y = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    # image 0 salient on its top row, image 1 on its left column
    masks = tf.constant([[[1.0, 1.0], [0.0, 0.0]], [[1.0, 0.0], [1.0, 0.0]]])
    perm = tf.constant([1, 0])
    mixed, targets = rmix.mix_with_masks(x, y, masks, perm, 0.25)
    m0 = mixed.numpy()[0, ..., 0]
    # (0,0) both salient -> blend; (0,1) only image 0 -> 10; (1,0) only partner -> 30;
    # (1,1) neither -> blend
    blend = 0.25 * 10 + 0.75 * 30
    np.testing.assert_allclose(m0, [[blend, 10.0], [30.0, blend]])
    # a_eq = 0.5, a_1 = 0.25, a_2 = 0.25
    want0 = 0.5 * (0.25 * np.array([1, 0]) + 0.75 * np.array([0, 1])) + 0.25 * np.array(
        [1, 0]) + 0.25 * np.array([0, 1])
    np.testing.assert_allclose(targets.numpy()[0], want0, rtol=1e-6)
    np.testing.assert_allclose(targets.numpy().sum(-1), 1.0, rtol=1e-6)


def test_rmix_is_stateless_in_its_seed():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(4, 8, 8, 3)), tf.float32)
    y = tf.one_hot([0, 1, 2, 3], 4)
    sal = tf.constant(rng.uniform(size=(4, 8, 8)), tf.float32)
    a = rmix.rmix(x, y, sal, tf.constant([1, 2], tf.int64))
    b = rmix.rmix(x, y, sal, tf.constant([1, 2], tf.int64))
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    np.testing.assert_allclose(a[1].numpy().sum(-1), 1.0, rtol=1e-6)


def test_rmix_training_step_on_two_replicas(tmp_path):
    cfg = config.make_config(model_dir=str(tmp_path / "run"), resnet_size=18, base_width=4,
                             batch_size=32, val_batch_size=120, train_epochs=1,
                             max_train_steps=1, steps_per_loop=1, lr_warmup_epochs=0.0,
                             num_cpu_replicas=2, mixup_type="rmix")
    result = trainer.run(cfg)
    assert result["count"] == 360 and np.isfinite(result["loss"])
