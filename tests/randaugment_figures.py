"""Measures the figures quoted in preprocessing/randaugment.py and autoaugment.py (issue 17),
on the Imagenette photos of tests/test_randaugment_torchvision.py (224 px, 19 photos):

    python tests/randaugment_figures.py [TV_TENSOR_NPZ]

1. fill 0 vs 128: fraction of values (H x W x 3) that differ, per geometric op at M=9
   (both signs), geometry "pil";
2. geometry "tf" (the op library's TF ops, this code before issue 17) vs "pil", fill 0:
   fraction of pixels that differ per geometric op at M=9;
3. AutoAugment Contrast: ours (PIL: blend toward the rounded mean grey) vs the original TF
   formula (blend toward min(255, H*W/256)), per level used by the policies: mean |diff|,
   PSNR, fraction of values that differ.
"""

import numpy as np
import tensorflow as tf
from test_randaugment_torchvision import imagenette_photos

from preprocessing import augment_ops as A
from preprocessing import randaugment as RA


def main():
    photos = [tf.constant(p) for p in imagenette_photos()]
    print(f"{len(photos)} photos")
    for name in A.GEOMETRIC:
        fills, geos = [], []
        for p in photos:
            for s in (1.0, -1.0):
                arg = RA.magnitude_to_arg(name, 9.0, s, 224, 224)
                zero = A.PIL_GEOMETRIC[name](p, arg, fill=0).numpy()
                grey = A.PIL_GEOMETRIC[name](p, arg, fill=128).numpy()
                old = A.OPS[name](p, arg, fill=0).numpy()
                fills.append((zero != grey).mean())
                geos.append((zero != old).any(-1).mean())
        print(f"{name:11s} M=9 arg {float(arg):+.4g}: fill 0 vs 128 {100 * np.mean(fills):.2f} % "
              f"of values; tf vs pil geometry {100 * np.mean(geos):.2f} % of pixels")
    for level in (1, 3, 4, 5, 6, 7, 8):
        factor = level / 10 * 1.8 + 0.1
        mad, psnr, frac = [], [], []
        for p in photos:
            ours = A.contrast(p, factor).numpy().astype(np.float64)
            h, w = p.shape[:2]
            grey = tf.fill(tf.shape(p), tf.constant(min(255.0, h * w / 256.0)))
            orig = A._blend(tf.cast(grey, tf.uint8), p, factor).numpy().astype(np.float64)
            d = ours - orig
            mad.append(np.abs(d).mean())
            frac.append((d != 0).mean())
            psnr.append(10 * np.log10(255.0 ** 2 / max((d ** 2).mean(), 1e-12)))
        print(f"Contrast level {level} (factor {factor:.2f}): mean |ours - original| "
              f"{np.mean(mad):.1f}, PSNR {np.mean(psnr):.1f} dB (min {np.min(psnr):.1f}), "
              f"{100 * np.mean(frac):.0f} % of values differ")


if __name__ == "__main__":
    main()
