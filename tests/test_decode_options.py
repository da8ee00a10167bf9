"""Tests for the original's two decode/crop options of ``preprocessing_type`` (spec §3):
``dct_method`` (JPEG IDCT of every decode) and ``training_random_crop`` (imagenet* train
crop: min_object_covered 0.1, or 1.0 = the whole image)."""

import io

import numpy as np
import pytest
import skimage.data
import tensorflow as tf
from PIL import Image

import preprocessing as pp
from preprocessing import common, imagenet

METHODS = ("INTEGER_ACCURATE", "INTEGER_FAST", "")


def _jpeg(arr, quality=90):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


# A photo JPEG (PIL, q90), cut to a small non-square region to keep the tests quick.
PHOTO = _jpeg(skimage.data.astronaut()[40:200, 100:300])  # 160 x 200
PHOTO_FULL = _jpeg(skimage.data.astronaut())  # 512 x 512
PNG = tf.io.encode_png(skimage.data.astronaut()[:48, :64]).numpy()


def _tf_decode(encoded, method):
    return tf.io.decode_jpeg(encoded, channels=3, dct_method=method).numpy()


# ------------------------------------------------------------------- dct_method
@pytest.mark.parametrize("encoded", [PHOTO, PHOTO_FULL], ids=["photo_160x200", "photo_512"])
def test_fast_and_accurate_differ_but_each_is_deterministic(encoded):
    acc = pp.decode(encoded, "INTEGER_ACCURATE").numpy()
    fast = pp.decode(encoded, "INTEGER_FAST").numpy()
    np.testing.assert_array_equal(acc, pp.decode(encoded, "INTEGER_ACCURATE").numpy())
    np.testing.assert_array_equal(fast, pp.decode(encoded, "INTEGER_FAST").numpy())
    diff = np.abs(acc.astype(int) - fast.astype(int))
    assert diff.max() >= 1 and np.mean(diff > 0) > 0.1, (diff.max(), np.mean(diff > 0))
    # pp.decode is exactly TF's decoder with that method
    np.testing.assert_array_equal(acc, _tf_decode(encoded, "INTEGER_ACCURATE"))
    np.testing.assert_array_equal(fast, _tf_decode(encoded, "INTEGER_FAST"))


def test_default_is_integer_accurate_and_matches_pil():
    np.testing.assert_array_equal(pp.decode(PHOTO).numpy(), _tf_decode(PHOTO, "INTEGER_ACCURATE"))
    # libjpeg's ISLOW IDCT is what PIL uses: an independent oracle for the default
    np.testing.assert_array_equal(pp.decode(PHOTO).numpy(),
                                  np.asarray(Image.open(io.BytesIO(PHOTO)).convert("RGB")))
    prep = pp.get_preprocessing("imagenet")
    assert prep.dct_method == "INTEGER_ACCURATE" and prep.training_random_crop is True


def test_platform_default_is_one_of_the_two():
    # "" = TF's platform default; measured: INTEGER_FAST with TF 2.21 on x86-64 Linux.
    default = pp.decode(PHOTO, "").numpy()
    assert any(np.array_equal(default, _tf_decode(PHOTO, m))
               for m in ("INTEGER_FAST", "INTEGER_ACCURATE"))


def _tf_decode_crop(encoded, window, method):
    return tf.image.decode_and_crop_jpeg(encoded, window, channels=3,
                                         dct_method=method).numpy()


@pytest.mark.parametrize("method", METHODS)
def test_fused_decode_and_crop_uses_dct_method(method):
    # (libjpeg's cropped decode may differ slightly from a full decode + slice at
    # window edges, so the oracle is TF's fused op itself)
    window = [17, 23, 101, 90]
    got = pp.decode_and_crop(PHOTO, window, method).numpy()
    np.testing.assert_array_equal(got, _tf_decode_crop(PHOTO, window, method))
    assert got.shape == (101, 90, 3)
    other = "INTEGER_FAST" if method != "INTEGER_FAST" else "INTEGER_ACCURATE"
    if method != "":  # "" is one of the two on every platform
        assert not np.array_equal(got, _tf_decode_crop(PHOTO, window, other))


def test_png_unaffected():
    outs = [pp.decode(PNG, m).numpy() for m in METHODS]
    for out in outs[1:]:
        np.testing.assert_array_equal(outs[0], out)
    prep = {m: pp.get_preprocessing("imagenet_32", dct_method=m) for m in METHODS}
    evals = [prep[m].eval(PNG).numpy() for m in METHODS]
    for out in evals[1:]:
        np.testing.assert_array_equal(evals[0], out)


@pytest.mark.parametrize("name", ["imagenet_64", "imagenet_64a", "imagenet_224_256"])
@pytest.mark.parametrize("method", METHODS)
def test_eval_equals_decode_then_documented_resize_and_crop(name, method):
    prep = pp.get_preprocessing(name, dct_method=method)
    assert prep.dct_method == method
    image = _tf_decode(PHOTO, method)
    h, w = image.shape[:2]
    new_h, new_w = imagenet.resize_shorter_side_shape(h, w, prep.eval_resize)
    resized = tf.raw_ops.ResizeBilinear(images=image[None], size=[new_h, new_w],
                                        align_corners=False, half_pixel_centers=False)[0]
    top = (int(new_h) - prep.eval_size) // 2
    left = (int(new_w) - prep.eval_size) // 2
    want = resized.numpy()[top:top + prep.eval_size, left:left + prep.eval_size]
    want = want - np.asarray(pp.MEAN_RGB, np.float32)
    np.testing.assert_array_equal(prep.eval(PHOTO).numpy(), want)


def test_eval_and_train_pixels_depend_on_dct_method():
    acc = pp.get_preprocessing("imagenet_64", dct_method="INTEGER_ACCURATE")
    fast = pp.get_preprocessing("imagenet_64", dct_method="INTEGER_FAST")
    assert not np.array_equal(acc.eval(PHOTO).numpy(), fast.eval(PHOTO).numpy())
    seed = [3, 4]
    # the random choices do not depend on the decoder; the pixels do
    pa, pf = acc.sample_params(PHOTO, seed), fast.sample_params(PHOTO, seed)
    for k in pa:
        np.testing.assert_array_equal(pa[k].numpy(), pf[k].numpy())
    assert not np.array_equal(acc.train_uint8(PHOTO, seed).numpy(),
                              fast.train_uint8(PHOTO, seed).numpy())


@pytest.mark.parametrize("method", METHODS)
def test_train_replay_by_hand_with_dct_method(method):
    prep = pp.get_preprocessing("imagenet_32", dct_method=method)
    for s in range(4):
        params = prep.sample_params(PHOTO, [s, 1])
        got = prep.train_uint8(PHOTO, [s, 1]).numpy()
        np.testing.assert_array_equal(got, prep.train_uint8_from_params(PHOTO, params).numpy())
        img = _tf_decode_crop(PHOTO, params["crop"].numpy(), method)
        if params["flip"].numpy():
            img = img[:, ::-1]
        want = common.to_uint8(common.resize_bilinear(img, [32, 32])).numpy()
        np.testing.assert_array_equal(got, want)


def test_small_type_uses_dct_method():
    acc = pp.get_preprocessing("small_32")
    fast = pp.get_preprocessing("small_32", dct_method="INTEGER_FAST")
    assert fast.dct_method == "INTEGER_FAST"
    assert not np.array_equal(acc.eval(PHOTO).numpy(), fast.eval(PHOTO).numpy())
    assert not np.array_equal(acc.train_uint8(PHOTO, [1, 2]).numpy(),
                              fast.train_uint8(PHOTO, [1, 2]).numpy())


def test_dct_method_in_tf_data_graph_mode():
    prep = pp.get_preprocessing("imagenet_32", dct_method="INTEGER_FAST")
    ds = tf.data.Dataset.from_tensor_slices([PHOTO, PHOTO]).map(prep.eval)
    for out in ds:
        np.testing.assert_array_equal(out.numpy(), prep.eval(PHOTO).numpy())


# ---------------------------------------------------------- training_random_crop
def _crop_fractions(prep, encoded, shape, seeds):
    fn = tf.function(lambda s: prep.sample_params(encoded, s)["crop"])
    out = []
    for s in seeds:
        y, x, h, w = fn(tf.constant([s, 11], tf.int64)).numpy()
        assert 0 <= y and 0 <= x and y + h <= shape[0] and x + w <= shape[1]
        out.append(h * w / (shape[0] * shape[1]))
    return np.asarray(out)


@pytest.mark.parametrize("hw", [(160, 200), (200, 160), (48, 48), (30, 120)])
def test_no_random_crop_is_the_whole_image(hw):
    encoded = _jpeg(skimage.data.astronaut()[:hw[0], :hw[1]])
    off = pp.get_preprocessing("imagenet_32", training_random_crop=False)
    on = pp.get_preprocessing("imagenet_32")
    assert off.training_random_crop is False and on.training_random_crop is True
    seeds = range(150)
    np.testing.assert_array_equal(_crop_fractions(off, encoded, hw, seeds), 1.0)
    frac_on = _crop_fractions(on, encoded, hw, seeds)
    if hw != (30, 120):  # 4:1 fits no aspect ratio in [0.75, 1.33]: whole image either way
        assert frac_on.mean() < 0.8 and np.mean(frac_on < 1.0) > 0.8, frac_on.mean()
        assert frac_on.min() >= 0.05


def test_no_random_crop_keeps_flip_and_resize():
    off = pp.get_preprocessing("imagenet_32", training_random_crop=False)
    on = pp.get_preprocessing("imagenet_32")
    flips = []
    for s in range(12):
        p_off, p_on = off.sample_params(PHOTO, [s, 5]), on.sample_params(PHOTO, [s, 5])
        assert int(p_off["flip"]) == int(p_on["flip"])  # same seed streams
        flips.append(int(p_off["flip"]))
        np.testing.assert_array_equal(p_off["crop"].numpy(), [0, 0, 160, 200])
        img = pp.decode(PHOTO).numpy()
        if flips[-1]:
            img = img[:, ::-1]
        want = common.to_uint8(common.resize_bilinear(img, [32, 32])).numpy()
        np.testing.assert_array_equal(off.train_uint8(PHOTO, [s, 5]).numpy(), want)
    assert 0 < sum(flips) < len(flips)


def test_imagenet_module_defaults_unchanged():
    # kd/reinforce.py and multicrop call these with default arguments
    seed = [7, 8]
    a = imagenet.sample_train_params(PHOTO, seed)
    b = imagenet.sample_train_params(PHOTO, seed, True)
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy())
    np.testing.assert_array_equal(
        imagenet.train_uint8(PHOTO, seed, 32).numpy(),
        pp.get_preprocessing("imagenet_32").train_uint8(PHOTO, seed).numpy())


# ------------------------------------------------------------------ bad values
@pytest.mark.parametrize("bad", ["FOO", "integer_fast", None, 1])
def test_bad_dct_method_raises_naming_it(bad):
    with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(")):
        pp.get_preprocessing("imagenet", dct_method=bad)
    with pytest.raises(ValueError, match="dct_method"):
        pp.decode(PHOTO, bad)
    with pytest.raises(ValueError, match="dct_method"):
        pp.decode_and_crop(PHOTO, [0, 0, 8, 8], bad)


@pytest.mark.parametrize("bad", ["false", 0, None])
def test_bad_training_random_crop_raises(bad):
    with pytest.raises(ValueError, match="training_random_crop"):
        pp.get_preprocessing("imagenet", training_random_crop=bad)


def test_no_random_crop_rejected_for_small_types():
    with pytest.raises(ValueError, match="imagenet.*small_32"):
        pp.get_preprocessing("small_32", training_random_crop=False)
    assert pp.get_preprocessing("small_32", training_random_crop=True).training_random_crop
    assert pp.get_preprocessing("imagenet", training_random_crop=np.bool_(False)
                                ).training_random_crop is False
