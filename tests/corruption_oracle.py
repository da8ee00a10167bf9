"""Test helpers for the ImageNet-C corruptions: small real photos, PSNR, and the reference
``imagecorruptions-imaug`` implementation called with a fixed NumPy seed."""

import numpy as np


def photos(size=64):
    """Three uint8 [size, size, 3] photos from scikit-image (centre crop, area resize)."""
    import skimage.data
    from PIL import Image
    out = []
    for name in ("astronaut", "chelsea", "coffee"):
        img = getattr(skimage.data, name)()
        h, w = img.shape[:2]
        s = min(h, w)
        img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out.append(np.asarray(Image.fromarray(img).resize((size, size), Image.BOX)))
    return out


def psnr(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def reference(name, image, severity, np_seed=0):
    """The reference corruption of a uint8 image (NumPy's global RNG seeded first;
    impulse_noise and glass_blur draw from generators of their own, seeded through their
    ``seed`` argument -- unseeded, their draws differed on every call and the statistics
    tests failed now and then)."""
    from imagecorruptions import corrupt
    np.random.seed(np_seed)
    kwargs = {"seed": np_seed} if name in ("impulse_noise", "glass_blur") else {}
    return corrupt(image, corruption_name=name, severity=severity, **kwargs)


def eager_repeatable(fn, images, severity, seeds):
    """Asserts that ``fn(image, severity, seed)`` gives identical pixels when called again
    with the same seeds; returns the outputs stacked.  (The same pixels inside a
    tf.function and a tf.data map: every corruption, in test_corruptions_imagenet_c.py.)"""
    import tensorflow as tf
    seeds = np.asarray(seeds, np.int64)
    eager = np.stack([fn(tf.constant(im), severity, tf.constant(s))
                      for im, s in zip(images, seeds)])
    again = np.stack([fn(tf.constant(im), severity, tf.constant(s))
                      for im, s in zip(images, seeds)])
    np.testing.assert_array_equal(eager, again)
    return eager


def severity_psnrs(corrupt, image):
    """PSNR to the clean image of ``corrupt(image, severity)`` (a uint8 array) at
    severities 1..5, asserting on the way that each output is uint8, keeps the shape and
    differs from the clean image."""
    scores = []
    for severity in range(1, 6):
        out = corrupt(image, severity)
        assert out.dtype == np.uint8 and out.shape == image.shape, severity
        assert not np.array_equal(out, image), severity
        scores.append(psnr(out, image))
    return scores
