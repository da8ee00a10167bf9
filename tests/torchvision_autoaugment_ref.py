"""Helper of tests/test_autoaugment_magnitudes.py, run in its own process (torchvision
segfaults when imported after TensorFlow): applies single ops of torchvision 0.29.1's
AutoAugment (`torchvision.transforms.autoaugment._apply_op`, NEAREST) to PIL images.

    python tests/torchvision_autoaugment_ref.py IN.npz OUT.npz

IN.npz: ``image<i>`` uint8 [H, W, 3] arrays and ``cases``: a JSON list of
``[image_index, op_name, magnitude, fill]`` (magnitude in torchvision's units: the op's
``_apply_op`` argument). OUT.npz: ``out<k>`` uint8 [H, W, 3] per case.
"""

import json
import sys

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import _apply_op


def main(src, dst):
    torch.set_num_threads(1)
    data = np.load(src)
    out = {}
    for k, (index, name, magnitude, fill) in enumerate(json.loads(str(data["cases"]))):
        img = _apply_op(Image.fromarray(data[f"image{index}"]), name, float(magnitude),
                        interpolation=InterpolationMode.NEAREST, fill=[float(fill)] * 3)
        out[f"out{k}"] = np.ascontiguousarray(np.asarray(img), np.uint8)
    np.savez(dst, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
