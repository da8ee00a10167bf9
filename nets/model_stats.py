"""Parameter and multiply-accumulate counts of a built Keras functional model.

MACs per image count the arithmetic of convolutions (grouped and depthwise included),
dense layers and fixed blur filters; element-wise ops, BN, pooling and activations are not
counted (the usual convention: "GFLOPs" in papers = these MACs). Shapes come from each
layer's output, so the model must have a fixed input size: `config_macs` builds such a copy
of a config's network. Used by the run summary line (engine/run_display.py) and bench/.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import keras


def count_params(model: keras.Model) -> int:
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))


def _layers(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):  # a nested functional block: its own layers
            yield from _layers(layer)
        else:
            yield layer


def multiply_accumulates(model: keras.Model) -> int:
    """MACs per image; TypeError when an output shape is not static."""
    total = 0
    for layer in _layers(model):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw, cin, mult = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += h * w * kh * kw * cin * mult
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += h * w * kh * kw * cin * cout  # kernel already holds cin / groups
        elif isinstance(layer, keras.layers.Dense):
            total += layer.kernel.shape[0] * layer.kernel.shape[1]
        elif type(layer).__name__ == "BlurPool2D":
            _, h, w, c = layer.output.shape
            total += h * w * c * layer.filter_size ** 2
    return int(total)


def config_macs(cfg: Mapping[str, Any], num_classes: int, size: int) -> int:
    """MACs per `size` x `size` image of `nets.factory.build_from_config(cfg, num_classes)`,
    counted on a fixed-size copy that is built and dropped."""
    from nets.factory import resnet_arguments
    from nets.resnet import build_resnet
    model = build_resnet(int(cfg["resnet_size"]), int(num_classes),
                         input_shape=(size, size, 3), **resnet_arguments(cfg))
    return multiply_accumulates(model)
