"""Tests for preprocessing/randaugment.py and preprocessing/random_erasing.py."""

import math

import numpy as np
import pytest
import tensorflow as tf

from preprocessing import augment_ops as A
from preprocessing import randaugment as RA
from preprocessing import random_erasing as RE


def _img(h=40, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------ RandAugment
def test_same_seed_same_pixels_and_uint8_shape():
    img = _img()
    a = RA.augment(img, 7, 3, 9.0, 0.5)
    b = RA.augment(img, 7, 3, 9.0, 0.5)
    assert a.dtype == tf.uint8 and a.shape == img.shape
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    # different seeds give different outputs for at least some seeds
    outs = [RA.augment(img, s, 2, 9.0).numpy() for s in range(6)]
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])


def test_replay_equals_augment():
    img = _img(seed=1)
    for s in range(12):
        params = RA.sample_params(s, 2, 7.0, 1.0)
        np.testing.assert_array_equal(RA.apply(img, params).numpy(),
                                      RA.augment(img, s, 2, 7.0, 1.0).numpy())
    # params round-trip through numpy (as stored on disk)
    stored = {k: v.numpy() for k, v in RA.sample_params([3, 4], 2, 9.0).items()}
    np.testing.assert_array_equal(RA.apply(img, stored).numpy(),
                                  RA.augment(img, [3, 4], 2, 9.0).numpy())


def test_zero_ops_is_identity():
    img = _img(seed=2)
    np.testing.assert_array_equal(RA.augment(img, 5, 0, 9.0).numpy(), img)


def test_params_content():
    p = RA.sample_params(11, 4, 6.0)
    assert p["op_indices"].dtype == tf.int32 and p["op_indices"].shape == [4]
    np.testing.assert_array_equal(p["magnitudes"].numpy(), np.full(4, 6.0, np.float32))
    assert set(np.unique(p["signs"].numpy())) <= {-1.0, 1.0}
    assert "centers" not in p  # Cutout not in the 14-op list
    q = RA.sample_params(11, 500, 9.5, 2.0)
    m = q["magnitudes"].numpy()
    assert m.min() >= 0.0 and m.max() <= 10.0 and m.std() > 0.5
    names = A.RANDAUGMENT_NAMES + ("Cutout",)
    c = RA.sample_params(1, 3, 5.0, names=names)["centers"].numpy()
    assert c.shape == (3, 2) and (c >= 0).all() and (c < 1).all()
    out = RA.augment(_img(), 1, 3, 5.0, names=names)
    assert out.shape == (40, 48, 3)


def test_torchvision_scale_matches_dr_m9():
    # torchvision bin 9 of 31 for a 331-wide image: translate int(150 * 9/30) = 45
    f = lambda n, s=1.0: float(RA.magnitude_to_arg(n, 9.0, s, 331, 331))  # noqa: E731
    assert f("Rotate", -1.0) == pytest.approx(-9.0)
    assert f("ShearX") == pytest.approx(0.09)
    assert f("TranslateX") == 45.0 and f("TranslateY", -1.0) == -45.0
    assert f("Brightness", -1.0) == pytest.approx(0.73)
    assert f("Posterize") == 7.0
    assert f("Solarize") == pytest.approx(178.5)
    assert f("Equalize") == 0.0
    # autoaugment scale delegates to level_to_arg
    assert float(RA.magnitude_to_arg("Rotate", 9.0, 1.0, 10, 10, "autoaugment")) == \
        pytest.approx(27.0)


def test_op_histogram_uniform():
    ds = tf.data.Dataset.range(2000).map(
        lambda s: RA.sample_params(s, 1, 9.0)["op_indices"][0]).batch(2000)
    idx = next(iter(ds)).numpy()
    counts = np.bincount(idx, minlength=14)
    assert len(counts) == 14 and counts.min() > 0
    expected = 2000 / 14
    # chi-square with 13 dof: 99.9th percentile ~ 34.5
    assert ((counts - expected) ** 2 / expected).sum() < 34.5, counts


def test_tf_data_and_tf_function_unknown_hw():
    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8),
                                  tf.TensorSpec([], tf.int64)])
    def f(image, seed):
        return RA.augment(image, seed, 2, 9.0, 0.5)

    img = _img(33, 21, seed=3)
    out = f(img, tf.constant(4, tf.int64))
    assert out.dtype == tf.uint8 and out.shape == (33, 21, 3)
    np.testing.assert_array_equal(out.numpy(), RA.augment(img, 4, 2, 9.0, 0.5).numpy())

    imgs = [_img(20 + i, 30 - i, seed=i) for i in range(4)]
    ds = tf.data.Dataset.from_generator(
        lambda: iter(imgs), output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
    ds = ds.enumerate().map(lambda i, x: RA.augment(x, i, 2, 9.0))
    for i, out in enumerate(ds):
        assert out.shape == imgs[i].shape and out.dtype == tf.uint8
        np.testing.assert_array_equal(out.numpy(), RA.augment(imgs[i], i, 2, 9.0).numpy())


def test_apply_dynamic_op_count():
    img = _img(seed=4)
    params = RA.sample_params(9, 3, 8.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32),
                                  tf.TensorSpec([None], tf.float32),
                                  tf.TensorSpec([None], tf.float32)])
    def g(i, m, s):
        return RA.apply(img, {"op_indices": i, "magnitudes": m, "signs": s})

    out = g(params["op_indices"], params["magnitudes"], params["signs"])
    np.testing.assert_array_equal(out.numpy(), RA.apply(img, params).numpy())


@pytest.mark.parametrize("text,expected", [
    ("2,9", (2, 9.0, 0.0)), (" 3 , 10 , 0.5 ", (3, 10.0, 0.5)), ("0,0", (0, 0.0, 0.0))])
def test_parse_flag_ok(text, expected):
    assert RA.parse_randaugment_flag(text) == expected


@pytest.mark.parametrize("text", [
    "", "2", "2,9,0.5,1", "a,9", "2.5,9", "-1,9", "2,11", "2,-0.1", "2,x",
    "2,9,-1", "2,nan", "2,,0.5"])
def test_parse_flag_errors(text):
    with pytest.raises(ValueError) as e:
        RA.parse_randaugment_flag(text)
    assert "\n" not in str(e.value)


def test_bad_args():
    with pytest.raises(ValueError):
        RA.sample_params(0, -1, 9.0)
    with pytest.raises(ValueError):
        RA.sample_params(0, 2, 11.0)
    with pytest.raises(TypeError):
        RA.augment(np.zeros((8, 8, 3), np.float32), 0, 2, 9.0)


# ---------------------------------------------------------- RandomErasing
def _erase_params(p, n=2000, hw=(64, 80)):
    ds = tf.data.Dataset.range(n).map(lambda s: RE.sample_params(s, hw, p)).batch(n)
    return {k: v.numpy() for k, v in next(iter(ds)).items()}


@pytest.mark.parametrize("p", [0.25, 1.0])
def test_erase_rate_exact_p(p):
    prm = _erase_params(p)
    rate = prm["apply"].mean()
    assert abs(rate - p) <= 0.02, rate
    if p == 1.0:
        assert rate >= 0.995


def test_erase_box_geometry():
    H, W = 64, 80
    prm = _erase_params(1.0, hw=(H, W))
    on = prm["apply"] == 1
    y, x, h, w = prm["box"][on].T
    assert (h > 0).all() and (w > 0).all() and (h < H).all() and (w < W).all()
    assert (y >= 0).all() and (x >= 0).all() and (y + h <= H).all() and (x + w <= W).all()
    # area in range up to the rounding of h and w to integers (+-0.5 each)
    slack = 0.5 * (h + w) + 0.25
    assert (h * w >= 0.02 * H * W - slack).all()
    assert (h * w <= H * W / 3 + slack).all()
    frac = h * w / (H * W)
    assert frac.min() < 0.05 and frac.max() > 0.25  # range is actually covered
    ratio = h / w
    assert ratio.min() < 0.5 and ratio.max() > 2.0
    assert (prm["box"][~on] == 0).all()


def test_erase_replay_and_fill():
    img = _img(64, 80, seed=5)
    prm = RE.sample_params(3, (64, 80), 1.0)
    assert int(prm["apply"]) == 1
    y, x, h, w = prm["box"].numpy()
    a = RE.apply(img, prm, mode="random")
    b = RE.augment(img, 3, 1.0, mode="random")
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    stored = {k: v.numpy() for k, v in prm.items()}
    np.testing.assert_array_equal(RE.apply(img, stored).numpy(), a.numpy())
    a = a.numpy()
    mask = np.zeros((64, 80), bool)
    mask[y:y + h, x:x + w] = True
    np.testing.assert_array_equal(a[~mask], img[~mask])
    assert not np.array_equal(a[mask], img[mask])
    c = RE.apply(img, prm, mode="const").numpy()
    np.testing.assert_array_equal(c[mask], np.broadcast_to([124, 117, 104], c[mask].shape))
    np.testing.assert_array_equal(c[~mask], img[~mask])
    z = RE.apply(img, prm, mode="const", fill=(0, 0, 0)).numpy()
    assert (z[mask] == 0).all()
    # not applied -> identity
    off = dict(stored, apply=np.int32(0))
    np.testing.assert_array_equal(RE.apply(img, off).numpy(), img)


def test_erase_no_fit_means_no_erase():
    # area >= 99 % of a 4x4 image with ratio 1 -> h = w = 4, never < 4: no box fits.
    prm = RE.sample_params(0, (4, 4), 1.0, area=(0.99, 1.0), log_ratio=(0.0, 0.0))
    assert int(prm["apply"]) == 0
    img = _img(4, 4)
    np.testing.assert_array_equal(RE.apply(img, prm).numpy(), img)


def test_erase_tf_function_unknown_hw():
    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
    def f(image):
        return RE.augment(image, 12, 1.0, mode="const")

    img = _img(50, 37, seed=6)
    out = f(img)
    assert out.dtype == tf.uint8 and out.shape == (50, 37, 3)
    np.testing.assert_array_equal(out.numpy(), RE.augment(img, 12, 1.0, mode="const").numpy())
    with pytest.raises(ValueError):
        RE.sample_params(0, (8, 8), 1.5)
    with pytest.raises(ValueError):
        RE.apply(img, RE.sample_params(0, (50, 37), 1.0), mode="zeros")
    assert math.isclose(RE.DEFAULT_LOG_RATIO[1], -math.log(0.3))
