"""Tests for preprocessing/: shapes, determinism, replay, eval arithmetic, registry."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

import preprocessing as pp
from preprocessing import imagenet

TYPES = ["imagenet", "imagenet_224_256", "imagenet_224_256a", "imagenet_64",
         "imagenet_64a", "small_32"]
LO, HI = -max(pp.MEAN_RGB), 255.0 - min(pp.MEAN_RGB)


def _rand(h, w, c=3, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (h, w, c)).astype(np.uint8)


def _smooth(h, w, seed=0):
    """Smooth colour image (JPEG-friendly) with some structure."""
    y, x = np.mgrid[0:h, 0:w]
    r = 128 + 100 * np.sin(x / 5.0 + seed)
    g = 128 + 100 * np.cos(y / 7.0)
    b = (x * 3 + y * 2) % 256
    return np.stack([r, g, b], -1).astype(np.uint8)


INPUTS = {
    "jpeg_40x56": tf.io.encode_jpeg(_smooth(40, 56)),
    "jpeg_64x48": tf.io.encode_jpeg(_smooth(64, 48, 1)),
    "jpeg_gray": tf.io.encode_jpeg(_smooth(40, 56)[..., :1]),
    "png_48x64": tf.io.encode_png(_rand(48, 64)),
    "png_gray": tf.io.encode_png(_rand(30, 30, 1)),
    "png_32x32": tf.io.encode_png(_rand(32, 32)),
}


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize("name", TYPES)
def test_shapes_dtypes_ranges(name):
    spec = pp.get_preprocessing(name)
    for key, enc in INPUTS.items():
        u = spec.train_uint8(enc, [1, 2])
        t = spec.train(enc, [1, 2])
        e = spec.eval(enc)
        eu = spec.eval_uint8(enc)
        S, E = spec.train_size, spec.eval_size
        assert u.shape == (S, S, 3) and u.dtype == tf.uint8, key
        assert t.shape == (S, S, 3) and t.dtype == tf.float32, key
        assert e.shape == (E, E, 3) and e.dtype == tf.float32, key
        assert eu.shape == (E, E, 3) and eu.dtype == tf.uint8, key
        for x in (t, e):
            assert LO - 1e-3 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= HI + 1e-3
        np.testing.assert_allclose(t.numpy(),
                                   u.numpy().astype(np.float32) - np.float32(pp.MEAN_RGB))
        # eval is the unrounded float path; eval_uint8 is its rounding.
        np.testing.assert_allclose(e.numpy() + np.float32(pp.MEAN_RGB),
                                   eu.numpy().astype(np.float32), atol=0.5 + 1e-3)


def test_normalize_and_mean():
    assert pp.MEAN_RGB == (123.68, 116.78, 103.94)
    x = tf.constant([[[0, 255, 10]]], tf.uint8)
    np.testing.assert_allclose(pp.normalize(x).numpy(),
                               [[[-123.68, 255 - 116.78, 10 - 103.94]]], rtol=1e-6)
    assert pp.normalize(x).dtype == tf.float32


def test_grayscale_decodes_to_equal_channels():
    for key in ("jpeg_gray", "png_gray"):
        img = pp.decode(INPUTS[key]).numpy()
        assert img.shape[-1] == 3
        assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()
        out = pp.get_preprocessing("imagenet_64").train_uint8(INPUTS[key], [5, 6]).numpy()
        assert (out[..., 0] == out[..., 2]).all()


def test_encoded_image_shape_from_headers():
    for key, enc in INPUTS.items():
        np.testing.assert_array_equal(pp.encoded_image_shape(enc).numpy(),
                                      pp.decode(enc).shape[:2], err_msg=key)


def test_tf_data_graph_mode():
    encs = [INPUTS[k] for k in ("jpeg_40x56", "png_48x64", "jpeg_gray", "png_gray")]
    for name in ("imagenet_224_256", "small_32"):
        spec = pp.get_preprocessing(name)
        ds = tf.data.Dataset.from_tensor_slices((tf.stack(encs), tf.range(4, dtype=tf.int64)))
        ds = ds.map(lambda e, i: (spec.train(e, tf.stack([i, 7])), spec.eval(e)))
        assert ds.element_spec[0].shape == (spec.train_size,) * 2 + (3,)
        assert ds.element_spec[1].shape == (spec.eval_size,) * 2 + (3,)
        for i, (t, _) in enumerate(ds):
            np.testing.assert_array_equal(
                t.numpy(), spec.train(encs[i], tf.constant([i, 7], tf.int64)).numpy())


# ----------------------------------------------------------- determinism
@pytest.mark.parametrize("name", ["imagenet_64", "small_32"])
def test_same_seed_same_pixels_different_seed_differs(name):
    spec = pp.get_preprocessing(name)
    enc = INPUTS["jpeg_40x56"]
    a = spec.train_uint8(enc, tf.constant([3, 9], tf.int32)).numpy()
    b = spec.train_uint8(enc, tf.constant([3, 9], tf.int32)).numpy()
    np.testing.assert_array_equal(a, b)
    windows = {tuple(spec.sample_params(enc, [s, 0])["crop"].numpy()) for s in range(20)}
    assert len(windows) >= 10
    outs = {spec.train_uint8(enc, [s, 1]).numpy().tobytes() for s in range(8)}
    assert len(outs) >= 6


def test_seed_int32_and_int64_accepted():
    spec = pp.get_preprocessing("imagenet_64")
    enc = INPUTS["png_48x64"]
    a = spec.train_uint8(enc, tf.constant([1, 2], tf.int64))
    b = spec.train_uint8(enc, tf.constant([1, 2], tf.int32))
    assert a.shape == b.shape


# ----------------------------------------------------------------- replay
@pytest.mark.parametrize("key", ["jpeg_40x56", "png_48x64", "jpeg_gray"])
def test_imagenet_replay_by_hand(key):
    spec = pp.get_preprocessing("imagenet_64")
    enc = INPUTS[key]
    for s in range(6):
        seed = tf.constant([s, 42], tf.int64)
        params = spec.sample_params(enc, seed)
        assert params["crop"].dtype == tf.int32 and params["crop"].shape == (4,)
        assert params["flip"].dtype == tf.int32 and params["flip"].shape == ()
        crop_seed, flip_seed = tf.unstack(pp.split_seed(seed, 2))
        window = pp.sample_crop_params(crop_seed, pp.encoded_image_shape(enc))
        np.testing.assert_array_equal(window.numpy(), params["crop"].numpy())
        assert int(pp.sample_flip_params(flip_seed)) == int(params["flip"])
        img = pp.decode_and_crop(enc, window)  # fused for JPEG, decode + slice otherwise
        img = pp.apply_flip(img, params["flip"])
        img = pp.to_uint8(pp.resize_bilinear(img, [64, 64]))
        np.testing.assert_array_equal(img.numpy(), spec.train_uint8(enc, seed).numpy())
        np.testing.assert_array_equal(spec.train_uint8_from_params(enc, params).numpy(),
                                      spec.train_uint8(enc, seed).numpy())


def test_small_replay_by_hand_and_pad_value():
    spec = pp.get_preprocessing("small_32")
    enc = INPUTS["png_32x32"]
    raw = pp.decode(enc).numpy()
    padded = np.empty((40, 40, 3), np.uint8)
    padded[:] = np.array(pp.PAD_VALUE, np.uint8)
    padded[4:36, 4:36] = raw
    assert pp.PAD_VALUE == (124, 117, 104)
    flips = 0
    for s in range(10):
        params = spec.sample_params(enc, [s, 3])
        y, x, h, w = params["crop"].numpy()
        assert 0 <= y <= 8 and 0 <= x <= 8 and (h, w) == (32, 32)
        want = padded[y:y + 32, x:x + 32]
        if int(params["flip"]):
            want = want[:, ::-1]
            flips += 1
        np.testing.assert_array_equal(spec.train_uint8(enc, [s, 3]).numpy(), want)
    assert 0 < flips < 10
    # Padding normalises to ~0.
    corner = pp.normalize(pp.apply_pad_crop(pp.decode(enc), [0, 0, 32, 32]))[0, 0]
    assert np.abs(corner.numpy()).max() < 0.5


def test_small_resizes_other_sizes_and_eval_identity():
    spec = pp.get_preprocessing("small_32")
    np.testing.assert_array_equal(spec.eval_uint8(INPUTS["png_32x32"]).numpy(),
                                  pp.decode(INPUTS["png_32x32"]).numpy())
    out = spec.eval_uint8(INPUTS["png_48x64"])
    assert out.shape == (32, 32, 3)


def test_fused_jpeg_crop_close_to_full_decode():
    # libjpeg's cropped decode may differ slightly from a full decode near chroma
    # upsampling edges (colour JPEGs); the original used the fused op too.
    for key in ("jpeg_64x48", "jpeg_gray", "png_48x64"):
        enc = INPUTS[key]
        full = pp.decode(enc).numpy().astype(int)
        for window in ([0, 0, 30, 40], [8, 16, 32, 24], [5, 3, 25, 21]):
            got = pp.decode_and_crop(enc, window).numpy().astype(int)
            want = full[window[0]:window[0] + window[2], window[1]:window[1] + window[3]]
            assert got.shape == want.shape
            diff = np.abs(got - want)
            if key == "jpeg_64x48":
                assert diff.max() <= 16 and diff.mean() < 1.0
            else:  # no chroma subsampling (grayscale) or lossless PNG: exact
                assert diff.max() == 0, key


def test_flip_params_and_apply():
    flips = [int(pp.sample_flip_params([s, 11])) for s in range(200)]
    assert set(flips) <= {0, 1} and 60 < sum(flips) < 140
    img = tf.constant(_rand(3, 4))
    np.testing.assert_array_equal(pp.apply_flip(img, 1).numpy(), img.numpy()[:, ::-1])
    np.testing.assert_array_equal(pp.apply_flip(img, 0).numpy(), img.numpy())


# --------------------------------------------------------- crop statistics
def test_random_resized_crop_statistics():
    h, w = 300, 400
    fracs, ratios = [], []
    for s in range(200):
        y, x, ch, cw = pp.sample_crop_params([s, 0], [h, w]).numpy()
        assert y >= 0 and x >= 0 and y + ch <= h and x + cw <= w
        fracs.append(ch * cw / (h * w))
        ratios.append(cw / ch)
    fracs, ratios = np.array(fracs), np.array(ratios)
    assert fracs.min() >= 0.05 - 1e-3 and fracs.max() <= 1.0
    # min_object_covered=0.1 of the whole-image box raises the effective floor to 0.1.
    assert fracs.min() >= 0.1 - 0.01
    assert fracs.min() < 0.3 and fracs.max() > 0.8
    full = fracs >= 1.0 - 1e-9  # fallback to the whole image keeps its own ratio
    assert ((ratios[~full] >= 0.75 - 0.02) & (ratios[~full] <= 1.33 + 0.02)).all()


# -------------------------------------------------------- eval arithmetic
def _coord_png(h, w):
    y, x = np.mgrid[0:h, 0:w]
    return tf.io.encode_png(np.stack([y, x, np.full_like(y, 7)], -1).astype(np.uint8))


@pytest.mark.parametrize("h,w,top,left", [(65, 81, 0, 8), (90, 65, 13, 0), (65, 65, 0, 0)])
def test_eval_center_crop_is_centred(h, w, top, left):
    # imagenet_64a: shorter side -> 65 (no-op here), center crop 64.
    spec = pp.get_preprocessing("imagenet_64a")
    out = spec.eval_uint8(_coord_png(h, w)).numpy()
    assert out.shape == (64, 64, 3)
    assert out[0, 0, 0] == top and out[0, 0, 1] == left
    yy, xx = np.mgrid[top:top + 64, left:left + 64]
    np.testing.assert_array_equal(out[..., 0], yy)
    np.testing.assert_array_equal(out[..., 1], xx)


def test_eval_center_crop_after_downscale():
    # imagenet_64: shorter side -> int(64/0.875)=73.  146x200 halves exactly to 73x100,
    # crop offsets (4, 18); with the TF1 kernel output (i, j) samples input (2i, 2j).
    spec = pp.get_preprocessing("imagenet_64")
    y, x = np.mgrid[0:146, 0:200]
    img = np.stack([y, x, np.zeros_like(y)], -1).astype(np.uint8)
    out = spec.eval_uint8(tf.io.encode_png(img)).numpy()
    yy, xx = np.mgrid[4:68, 18:82]
    np.testing.assert_array_equal(out[..., 0], 2 * yy)
    np.testing.assert_array_equal(out[..., 1], 2 * xx)


def test_resize_shorter_side_matches_original_float32_rule():
    for S in (256, 292, 257, 365):
        for short in range(20, 400, 7):
            for long_ in (short, short * 4 // 3 + 1):
                for h, w in ((short, long_), (long_, short)):
                    nh, nw = imagenet.resize_shorter_side_shape(h, w, S)
                    f = np.float32
                    scale = f(S) / f(min(h, w))
                    assert (int(nh), int(nw)) == (int(f(h) * scale), int(f(w) * scale))
                    assert min(int(nh), int(nw)) in (S - 1, S)
    nh, nw = imagenet.resize_shorter_side_shape(41, 54, 256)
    assert (int(nh), int(nw)) == (255, 337)  # the original's float32 truncation quirk


def test_resize_kernel_matches_tf1_resize_images():
    img = tf.constant(_rand(17, 23))
    ref = tf.compat.v1.image.resize(img, [40, 31], method="bilinear", align_corners=False)
    np.testing.assert_allclose(pp.resize_bilinear(img, [40, 31]).numpy(), ref.numpy(), atol=1e-4)
    mod = tf.image.resize(img, [40, 31], method="bilinear")
    np.testing.assert_allclose(pp.resize_bilinear(img, [40, 31], half_pixel_centers=True).numpy(),
                               mod.numpy(), atol=1e-3)


# ---------------------------------------------------------------- registry
@pytest.mark.parametrize("name,train,eval_size,resize", [
    ("imagenet", 224, 224, 256),
    ("imagenet_224_256", 224, 256, 292),
    ("imagenet_224_256a", 224, 256, 257),
    ("imagenet_320", 320, 320, int(320 / 0.875)),
    ("imagenet_320a", 320, 320, 321),
    ("imagenet_224", 224, 224, 256),
    ("small_32", 32, 32, 32),
])
def test_registry_parsing(name, train, eval_size, resize):
    spec = pp.get_preprocessing(name)
    assert (spec.name, spec.train_size, spec.eval_size, spec.eval_resize) == (
        name, train, eval_size, resize)
    assert isinstance(spec.train_size, int) and isinstance(spec.eval_size, int)


def test_registry_fixed_names_and_frozen():
    assert set(pp.PREPROCESSING_TYPES) == {"imagenet", "imagenet_224_256", "imagenet_224_256a"}
    spec = pp.get_preprocessing("imagenet")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.train_size = 3


@pytest.mark.parametrize("bad", ["foo", "imagenet_", "imagenet_0320", "imagenet_224_256b",
                                 "Imagenet", "small_", "small_32a", "reid", "cub", ""])
def test_registry_unknown_names(bad):
    with pytest.raises(ValueError) as err:
        pp.get_preprocessing(bad)
    msg = str(err.value)
    assert msg == (f"unknown preprocessing_type {bad!r}; expected one of imagenet, "
                   "imagenet_224_256, imagenet_224_256a, imagenet_<N>, imagenet_<N>a, small_<N>")
    assert "\n" not in msg


def test_registry_too_small_imagenet():
    with pytest.raises(ValueError):
        pp.get_preprocessing("imagenet_4")
