"""The batched RandAugment / RandomErasing path equals the per-image one pixel for pixel.

Photos: scikit-image ``retina`` and ``hubble_deep_field`` (no other test uses them), plus
uniform noise (every histogram bin), a flat image and one with a constant channel (the
AutoContrast / Equalize identity cases), at odd sizes.
"""

import numpy as np
import pytest
import tensorflow as tf

from preprocessing import augment_ops as A
from preprocessing import augment_ops_batch as AB
from preprocessing import pil_geometry_batch as PGB
from preprocessing import randaugment as RA
from preprocessing import randaugment_batch as RAB
from preprocessing import random_erasing as RE
from preprocessing import random_erasing_batch as REB


def _photos(h, w):
    import skimage.data
    from PIL import Image
    out = []
    for name in ("retina", "hubble_deep_field"):
        img = getattr(skimage.data, name)()[..., :3]
        y0, x0 = img.shape[0] // 3, img.shape[1] // 4
        crop = img[y0:y0 + 3 * h, x0:x0 + 3 * w]
        out.append(np.asarray(Image.fromarray(crop).resize((w, h), Image.BOX)))
    rng = np.random.default_rng(5)
    out.append(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    out.append(np.full((h, w, 3), 77, np.uint8))
    const_channel = rng.integers(40, 90, (h, w, 3), dtype=np.uint8)
    const_channel[..., 1] = 200
    out.append(const_channel)
    return np.stack(out)


SIZES = [(37, 53), (24, 24)]
MAGNITUDES = [0.0, 3.5, 9.0, 10.0]


@pytest.mark.parametrize("h,w", SIZES)
@pytest.mark.parametrize("name", A.OP_NAMES)
@pytest.mark.parametrize("scale", RA.SCALES)
def test_every_op_equals_per_image(name, h, w, scale):
    images = _photos(h, w)
    n = len(images)
    cases = [(m, s) for m in MAGNITUDES for s in (-1.0, 1.0)]
    batch = np.concatenate([images] * len(cases))
    args = np.array([RA.magnitude_to_arg(name, m, s, h, w, scale).numpy()
                     for m, s in cases for _ in range(n)], np.float32)
    centers = np.stack([np.random.default_rng(len(args)).integers(-3, max(h, w) + 3, 2)
                        for _ in range(len(args))]).astype(np.int32)
    op = tf.function(AB.OPS[name])  # graph mode, as in tf.data (Grappler rewrites)
    got = op(tf.constant(batch), tf.constant(args), tf.constant(centers)).numpy()
    for i in range(len(batch)):
        want = A.OPS[name](batch[i], args[i], centers[i]).numpy()
        np.testing.assert_array_equal(got[i], want, err_msg=f"{name} image {i} arg {args[i]}")


def test_geometric_ops_fill_value(monkeypatch):
    """``fill`` reaches the vacated pixels ("tf" geometry and Cutout, fill 0)."""
    images = _photos(21, 30)
    monkeypatch.setattr(A, "FILL_VALUE", 0)
    for name in ("Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY", "Cutout"):
        arg = RA.magnitude_to_arg(name, 9.0, 1.0, 21, 30, "autoaugment").numpy()
        args = np.full([len(images)], arg, np.float32)
        centers = np.tile([[10, 15]], [len(images), 1]).astype(np.int32)
        got = tf.function(AB.OPS[name])(tf.constant(images), args, centers, fill=0).numpy()
        for i in range(len(images)):
            kw = {"fill": 0} if name in A.GEOMETRIC else {}  # Cutout: FILL_VALUE
            np.testing.assert_array_equal(
                got[i], A.OPS[name](images[i], args[i], centers[i], **kw))
        assert (got == 0).all(axis=-1).any(), name


def _stack(dicts):
    return {k: np.stack([d[k].numpy() for d in dicts]) for k in dicts[0]}


# Each (scale, fill, geometry) once; both geometries with both fills, Cutout with both.
@pytest.mark.parametrize("names, settings", [
    (A.RANDAUGMENT_NAMES, [("torchvision", 0, "pil"), ("torchvision", 128, "tf")]),
    (A.RANDAUGMENT_NAMES + ("Cutout", "Invert"), [("autoaugment", 128, "pil"),
                                                 ("autoaugment", 0, "tf")])])
def test_randaugment_batch_equals_apply(names, settings):
    images = np.concatenate([_photos(29, 35)] * 8)  # 40 images, every op drawn
    params = [RA.sample_params([7, i], 3, 9.0, 2.0, names) for i in range(len(images))]
    for scale, fill, geometry in settings:
        got = tf.function(RAB.apply_batch)(tf.constant(images), _stack(params), names,
                                           scale, fill, geometry).numpy()
        for i, p in enumerate(params):
            want = RA.apply(images[i], p, names, scale, fill, geometry).numpy()
            np.testing.assert_array_equal(got[i], want, err_msg=f"{scale} {fill} {geometry}")
    drawn = np.stack([p["op_indices"].numpy() for p in params])
    assert len(np.unique(drawn)) == len(names)


@pytest.mark.parametrize("mode", RE.MODES)
def test_random_erasing_batch_equals_apply(mode):
    images = np.concatenate([_photos(31, 26)] * 4)
    params = [RE.sample_params([3, i], (31, 26), 0.5) for i in range(len(images))]
    got = tf.function(REB.apply_batch)(tf.constant(images), _stack(params), mode).numpy()
    unknown_batch = tf.function(lambda x, p: REB.apply_batch(x, p, mode), input_signature=[
        tf.TensorSpec([None, 31, 26, 3], tf.uint8),
        {k: tf.TensorSpec([None] + list(v.shape[1:]), v.dtype)
         for k, v in _stack(params).items()}])
    np.testing.assert_array_equal(unknown_batch(images, _stack(params)), got)
    erased = 0
    for i, p in enumerate(params):
        np.testing.assert_array_equal(got[i], RE.apply(images[i], p, mode).numpy())
        erased += int(p["apply"])
    assert 0 < erased < len(images)
    none = _stack(params)
    none["apply"] = np.zeros_like(none["apply"])
    np.testing.assert_array_equal(REB.apply_batch(tf.constant(images), none, mode), images)


@pytest.mark.parametrize("name", A.OP_NAMES)
def test_every_op_takes_an_empty_group(name):
    """A batch where no image drew the op gives the op an empty group."""
    empty = tf.zeros([0, 12, 10, 3], tf.uint8)
    out = tf.function(lambda x, a, c: AB.OPS[name](x, a, c))(
        empty, tf.zeros([0]), tf.zeros([0, 2], tf.int32))
    assert out.shape == (0, 12, 10, 3) and out.dtype == tf.uint8


def test_rotate_and_shear_many_arguments():
    """Random angles / shears (graph mode): the source coordinate's float32 rounding and
    ``std::round`` must match the kernel's for every pixel."""
    rng = np.random.default_rng(11)
    images = np.repeat(_photos(47, 64)[:3], 16, axis=0)
    for name, hi in (("Rotate", 30.0), ("ShearX", 0.3), ("ShearY", 0.3),
                     ("TranslateX", 40.0), ("TranslateY", 40.0)):
        args = rng.uniform(-hi, hi, len(images)).astype(np.float32)
        if name.startswith("Translate"):
            args = np.round(args * 2) / 2  # ties: std::round goes away from zero
        got = tf.function(AB.OPS[name])(tf.constant(images), tf.constant(args), None).numpy()
        for i in range(len(images)):
            np.testing.assert_array_equal(got[i], A.OPS[name](images[i], args[i]).numpy(),
                                          err_msg=f"{name} {args[i]}")


def _encoded(n, size=48):
    import io

    from PIL import Image
    out = []
    for i, img in enumerate(_photos(size + 7, size + 3)[:2]):
        for flip in range(n // 2):
            buf = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(img[:, ::-1] if flip % 2 else img)).save(
                buf, format="JPEG", quality=90)
            out.append(buf.getvalue())
    return out


def _seeded(encoded):
    return tf.data.Dataset.from_tensor_slices(encoded).enumerate().map(
        lambda i, e: (e, tf.stack([tf.constant(9, tf.int64), i])))


@pytest.mark.parametrize("crops", [None, "multicrop"])
def test_train_stages_equal_make_train_fn(crops):
    """The batched training path (per-image stage, .batch(), batch stage) gives exactly the
    per-image make_train_fn views, in tf.data (graph mode), AutoAugment included."""
    from preprocessing import get_preprocessing, multicrop
    from preprocessing.train_augment import (
        PARAMS_KEY,
        AugmentConfig,
        make_train_fn,
        make_train_stages,
    )
    spec = get_preprocessing("imagenet_64")
    crops = multicrop.MultiCropConfig(2, 1, 40, 24) if crops else None
    cfg = AugmentConfig(autoaugment_type="" if crops else "v0", randaugment=(2, 9.0, 0.5),
                        random_erasing=0.5, randaugment_fill=0 if crops else 128)
    encoded = _encoded(8)
    per_image, per_batch = make_train_stages(spec, cfg, crops)
    got = list(_seeded(encoded).map(per_image).batch(4).map(per_batch))
    want = list(_seeded(encoded).map(make_train_fn(spec, cfg, crops)).batch(4))
    assert len(got) == len(want) == 2
    for g, w in zip(got, want):
        assert PARAMS_KEY not in g
        w = w if isinstance(w, dict) else {"image": w}
        assert set(g) == set(w)
        for key in w:
            assert g[key].dtype == tf.float32 and g[key].shape == w[key].shape
            np.testing.assert_array_equal(g[key].numpy(), w[key].numpy(), err_msg=key)


@pytest.mark.parametrize("h,w", SIZES)
@pytest.mark.parametrize("name", A.GEOMETRIC)
def test_pil_geometry_equals_per_image(name, h, w):
    """RandAugment's default "pil" geometry, random and special arguments, fill 0 and 77."""
    rng = np.random.default_rng(3)
    images = np.repeat(_photos(h, w)[:3], 6, axis=0)
    hi = {"Rotate": 30.0, "ShearX": 0.3, "ShearY": 0.3}.get(name, 20.0)
    args = rng.uniform(-hi, hi, len(images)).astype(np.float32)
    args[:4] = [0.0, hi, -hi, 0.5]
    for fill in (0, 77):
        got = tf.function(PGB.PIL_GEOMETRIC[name])(tf.constant(images), tf.constant(args),
                                                  None, fill).numpy()
        for i in range(len(images)):
            want = A.PIL_GEOMETRIC[name](images[i], args[i], fill=fill).numpy()
            np.testing.assert_array_equal(got[i], want, err_msg=f"{name} {args[i]} {fill}")


def test_bucket_sizes():
    """XLA groups are padded to 2**k or 3 * 2**k images (few shapes, at most 1/3 more)."""
    got = [int(AB._bucket(tf.constant(n))) for n in range(0, 26)]
    assert got == [0, 1, 2, 3, 4, 6, 6, 8, 8, 12, 12, 12, 12, 16, 16, 16, 16,
                   24, 24, 24, 24, 24, 24, 24, 24, 32]


def test_import_makes_no_tensors():
    """Importing the batched path leaves TensorFlow's runtime unconfigured, so the bench and
    the trainer can still set its thread pools (a module-level tensor would initialise it)."""
    import pathlib
    import subprocess
    import sys
    code = ("import tensorflow as tf\n"
            "import preprocessing.train_augment, preprocessing.randaugment_batch\n"
            "import preprocessing.random_erasing_batch, preprocessing.pil_geometry_batch\n"
            "tf.config.threading.set_inter_op_parallelism_threads(1)\n")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=pathlib.Path(__file__).resolve().parents[1])
