"""RandAugment against torchvision 0.29.1 pixel for pixel (issue 17).

Every one of the 14 ops (`augment_ops.RANDAUGMENT_NAMES`) at magnitude bins 0, 1, 5, 9, 10
with both signs, fill 0, geometry "pil", equals `torchvision.transforms.RandAugment._apply_op`
on a PIL image (NEAREST, fill 0) exactly; ml-dr-style stored draws (op, bin, sign) replayed
through `randaugment.apply` reproduce torchvision's pixels. torchvision runs in a child
process (tests/torchvision_randaugment_ref.py: it segfaults when imported after TensorFlow).

Photos no other test uses: skimage's colorwheel (370 x 371, odd width), a synthetic gradient
(37 x 50) and, when ../shared/data has Imagenette, training JPEGs: every 500th of the sorted
`train/` members from index 250 (19 photos; the per-op test takes every third of them).
"""

import functools
import io
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import tensorflow as tf
from conftest import SHARED_DATA

from preprocessing import augment_ops as A
from preprocessing import randaugment as RA

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGENETTE = os.path.join(SHARED_DATA, "imagenette2-224.tar.gz")
BINS = (0, 1, 5, 9, 10)
SIGNED = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
          "Contrast", "Sharpness")


def gradient():
    y, x = np.mgrid[:37, :50]
    return np.stack([x * 5, y * 7, (x + y) * 3], -1).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def imagenette_photos():
    """The assigned Imagenette training photos (224 x 224 RGB), [] without the data."""
    from PIL import Image
    if not os.path.exists(IMAGENETTE):
        return ()
    with tarfile.open(IMAGENETTE) as t:
        members = sorted((m for m in t.getmembers()
                          if m.isfile() and m.name.startswith("train/")), key=lambda m: m.name)
        return tuple(np.asarray(Image.open(io.BytesIO(t.extractfile(m).read())).convert("RGB"))
                for m in members[250::500])


def photos():
    import skimage.data
    return [skimage.data.colorwheel(), gradient()] + list(imagenette_photos())


def torchvision_outputs(images, cases, tmp_path, tensor=False):
    """Runs tests/torchvision_randaugment_ref.py on `cases` ([image index, [[op, bin, sign],
    ...]]); returns (outputs, signed magnitudes) per case."""
    src, dst = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(src, cases=json.dumps(cases), **{f"image{i}": im for i, im in enumerate(images)})
    cmd = [sys.executable, os.path.join(HERE, "torchvision_randaugment_ref.py"), str(src),
           str(dst)] + (["--tensor"] if tensor else [])
    subprocess.run(cmd, check=True, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    out = np.load(dst)
    return [out[f"out{k}"] for k in range(len(cases))], [out[f"args{k}"] for k in
                                                         range(len(cases))]


def _replay_draws(num_images, count=24):
    """ml-dr-style stored draws: [image index, [(op index, bin, sign)] * 2]."""
    rng = np.random.default_rng(17)
    return [[k % num_images, [(int(rng.integers(14)), int(rng.choice(BINS)),
                               int(rng.choice([-1, 1]))) for _ in range(2)]]
            for k in range(count)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One torchvision run for every case of this module: (images, per-op cases, their
    outputs and magnitudes, replay draws, their outputs)."""
    images = photos()
    images = images[:2] + images[2::3]
    cases = [[i, [[name, b, s]]] for i in range(len(images)) for name in A.RANDAUGMENT_NAMES
             for b in BINS for s in ((1, -1) if name in SIGNED else (1,))]
    draws = _replay_draws(min(len(images), 4))
    replay = [[i, [[A.RANDAUGMENT_NAMES[o], b, s] for o, b, s in ops]] for i, ops in draws]
    outs, args = torchvision_outputs(images, cases + replay, tmp_path_factory.mktemp("tv"))
    n = len(cases)
    return images, cases, outs[:n], args[:n], draws, outs[n:]


@pytest.fixture(scope="module")
def per_op(reference):
    return reference[:4]


def _ours(image, name, b, s):
    h, w = image.shape[:2]
    arg = RA.magnitude_to_arg(name, float(b), float(s), h, w)
    if name in A.GEOMETRIC:
        return A.PIL_GEOMETRIC[name](image, arg, fill=0).numpy(), arg
    return A.OPS[name](image, arg, None).numpy(), arg


@pytest.mark.parametrize("name", A.RANDAUGMENT_NAMES)
def test_op_equals_torchvision_pil(per_op, name):
    images, cases, outs, args = per_op
    checked = 0
    for (i, [[op, b, s]]), want, tv_args in zip(cases, outs, args):
        if op != name:
            continue
        got, arg = _ours(tf.constant(images[i]), op, b, s)
        where = f"{op} bin {b} sign {s} image {i} {images[i].shape}"
        # The argument: torchvision's float32 magnitude (1 + it for the enhance ops,
        # int() of it for translations), bit for bit.
        tv = tv_args[0]
        expect = {"TranslateX": float(int(tv)), "TranslateY": float(int(tv))}.get(
            op, float(np.float32(1.0 + tv)) if op in RA._TV_ENHANCE else float(np.float32(tv)))
        if op not in RA._TV_NO_ARG:
            assert float(arg) == expect, where
        differ = int((got != want).any(-1).sum())
        assert differ == 0, f"{where}: {differ} pixels differ"
        checked += 1
    assert checked >= 2 * len(BINS)


def test_geometric_ops_move_pixels_and_fill(per_op):
    """The comparison above is not vacuous: at bin 9 every geometric op changes the photo
    and uncovers fill-0 pixels, and fill 128 changes exactly the uncovered values."""
    images, cases, outs, _ = per_op
    image = tf.constant(images[0])
    for name in A.GEOMETRIC:
        k = cases.index([0, [[name, 9, 1]]])
        assert (outs[k] != images[0]).any(-1).mean() > 0.05, name
        arg = RA.magnitude_to_arg(name, 9.0, 1.0, *images[0].shape[:2])
        zero = A.PIL_GEOMETRIC[name](image, arg, fill=0).numpy()
        grey = A.PIL_GEOMETRIC[name](image, arg, fill=128).numpy()
        uncovered = (zero != grey).any(-1)
        assert uncovered.any() and (grey[uncovered] == 128).all(), name
        assert (zero[~uncovered] == grey[~uncovered]).all(), name


def test_stored_draws_replay_torchvision_pixels(reference):
    """ml-dr-style draws (op, magnitude bin, sign), two ops per image as RandAugment(2, M),
    replayed through randaugment.apply with fill 0 give torchvision's pixels."""
    images, _, _, _, draws, outs = reference
    replay = tf.function(lambda image, p: RA.apply(image, p, fill=0), input_signature=[
        tf.TensorSpec([None, None, 3], tf.uint8),
        {"op_indices": tf.TensorSpec([2], tf.int32), "magnitudes": tf.TensorSpec([2]),
         "signs": tf.TensorSpec([2])}])
    for (i, ops), want in zip(draws, outs):
        p = {"op_indices": tf.constant([o for o, _, _ in ops], tf.int32),
             "magnitudes": tf.constant([b for _, b, _ in ops], tf.float32),
             "signs": tf.constant([s for _, _, s in ops], tf.float32)}
        got = replay(tf.constant(images[i]), p).numpy()
        assert (got != want).any(-1).sum() == 0, ops


def test_fill_and_geometry_arguments():
    image = tf.constant(gradient())
    p = {"op_indices": tf.constant([3]), "magnitudes": tf.constant([9.0]),
         "signs": tf.constant([1.0])}  # TranslateX by int(150/331 * 50 * 0.3) = 6 px
    out = RA.apply(image, p, fill=77).numpy()
    assert (out[:, :6] == 77).all() and (out[:, 6:] == gradient()[:, :-6]).all()
    assert (RA.apply(image, p).numpy()[:, :6] == 0).all()  # default: torchvision's 0
    tf_geo = RA.apply(image, p, fill=128, geometry="tf").numpy()
    assert (tf_geo == A.translate_x(image, 6.0).numpy()).all()
    for bad in (-1, 256, 1.5, "0", True):
        with pytest.raises(ValueError, match="fill"):
            RA.apply(image, p, fill=bad)
    with pytest.raises(ValueError, match="geometry"):
        RA.apply(image, p, geometry="cv2")


def test_pil_affine_paths():
    """Pillow's three NEAREST engines: a pure translation (scaling path), a shear
    (16.16 fixed point) and a matrix mapping corners beyond 32768 px (double path)."""
    from preprocessing.pil_geometry import pil_affine
    img = tf.constant(gradient())
    shift = pil_affine(img, tf.constant([1.0, 0, -2.0, 0, 1.0, 0], tf.float64), 0).numpy()
    assert (shift[:, 2:] == gradient()[:, :-2]).all() and (shift[:, :2] == 0).all()
    # x scaled by 1000 with a shear term: only column 0 samples inside; corners far out.
    far = pil_affine(img, tf.constant([1000.0, 1e-9, -500.0, 0, 1.0, 0], tf.float64),
                     9).numpy()
    assert (far[:, 1:] == 9).all() and (far[:, 0] == gradient()[:, 0]).all()
