"""Helper of tests/test_crop_samplers.py, run in its own process (torchvision segfaults when
imported after TensorFlow): ``RandomResizedCrop.get_params`` windows for the given cases.

    python tests/torchvision_crops.py OUT.npz H:W:SCALE_LO:SCALE_HI:N ...

OUT.npz holds, per case i, ``case<i>`` = int64 [N, 4] rows (i, j, h, w) as torchvision returns
them, drawn after ``torch.manual_seed(i)``; ratio is the default (3/4, 4/3).
"""

import sys

import numpy as np
import torch
from torchvision.transforms import RandomResizedCrop

RATIO = (3 / 4, 4 / 3)


def main(out, cases):
    torch.set_num_threads(1)
    arrays = {}
    for k, case in enumerate(cases):
        h, w, lo, hi, n = case.split(":")
        image = torch.empty(3, int(h), int(w), dtype=torch.uint8)  # only its shape is read
        torch.manual_seed(k)
        arrays[f"case{k}"] = np.array(
            [RandomResizedCrop.get_params(image, [float(lo), float(hi)], list(RATIO))
             for _ in range(int(n))], np.int64)
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
