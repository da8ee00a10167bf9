"""Tests for preprocessing/autoaugment.py."""

import numpy as np
import pytest
import tensorflow as tf

from preprocessing import augment_ops as A
from preprocessing import autoaugment as AA

EXPECTED_SIZES = {"imagenet": 25, "v0": 25, "cifar": 25, "svhn": 25, "good": 95}


def _img(h=40, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _sample_many(policy, n):
    """Vectorised sampling of ``n`` seeds (0..n-1) through tf.data."""
    ds = tf.data.Dataset.range(n).map(lambda s: AA.sample_params(policy, s)).batch(n)
    return {k: v.numpy() for k, v in next(iter(ds)).items()}


# ------------------------------------------------------------------ tables
def test_table_sizes_and_contents():
    assert set(AA.POLICIES) == set(EXPECTED_SIZES)
    for name, size in EXPECTED_SIZES.items():
        policy = AA.POLICIES[name]
        assert len(policy) == size, name
        for sub in policy:
            assert len(sub) == 2
            for op, prob, level in sub:
                assert op in A.OPS, (name, op)
                assert 0.0 <= prob <= 1.0
                assert 0 <= level <= 10
    # spot checks against the source tables
    assert AA.POLICIES["imagenet"][0] == [("Posterize", 0.4, 8), ("Rotate", 0.6, 9)]
    assert AA.POLICIES["v0"][22] == [("Posterize", 0.8, 2), ("Solarize", 0.6, 10)]
    assert AA.POLICIES["svhn"][14][0] == ("Contrast", 0.3, 3)  # typo fixed
    assert AA.POLICIES["good"][:5] == AA.POLICIES["cifar"][:5]
    assert AA.POLICIES["good"][61][0] == ("Cutout", 0.2, 4)
    assert AA.POLICIES["good"][-1] == [("Equalize", 0.6, 9), ("Equalize", 0.4, 4)]


def test_unknown_policy_raises():
    for bad in ("x", "test", None):
        with pytest.raises(ValueError, match=r"unknown autoaugment_type .*expected one of"):
            AA.sample_params(bad, 0)
    with pytest.raises(ValueError, match="unknown autoaugment_type 'x'"):
        AA.augment(_img(), "x", 0)
    msg = None
    try:
        AA.apply(_img(), "nope", {})
    except ValueError as e:
        msg = str(e)
    assert msg is not None and "\n" not in msg


# ------------------------------------------------------------ determinism
@pytest.mark.parametrize("policy", sorted(EXPECTED_SIZES))
def test_same_seed_same_pixels_and_replay(policy):
    img = _img()
    a = AA.augment(img, policy, 7)
    b = AA.augment(img, policy, 7)
    assert a.dtype == tf.uint8 and a.shape == img.shape
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    for s in range(6):
        params = AA.sample_params(policy, [s, 11])
        np.testing.assert_array_equal(AA.apply(img, policy, params).numpy(),
                                      AA.augment(img, policy, [s, 11]).numpy())
    # params stored as numpy replay the same
    stored = {k: v.numpy() for k, v in AA.sample_params(policy, 3).items()}
    np.testing.assert_array_equal(AA.apply(img, policy, stored).numpy(),
                                  AA.augment(img, policy, 3).numpy())


def test_different_seeds_differ():
    img = _img(seed=2)
    outs = [AA.augment(img, "imagenet", s).numpy() for s in range(8)]
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])


# ------------------------------------------------------------- statistics
@pytest.mark.parametrize("policy", ["imagenet", "good"])
def test_sub_policy_histogram_and_applied_rate(policy):
    n_sub = len(AA.POLICIES[policy])
    p = _sample_many(policy, 2000)
    hist = np.bincount(p["sub_policy"], minlength=n_sub)
    assert len(hist) == n_sub and (hist > 0).all()
    assert p["applied"].shape == (2000, 2) and p["signs"].shape == (2000, 2)
    assert set(np.unique(p["signs"])) <= {-1.0, 1.0}
    assert ((p["centers"] >= 0) & (p["centers"] < 1)).all()
    # overall applied rate = mean table probability of the drawn sub-policies
    probs = np.array([[t[1] for t in sp] for sp in AA.POLICIES[policy]])
    expected = probs[p["sub_policy"]].mean(axis=0)
    np.testing.assert_allclose(p["applied"].mean(axis=0), expected, atol=0.03)
    # prob 0 never applied, prob 1 always applied
    drawn = probs[p["sub_policy"]]
    assert not p["applied"][drawn == 0.0].any()
    assert p["applied"][drawn == 1.0].all()


def test_applied_rate_for_chosen_sub_policy():
    # imagenet #0 = (Posterize 0.4, Rotate 0.6); 20,000 seeds -> ~800 draws of it
    p = _sample_many("imagenet", 20000)
    sel = p["sub_policy"] == 0
    assert sel.sum() > 600
    rate = p["applied"][sel].mean(axis=0)
    np.testing.assert_allclose(rate, [0.4, 0.6], atol=0.06)
    # signs are fair
    assert abs(p["signs"].mean()) < 0.03


# --------------------------------------------------------- op semantics
def _params(sub, applied, signs=(1.0, 1.0), centers=((0.0, 0.0), (0.0, 0.0))):
    return {"sub_policy": tf.constant(sub, tf.int32),
            "applied": tf.constant(applied, tf.bool),
            "signs": tf.constant(signs, tf.float32),
            "centers": tf.constant(centers, tf.float32)}


def test_apply_matches_direct_ops():
    """With the original's magnitudes (level_to_arg's); relative ones:
    tests/test_autoaugment_magnitudes.py."""
    img = _img(seed=3)
    # v0 #15 = (Rotate 1.0 7), (TranslateY 0.8 9): signed ops
    for s0, s1 in [(1.0, 1.0), (-1.0, 1.0), (1.0, -1.0)]:
        out = AA.apply(img, "v0", _params(15, [True, True], (s0, s1)), "original")
        ref = A.rotate(img, A.level_to_arg("Rotate", 7.0, s0))
        ref = A.translate_y(ref, A.level_to_arg("TranslateY", 9.0, s1))
        np.testing.assert_array_equal(out.numpy(), ref.numpy())
    # only the second op applied
    out = AA.apply(img, "v0", _params(15, [False, True], (1.0, -1.0)), "original")
    ref = A.translate_y(img, A.level_to_arg("TranslateY", 9.0, -1.0))
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    # nothing applied -> unchanged
    out = AA.apply(img, "v0", _params(15, [False, False]))
    np.testing.assert_array_equal(out.numpy(), img)
    # unsigned op ignores the sign: imagenet #14 = (Color 0.6 4), (Contrast 1.0 8)
    out = AA.apply(img, "imagenet", _params(14, [True, True], (-1.0, -1.0)))
    ref = A.contrast(A.color(img, A.level_to_arg("Color", 4.0)),
                     A.level_to_arg("Contrast", 8.0))
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_cutout_centre_fractions():
    img = _img(40, 48, seed=4)
    # good #61 = (Cutout 0.2 4), (Equalize 0.1 1); centre (0.5, 0.25) -> (20, 12) px
    out = AA.apply(img, "good", _params(61, [True, False],
                                        centers=((0.5, 0.25), (0.9, 0.9))), "original")
    ref = A.cutout(img, A.level_to_arg("Cutout", 4.0), center=[20, 12])
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    # same fractions on a bigger image -> pixels scale with the image
    big = _img(100, 80, seed=5)
    out = AA.apply(big, "good", _params(61, [True, False],
                                        centers=((0.5, 0.25), (0.0, 0.0))), "original")
    ref = A.cutout(big, 40.0, center=[50, 20])
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


# ------------------------------------------------------ graph / tf.data
def test_tf_function_unknown_shape():
    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8),
                                  tf.TensorSpec([2], tf.int64)])
    def fn(image, seed):
        out = AA.augment(image, "good", seed)
        assert out.shape.as_list() == [None, None, 3]
        return out

    for h, w, s in [(32, 32, 1), (40, 56, 2), (17, 23, 3)]:
        img = _img(h, w, seed=s)
        for seed in range(3):
            sd = np.array([seed, s], np.int64)
            out = fn(tf.constant(img), tf.constant(sd))
            assert out.dtype == tf.uint8 and out.shape == (h, w, 3)
            np.testing.assert_array_equal(out.numpy(), AA.augment(img, "good", sd).numpy())


def test_dataset_map():
    imgs = np.stack([_img(24, 30, seed=i) for i in range(6)])
    ds = tf.data.Dataset.from_tensor_slices((imgs, tf.range(6, dtype=tf.int64)))
    ds = ds.map(lambda im, s: AA.augment(im, "imagenet", s))
    outs = list(ds)
    assert len(outs) == 6
    for i, o in enumerate(outs):
        assert o.dtype == tf.uint8 and o.shape == (24, 30, 3)
        np.testing.assert_array_equal(o.numpy(),
                                      AA.augment(imgs[i], "imagenet", i).numpy())
    # variable-size images through a generator with unknown H, W
    def gen():
        for h, w in [(20, 30), (33, 18)]:
            yield _img(h, w, seed=h)
    ds2 = tf.data.Dataset.from_generator(
        gen, output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
    ds2 = ds2.map(lambda im: AA.augment(im, "svhn", 5))
    shapes = [tuple(o.shape) for o in ds2]
    assert shapes == [(20, 30, 3), (33, 18, 3)]


def test_rejects_non_uint8():
    with pytest.raises(TypeError):
        AA.augment(np.zeros((8, 8, 3), np.float32), "imagenet", 0)
