"""PSNR of our ImageNet-C files against Hendrycks' pipeline, per deterministic corruption.

    python bench/bench_imagenet_c_psnr.py [--severities 1-5] [--json_out FILE]

Reference (``make_imagenet_c.py``): PIL image -> torchvision ``Resize(256)`` +
``CenterCrop(224)`` -> ``imagecorruptions`` corruption -> ``np.uint8`` -> PIL JPEG q85.
Ours (``datasets.build_corrupted``): ``pil_resize.imagenet_c_crop`` -> our corruption ->
``tf.io.encode_jpeg`` q85. Both files are decoded and compared. The random corruptions
are left out (their streams differ by design); the clean crops are compared for all.
Photos nobody else uses: skimage retina, hubble_deep_field, stereo_motorcycle[0], and
every 200th Imagenette validation JPEG when ../shared/data/imagenette2-224.tar.gz exists.
"""

import argparse
import io
import json
import os
import sys
import tarfile

import numpy as np
import torchvision.transforms as T  # before TensorFlow (segfault otherwise)
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DETERMINISTIC = ("defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate",
                 "jpeg_compression", "gaussian_blur", "saturate")
TAR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                   "imagenette2-224.tar.gz")


def photos():
    """(name, encoded bytes) of the photos."""
    import skimage.data
    out = []
    for name, img in (("retina", skimage.data.retina()[..., :3]),
                      ("hubble_deep_field", skimage.data.hubble_deep_field()),
                      ("stereo_motorcycle", skimage.data.stereo_motorcycle()[0])):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "PNG")
        out.append((name, buf.getvalue()))
    if os.path.exists(TAR):
        with tarfile.open(TAR) as tar:
            members = sorted(
                m.name for m in tar.getmembers()
                if m.isfile() and m.name.startswith("val/") and m.name.endswith(".JPEG"))
            for name in members[::200]:
                out.append((name, tar.extractfile(name).read()))
    return out


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def jpeg_pil(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=85, optimize=True)
    return np.asarray(Image.open(buf).convert("RGB"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--severities", default="1-5")
    parser.add_argument("--json_out", default="")
    args = parser.parse_args()
    lo, _, hi = args.severities.partition("-")
    severities = range(int(lo), int(hi or lo) + 1)
    from imagecorruptions import corrupt
    items = photos()
    refs = {}
    for name, data in items:
        crop = np.asarray(T.CenterCrop(224)(T.Resize(256)(Image.open(io.BytesIO(data))
                                                          .convert("RGB"))))
        refs[name] = {"crop": crop}
        for c in DETERMINISTIC:
            for s in severities:
                refs[name][c, s] = jpeg_pil(np.uint8(corrupt(crop, corruption_name=c,
                                                             severity=s)))
    import tensorflow as tf

    from preprocessing import pil_resize
    from preprocessing.corruptions import registry
    results = {"crop": []}
    for name, data in items:
        crop = pil_resize.imagenet_c_crop(tf.constant(data), 256, 224)
        results["crop"].append(psnr(crop.numpy(), refs[name]["crop"]))
        for c in DETERMINISTIC:
            for s in severities:
                out = registry.corrupt(crop, c, s, tf.constant([0, 0], tf.int64))
                ours = tf.io.decode_jpeg(tf.io.encode_jpeg(out, quality=85),
                                         dct_method="INTEGER_ACCURATE").numpy()
                results.setdefault(c, []).append(psnr(ours, refs[name][c, s]))
    table = {}
    print(f"{len(items)} photos; PSNR (dB) of our file vs the reference file, inf = identical")
    for key, values in results.items():
        finite = [v for v in values if np.isfinite(v)]
        table[key] = {"mean_finite": float(np.mean(finite)) if finite else None,
                      "worst": float(min(values)), "identical": sum(not np.isfinite(v)
                                                                   for v in values),
                      "count": len(values)}
        t = table[key]
        print(f"{key:18s} identical {t['identical']:3d}/{t['count']:3d}  mean(finite) "
              f"{t['mean_finite'] if t['mean_finite'] is None else round(t['mean_finite'], 1)}"
              f"  worst {t['worst']:.1f}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(table, f, indent=1)


if __name__ == "__main__":
    main()
