"""Shared by the weight-import tests (tests/test_import_weights.py, tests/test_import_original.py):
the photos the sources and our networks see, and the logit comparison with its threshold."""

import os

import numpy as np

IMAGE_NAMES = ("rocket", "immunohistochemistry")  # skimage.data photos no other test uses
TOLERANCE = 1e-4  # max |ours - theirs| <= TOLERANCE * max |theirs|, float32


def photos(size: int) -> np.ndarray:
    """The two photos, center-cropped to a square and resized (PIL bilinear) to size x size,
    uint8 RGB (2, size, size, 3)."""
    import skimage.data
    from PIL import Image
    out = []
    for name in IMAGE_NAMES:
        img = getattr(skimage.data, name)()
        h, w = img.shape[:2]
        s = min(h, w)
        img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out.append(np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR),
                              np.uint8))
    return np.stack(out)


def compare(arch, ours, theirs, size):
    """Asserts the threshold; appends the figures to $IMPORT_WEIGHTS_RESULTS when set (how
    results/import_weights.md is made)."""
    diff, scale = float(np.abs(ours - theirs).max()), float(np.abs(theirs).max())
    report = os.environ.get("IMPORT_WEIGHTS_RESULTS")
    if report:
        with open(report, "a") as f:
            f.write(f"{arch} {size} {diff:.3g} {scale:.3g}\n")
    assert diff <= TOLERANCE * scale, (arch, diff, scale)
