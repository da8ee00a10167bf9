"""Multi-crop (t-ReX / DINO): view shapes, crop areas within the scales, exact replay from
parameters, the augmentation chain per view, and a training step on 2 replicas."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from core import config
from engine import train_step, trainer
from preprocessing import get_preprocessing, multicrop
from preprocessing.train_augment import AugmentConfig, make_train_fn


def jpeg(h=120, w=160, seed=0):
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "JPEG")
    return tf.constant(buf.getvalue())


CFG = multicrop.MultiCropConfig(num_global=2, num_local=3, global_size=64, local_size=24)


def test_views_have_the_configured_counts_sizes_and_dtype():
    views = multicrop.crops_uint8(jpeg(), tf.constant([1, 2]), CFG)
    assert views["global"].shape == (2, 64, 64, 3) and views["global"].dtype == tf.uint8
    assert views["local"].shape == (3, 24, 24, 3) and views["local"].dtype == tf.uint8
    no_local = multicrop.crops_uint8(jpeg(), tf.constant([1, 2]),
                                     multicrop.MultiCropConfig(1, 0, 32))
    assert set(no_local) == {"global"}


def test_crop_areas_fall_in_the_scales():
    encoded = jpeg(200, 200)
    for s in range(40):
        p = multicrop.sample_params(encoded, tf.constant([s, 3]), CFG)
        g = p["global_crop"].numpy()
        loc = p["local_crop"].numpy()
        g_area = g[:, 2] * g[:, 3] / 40000
        l_area = loc[:, 2] * loc[:, 3] / 40000
        # integer rounding of the window moves the area by a little
        assert np.all((g_area >= 0.25 - 0.02) & (g_area <= 1.0))
        assert np.all((l_area >= 0.05 - 0.01) & (l_area <= 0.25 + 0.02))
        assert np.all(g[:, 0] + g[:, 2] <= 200) and np.all(loc[:, 1] + loc[:, 3] <= 200)


def test_same_params_give_the_same_pixels_and_seeds_differ():
    encoded = jpeg()
    p = multicrop.sample_params(encoded, tf.constant([7, 7]), CFG)
    a = multicrop.apply_params(encoded, p, CFG)
    b = multicrop.apply_params(encoded, p, CFG)
    np.testing.assert_array_equal(a["local"].numpy(), b["local"].numpy())
    c = multicrop.crops_uint8(encoded, tf.constant([8, 7]), CFG)
    assert not np.array_equal(a["global"].numpy(), c["global"].numpy())
    # local views of one image differ from one another
    assert not np.array_equal(a["local"][0].numpy(), a["local"][1].numpy())


def test_a_full_window_without_flip_is_a_resize_of_the_image():
    encoded = jpeg(64, 64)
    cfg = multicrop.MultiCropConfig(1, 0, global_size=64)
    params = {"global_crop": tf.constant([[0, 0, 64, 64]]), "global_flip": tf.constant([0])}
    view = multicrop.apply_params(encoded, params, cfg)["global"][0].numpy().astype(int)
    decoded = tf.io.decode_jpeg(encoded, dct_method="INTEGER_ACCURATE").numpy().astype(int)
    assert np.abs(view - decoded).max() <= 1  # same size: bicubic is the identity up to rounding
    flipped = multicrop.apply_params(encoded, dict(params, global_flip=tf.constant([1])), cfg)
    assert np.abs(flipped["global"][0].numpy().astype(int) - decoded[:, ::-1]).max() <= 1


def test_train_fn_augments_each_view_and_normalises():
    fn = make_train_fn(get_preprocessing("small_32"), AugmentConfig(random_erasing=1.0), CFG)
    out = fn(jpeg(), tf.constant([1, 1], tf.int64))
    assert out["image"].shape == (2, 64, 64, 3) and out["local"].shape == (3, 24, 24, 3)
    assert out["image"].dtype == tf.float32
    plain = make_train_fn(get_preprocessing("small_32"), AugmentConfig(), CFG)(
        jpeg(), tf.constant([1, 1], tf.int64))
    # same crops (crop seeds do not depend on the augmentation), erased pixels differ
    assert not np.allclose(out["local"].numpy(), plain["local"].numpy())
    assert np.isclose(out["image"].numpy(), plain["image"].numpy()).mean() > 0.3


def test_flag_parsing():
    assert multicrop.parse_multicrop_flag("1,8") == (1, 8)
    with pytest.raises(ValueError, match="expected 'G,L'"):
        multicrop.parse_multicrop_flag("1;8")
    cfg = multicrop.config_from_flags(config.make_config(multicrop="2,6"), default_size=32)
    assert (cfg.num_global, cfg.num_local, cfg.global_size, cfg.local_size) == (2, 6, 32, 96)
    assert cfg.global_scale == (0.25, 1.0) and cfg.local_scale == (0.05, 0.25)


def test_loss_averages_over_all_crops():
    import keras
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3)])
    cfg = dict(config.make_config(multicrop="2,3"), batch_size=4, weight_decay=0.0)
    step = train_step.make_step_fn(cfg, model, keras.optimizers.SGD(0.0), 3, 1, [])
    rng = np.random.default_rng(0)
    batch = {"image": tf.constant(rng.normal(size=(4, 2, 8, 8, 3)), tf.float32),
             "local": tf.constant(rng.normal(size=(4, 3, 4, 4, 3)), tf.float32),
             "label": tf.constant([0, 1, 2, 1]), "skipped": tf.zeros([4], tf.int32)}
    out = step(batch)
    ce = []
    for i in range(4):
        for view in list(batch["image"][i]) + list(batch["local"][i]):
            logits = model(view[None])[0]
            ce.append(-tf.nn.log_softmax(logits)[batch["label"][i]].numpy())
    assert float(out["ce"]) == pytest.approx(np.mean(ce), rel=1e-5)
    assert 0 <= float(out["correct"]) <= 4


@pytest.mark.parametrize("replicas", [2])
def test_multicrop_training_step_on_two_replicas(tmp_path, replicas):
    cfg = config.make_config(model_dir=str(tmp_path / "mc"), resnet_size=18, base_width=4,
                             batch_size=16, val_batch_size=120, train_epochs=1,
                             max_train_steps=2, steps_per_loop=1, lr_warmup_epochs=0.0,
                             num_cpu_replicas=replicas, multicrop="1,2",
                             multicrop_local_size=16, autoaugment_type="cifar")
    result = trainer.run(cfg)
    assert result["count"] == 360 and np.isfinite(result["loss"])
