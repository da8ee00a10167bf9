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
    """The reference corruption of a uint8 image (NumPy's global RNG seeded first)."""
    from imagecorruptions import corrupt
    np.random.seed(np_seed)
    return corrupt(image, corruption_name=name, severity=severity)
