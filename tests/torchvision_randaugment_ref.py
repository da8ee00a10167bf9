"""Helper of tests/test_randaugment_torchvision.py, run in its own process (torchvision
segfaults when imported after TensorFlow): applies torchvision 0.29.1's RandAugment ops
exactly as `torchvision.transforms.RandAugment` does (its `_augmentation_space` with 31 bins
for the magnitude, `_apply_op` with NEAREST and fill None = 0) and saves the outputs.

    python tests/torchvision_randaugment_ref.py IN.npz OUT.npz [--tensor]

IN.npz: ``image<i>`` uint8 [H, W, 3] arrays and ``cases``: a JSON string, a list of
``[image_index, [[op_name, bin, sign], ...]]`` (the ops run in order, as one RandAugment call
with those draws; sign -1 negates a signed op's magnitude as RandAugment's coin does).
OUT.npz: ``out<k>`` uint8 [H, W, 3] for case k and ``args<k>`` float64 [ops]: the signed
magnitudes `_apply_op` received (what ml-dr stores). PIL images by default; --tensor runs the
same ops on uint8 CHW tensors (the path ml-dr's generation takes: RandAugment after collate).
"""

import json
import sys

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode, RandAugment
from torchvision.transforms.autoaugment import _apply_op

NUM_BINS = 31  # torchvision's default num_magnitude_bins, ml-dr's


def run(image, ops, tensor):
    h, w = image.shape[:2]
    space = RandAugment(num_ops=len(ops))._augmentation_space(NUM_BINS, (h, w))
    img = (torch.from_numpy(image).permute(2, 0, 1).contiguous() if tensor
           else Image.fromarray(image))
    args = []
    for name, bin_, sign in ops:
        magnitudes, signed = space[name]
        magnitude = float(magnitudes[int(bin_)].item()) if magnitudes.ndim > 0 else 0.0
        if signed and sign < 0:
            magnitude *= -1.0
        args.append(magnitude)
        img = _apply_op(img, name, magnitude, interpolation=InterpolationMode.NEAREST,
                        fill=None)
    out = img.permute(1, 2, 0).numpy() if tensor else np.asarray(img)
    return np.ascontiguousarray(out, np.uint8), np.array(args, np.float64)


def main(src, dst, tensor=False):
    torch.set_num_threads(1)
    data = np.load(src)
    out = {}
    for k, (index, ops) in enumerate(json.loads(str(data["cases"]))):
        out[f"out{k}"], out[f"args{k}"] = run(data[f"image{index}"], ops, tensor)
    np.savez(dst, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--tensor" in sys.argv[3:])
