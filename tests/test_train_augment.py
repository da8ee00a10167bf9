"""The composed training image path (crop/flip -> RandAugment -> RandomErasing -> normalise)
and its flags."""

import numpy as np
import pytest
import tensorflow as tf

from core import config
from core.errors import ConfigError
from engine import trainer
from preprocessing import get_preprocessing, normalize
from preprocessing.train_augment import AugmentConfig, augment_uint8, make_train_fn


def encoded_image(seed=0, size=40):
    rng = np.random.default_rng(seed)
    return tf.io.encode_jpeg(tf.constant(rng.integers(0, 255, (size, size, 3)), tf.uint8))


def test_same_seed_same_view_and_stages_compose():
    spec = get_preprocessing("small_32")
    cfg = AugmentConfig(randaugment=(2, 9.0, 0.5), random_erasing=1.0)
    fn = make_train_fn(spec, cfg)
    enc, seed = encoded_image(), tf.constant([5, 6], tf.int64)
    a, b = fn(enc, seed).numpy(), fn(enc, seed).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.shape == (32, 32, 3) and a.dtype == np.float32
    # The composition is exactly crop/flip, then the uint8 stages, then normalisation.
    manual = normalize(augment_uint8(spec.train_uint8(enc, seed), seed, cfg)).numpy()
    np.testing.assert_array_equal(a, manual)
    assert not np.array_equal(a, spec.train(enc, seed).numpy())


def test_no_augmentation_is_the_plain_train_path():
    spec = get_preprocessing("small_32")
    assert make_train_fn(spec, AugmentConfig()) == spec.train


@pytest.mark.parametrize("overrides, message", [
    (dict(randaugment="2"), "--randaugment"),
    (dict(randaugment="2,11"), "--randaugment"),
    (dict(random_erasing=1.5), "--random_erasing must be <= 1, got 1.5"),
])
def test_bad_augmentation_flags(overrides, message):
    with pytest.raises(ConfigError, match=message):
        config.make_config(**overrides)


def test_training_step_with_randaugment_and_random_erasing(tmp_path):
    cfg = config.make_config(model_dir=str(tmp_path / "run"), resnet_size=18, base_width=4,
                             batch_size=32, val_batch_size=120, train_epochs=1,
                             max_train_steps=2, steps_per_loop=2, lr_warmup_epochs=0.0,
                             randaugment="2,9", random_erasing=0.25)
    result = trainer.run(cfg)
    assert result["count"] == 360 and np.isfinite(result["loss"])


def test_config_lists_exactly_the_autoaugment_policies():
    from preprocessing.autoaugment import POLICIES
    assert set(config.AUTOAUGMENT_POLICIES) == set(POLICIES)
    with pytest.raises(ConfigError, match="--autoaugment_type must be one of"):
        config.make_config(autoaugment_type="test")


def test_training_step_with_autoaugment(tmp_path):
    cfg = config.make_config(model_dir=str(tmp_path / "run"), resnet_size=18, base_width=4,
                             batch_size=32, val_batch_size=120, train_epochs=1,
                             max_train_steps=2, steps_per_loop=2, lr_warmup_epochs=0.0,
                             autoaugment_type="imagenet", mixup_type="cutmix")
    result = trainer.run(cfg)
    assert result["count"] == 360 and np.isfinite(result["loss"])
