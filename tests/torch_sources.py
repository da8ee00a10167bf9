"""Helper of tests/test_import_weights.py, run in its own process (torchvision segfaults when
imported after TensorFlow): builds torchvision / timm ResNets with random weights, BN
statistics and affine parameters randomised too, saves each state dict and its logits on
the given images.

    python tests/torch_sources.py OUT_DIR IMAGES_DIR ARCH:CLASSES:SIZE:SUFFIX ...

IMAGES_DIR/<size>.npy: (N, H, W, 3) float32 0-255 RGB. Writes OUT_DIR/<i><suffix> (state
dict: .safetensors, .pth, or .train.pth = a timm training checkpoint with `args`) and
OUT_DIR/<i>.npy (logits) for the i-th spec.
"""

import argparse
import os
import sys

import numpy as np
import timm
import torch
import torchvision
from safetensors.torch import save_file

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def source_model(arch, num_classes):
    library, name = arch.split(":")
    torch.manual_seed(0)
    if library == "timm":
        model = timm.create_model(name, pretrained=False, num_classes=num_classes)
    else:
        model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.0, generator=g)
                m.bias.normal_(0.0, 0.1, generator=g)
                m.running_mean.normal_(0.0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
        model.fc.weight.normal_(0.0, 0.05, generator=g)
    return model.eval()


def main(out_dir, images_dir, specs):
    torch.set_num_threads(1)
    for i, spec in enumerate(specs):
        arch, classes, size, suffix = spec.rsplit(":", 3)
        model = source_model(arch, int(classes))
        images = np.load(os.path.join(images_dir, f"{size}.npy"))
        x = torch.from_numpy(images).permute(0, 3, 1, 2) / 255.0
        x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        with torch.no_grad():
            np.save(os.path.join(out_dir, f"{i}.npy"), model(x).numpy())
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        path = os.path.join(out_dir, f"{i}{suffix}")
        if suffix == ".train.pth":  # a timm training checkpoint (ml-dr's R50-D best.pt)
            torch.save({"epoch": 149, "arch": arch.split(":")[1], "metric": 80.0,
                        "state_dict": {f"module.{k}": v for k, v in state.items()},
                        "args": argparse.Namespace(model=arch.split(":")[1], lr=0.1)}, path)
        elif suffix == ".pth":
            torch.save(state, path)
        else:
            save_file(state, path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
