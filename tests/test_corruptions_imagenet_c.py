"""ImageNet-C pixels as the benchmark's (issue 17): the generator's resize and crop against
PIL and torchvision, every corruption's pixels in the three execution modes, and the blurs
on flat regions against ``imagecorruptions-imaug``.

Photos used here and nowhere else in the suite: scikit-image ``retina``,
``hubble_deep_field`` and ``stereo_motorcycle``; the PIL/torchvision references are computed
in a child process (torchvision segfaults when imported after TensorFlow)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from preprocessing import pil_resize
from preprocessing.corruptions import blur, registry

_REFERENCE = r"""
import json, sys
import numpy as np
import torchvision.transforms as T
from PIL import Image
cases = json.loads(sys.argv[1])
out = {}
for i, (path, size, crop) in enumerate(cases):
    img = Image.fromarray(np.load(path))
    if crop:
        img = T.CenterCrop(crop)(T.Resize(size)(img))
    else:  # Pillow's two passes, horizontal then vertical (see pil_resize's docstring)
        img = img.resize((size[1], img.size[1]), Image.BILINEAR)
        img = img.resize((size[1], size[0]), Image.BILINEAR)
    np.save(path + f".{i}.npy", np.asarray(img))
"""


def _photos():
    import skimage.data
    return [skimage.data.retina()[..., :3], skimage.data.hubble_deep_field(),
            skimage.data.stereo_motorcycle()[0]]


def _references(tmp_path, images, cases):
    """PIL / torchvision outputs of (image index, size, crop) cases, from a child process."""
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"img{i}.npy"))
        np.save(paths[-1], image)
    spec = [(paths[i], size, crop) for i, size, crop in cases]
    subprocess.run([sys.executable, "-c", _REFERENCE, json.dumps(spec)], check=True)
    return [np.load(f"{paths[i]}.{k}.npy") for k, (i, _, _) in enumerate(cases)]


@pytest.fixture(scope="module")
def small_photos():
    """The three photos shrunk (PIL BOX, odd sizes) so the tests stay fast, plus a
    non-square crop of one."""
    from PIL import Image
    out = []
    for image, size in zip(_photos(), ((163, 171), (97, 130), (121, 89))):
        out.append(np.asarray(Image.fromarray(image).resize(size[::-1], Image.BOX)))
    return out


def test_pil_resize_matches_pils_two_passes(tmp_path, small_photos):
    sizes = [(256, 341), (40, 33), (97, 130), (300, 17), (64, 64), (1, 5)]
    cases = [(i, list(s), None) for i in range(len(small_photos)) for s in sizes]
    refs = _references(tmp_path, small_photos, cases)
    graph = tf.function(lambda im, h, w: pil_resize.pil_resize(im, (h, w)),
                        input_signature=[tf.TensorSpec([None, None, 3], tf.uint8),
                                         tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
    for (i, size, _), ref in zip(cases, refs):
        ours = pil_resize.pil_resize(small_photos[i], size).numpy()
        np.testing.assert_array_equal(ours, ref, err_msg=f"photo {i} -> {size}")
        # dynamic shapes in a graph: one trace for every size
        np.testing.assert_array_equal(graph(small_photos[i], *size).numpy(), ref)


def test_resize_and_crop_match_torchvision(tmp_path, small_photos):
    # shorter side up- and down-scaled; odd H - crop (torchvision rounds half to even)
    cases = [(i, s, c) for i in range(len(small_photos))
             for s, c in ((256, 224), (64, 57), (90, 87), (33, 32))]
    refs = _references(tmp_path, small_photos, cases)
    data = {}
    for (i, s, c), ref in zip(cases, refs):
        ours = pil_resize.resize_and_crop(tf.constant(small_photos[i]), s, c).numpy()
        np.testing.assert_array_equal(ours, ref, err_msg=f"photo {i} Resize({s}) crop {c}")
        data.setdefault((s, c), []).append((i, ref))
    for (s, c), items in data.items():  # the same pixels inside a tf.data map
        ds = tf.data.Dataset.from_generator(
            lambda items=items: (small_photos[i] for i, _ in items),
            output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
        got = list(ds.map(lambda im: pil_resize.resize_and_crop(im, s, c)).as_numpy_iterator())
        for g, (_, ref) in zip(got, items):
            np.testing.assert_array_equal(g, ref)


def test_center_crop_offsets_round_half_to_even():
    # (dim - crop) / 2 = 0.5, 1.5, 2.5, 3.5 -> 0, 2, 2, 4 (Python's round), not // 2.
    tops = [int(pil_resize.center_crop_offsets(224 + d, 224, 224)[0]) for d in (1, 3, 5, 7)]
    assert tops == [0, 2, 2, 4]
    assert [int(v) for v in pil_resize.resize_shorter_side_size(375, 500, 256)] == [256, 341]
    assert [int(v) for v in pil_resize.resize_shorter_side_size(500, 333, 256)] == [384, 256]


@pytest.fixture(scope="module")
def tiny_photos(small_photos):
    return [pil_resize.resize_and_crop(tf.constant(p), 40, 36).numpy() for p in small_photos[:2]]


@pytest.mark.parametrize("name", registry.ALL)
def test_same_pixels_eager_function_and_dataset(name, tiny_photos):
    """Every corruption x severity 1..5: identical pixels eagerly, in a tf.function and
    in a tf.data map (Grappler rewrites graphs; see common.ordered_sum)."""
    fn = registry.get(name)
    seeds = np.array([[17, 1], [17, 2]], np.int64)
    images = np.stack(tiny_photos)
    for severity in range(1, 6):
        eager = np.stack([fn(tf.constant(im), severity, tf.constant(s))
                          for im, s in zip(images, seeds)])
        graph = tf.function(lambda im, s: fn(im, severity, s))
        graphed = np.stack([graph(tf.constant(im), tf.constant(s))
                            for im, s in zip(images, seeds)])
        mapped = np.stack(list(tf.data.Dataset.from_tensor_slices((images, seeds)).map(
            lambda im, s: fn(im, severity, s)).as_numpy_iterator()))
        np.testing.assert_array_equal(eager, graphed, err_msg=f"{name} {severity} function")
        np.testing.assert_array_equal(eager, mapped, err_msg=f"{name} {severity} tf.data")


# Fraction of constant images (levels 0..255) that differ from the reference, per
# severity; 0 where the module reproduces the reference's float arithmetic on flat regions.
FLAT_TOLERANCE = {"defocus_blur": 0.0, "gaussian_blur": 0.0, "zoom_blur": 0.0,
                  "glass_blur": 0.0}


@pytest.mark.parametrize("name", sorted(FLAT_TOLERANCE))
def test_blurs_on_flat_regions_as_the_reference(name):
    from imagecorruptions import corrupt
    levels = np.arange(0, 256, 15)
    for severity in range(1, 6):
        off = 0
        for k in levels:
            flat = np.full((32, 32, 3), k, np.uint8)
            if name == "glass_blur":  # deterministic on a flat image: shuffling is a no-op
                ref = corrupt(flat, severity, name, seed=0)
            else:
                ref = corrupt(flat, corruption_name=name, severity=severity)
            ours = getattr(blur, name)(tf.constant(flat), severity, tf.constant([0, 0])).numpy()
            off += np.mean(ours != ref)
        assert off / len(levels) <= FLAT_TOLERANCE[name], (name, severity)
