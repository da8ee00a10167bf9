"""torchvision and timm ResNet weights -> the Keras ResNet of ``nets.factory``.

Sources (read for the module layout only; no code copied): torchvision
``models/resnet.py`` (He et al. 2016, "Deep Residual Learning for Image Recognition",
arXiv 1512.03385, v1.5: stride on the bottleneck's 3x3) and timm ``models/resnet.py``
(Wightman, "PyTorch Image Models"; ``-d`` = ResNet-D of He et al. 2019, "Bag of Tricks",
arXiv 1812.01187: deep 32-32-64 stem + 2x2 average-pool shortcut, ``avg_down``;
``seresnet`` = SE of Hu et al. 2018, arXiv 1709.01507, with biased 1x1 convs).

Both use BN eps 1e-5, 3x3/2 max-pool with padding 1 (== our zero pad after the ReLU),
symmetric conv padding (== our fixed padding), ``count_include_pad=False`` + ``ceil_mode``
average pools (== Keras "same" average pooling) and ``(rgb / 255 - mean) / std`` inputs, which
``input_standardization="imagenet"`` reproduces from our preprocessing. ``ARCHITECTURES``
gives the settings of each source; ``layer_plan`` pairs every weighted Keras layer with its
source tensors; ``keras_weights`` / ``assign`` convert and check them (numpy + Keras only).
"""

from __future__ import annotations

import keras
import numpy as np

from nets.convert.state_dict import ConversionError
from nets.resnet import RESNET_BLOCKS

# Settings every converted source shares (the rest stay at their defaults).
COMMON = {"resnet_version": 1, "base_width": 64, "stem_type": "default", "pool_type": "gap",
          "embedding_size": 0, "head": "linear", "anti_alias_type": "",
          "anti_alias_filter_size": 0, "use_sk_block": False, "no_downsample": False,
          "use_resnet_d": False, "use_se_block": False, "se_bias": False,
          "input_standardization": "imagenet"}


def _table() -> dict[str, dict]:
    table = {}
    for size in (18, 34, 50, 101, 152):
        table[f"torchvision:resnet{size}"] = {"resnet_size": size}
    for size in (18, 26, 34, 50, 101, 152):
        table[f"timm:resnet{size}"] = {"resnet_size": size}
        table[f"timm:resnet{size}d"] = {"resnet_size": size, "use_resnet_d": True}
    # SE bottlenecks only: timm's SE width make_divisible(C / 16, 8) is C // 16 for C >= 128,
    # but 8 (not 4) for the 64-channel stage 1 of seresnet18/34 (not supported yet).
    for size in (50, 101, 152):
        table[f"timm:seresnet{size}"] = {"resnet_size": size, "use_se_block": True,
                                         "se_bias": True}
    return {name: {**COMMON, **arch} for name, arch in table.items()}


ARCHITECTURES = _table()
IGNORED_SUFFIXES = (".num_batches_tracked",)  # BN step counters: no Keras counterpart
HEAD_KEYS = ("fc.weight", "fc.bias")


def settings_of(arch: str) -> dict:
    """The architecture settings that reproduce ``arch`` (a key of ``ARCHITECTURES``)."""
    if arch not in ARCHITECTURES:
        raise ConversionError(f"--arch: unknown architecture {arch!r}; known: "
                              f"{', '.join(ARCHITECTURES)}")
    return dict(ARCHITECTURES[arch])


def source_num_classes(state: dict) -> int:
    if "fc.weight" not in state:
        raise ConversionError("tensor 'fc.weight' (the classifier) is missing from the source")
    return int(state["fc.weight"].shape[0])


def layer_plan(settings: dict, head: bool = True) -> list[tuple[str, str, str]]:
    """[(Keras layer name, kind, source prefix)], kind in conv, conv_bias, bn, dense."""
    deep, se = settings["use_resnet_d"], settings["use_se_block"]
    plan = []
    if deep:
        for i, (conv, bn) in enumerate((("conv1.0", "conv1.1"), ("conv1.3", "conv1.4"),
                                        ("conv1.6", "bn1")), start=1):
            plan += [(f"stem_conv{i}", "conv", conv), (f"stem_bn{i}", "bn", bn)]
    else:
        plan += [("stem_conv", "conv", "conv1"), ("stem_bn", "bn", "bn1")]
    kind, blocks = RESNET_BLOCKS[settings["resnet_size"]]
    convs = 2 if kind == "basic" else 3
    for stage, num_blocks in enumerate(blocks, start=1):
        for block in range(1, num_blocks + 1):
            name, src = f"stage{stage}_block{block}", f"layer{stage}.{block - 1}"
            for i in range(1, convs + 1):
                plan += [(f"{name}_conv{i}", "conv", f"{src}.conv{i}"),
                         (f"{name}_bn{i}", "bn", f"{src}.bn{i}")]
            if block == 1 and (stage > 1 or kind == "bottleneck"):
                # downsample = [pool (Identity at stride 1),] conv, bn
                first = 1 if deep else 0
                plan += [(f"{name}_proj_conv", "conv", f"{src}.downsample.{first}"),
                         (f"{name}_proj_bn", "bn", f"{src}.downsample.{first + 1}")]
            if se:
                bias = settings["se_bias"]
                plan += [(f"{name}_se_reduce", "conv_bias" if bias else "conv", f"{src}.se.fc1"),
                         (f"{name}_se_expand", "conv_bias" if bias else "conv", f"{src}.se.fc2")]
    if head:
        plan.append(("classifier", "dense", "fc"))
    return plan


_KEYS = {"conv": ("weight",), "conv_bias": ("weight", "bias"),
         "bn": ("weight", "bias", "running_mean", "running_var"), "dense": ("weight", "bias")}


def _to_keras(kind: str, field: str, value: np.ndarray) -> np.ndarray:
    value = np.asarray(value, dtype=np.float32)
    if field == "weight" and kind in ("conv", "conv_bias") and value.ndim == 4:
        return value.transpose(2, 3, 1, 0)  # (out, in, kh, kw) -> (kh, kw, in, out)
    if field == "weight" and kind == "dense" and value.ndim == 2:
        return value.T  # (out, in) -> (in, out)
    return value


def keras_weights(state: dict, settings: dict, arch: str = "the source",
                  head: bool = True) -> dict[str, list[tuple[str, np.ndarray]]]:
    """{Keras layer name: [(source tensor name, array in Keras layout)] in ``get_weights``
    order}. ConversionError naming the tensor for a missing or unknown one. ``head=False``
    leaves out (and ignores) the source classifier ``fc``."""
    out, used = {}, set()
    for layer, kind, prefix in layer_plan(settings, head):
        tensors = []
        for field in _KEYS[kind]:
            key = f"{prefix}.{field}"
            if key not in state:
                raise ConversionError(f"tensor '{key}' is missing from the source "
                                      f"(needed by {arch} for layer '{layer}')")
            tensors.append((key, _to_keras(kind, field, state[key])))
            used.add(key)
        out[layer] = tensors
    ignored = set(HEAD_KEYS) if not head else set()
    for key in state:
        if key not in used and key not in ignored and not key.endswith(IGNORED_SUFFIXES):
            raise ConversionError(f"unknown tensor '{key}' (not part of {arch})")
    return out


def assign(model: keras.Model, weights: dict, arch: str = "the source") -> int:
    """Sets ``model``'s layers from ``keras_weights``' result after checking every shape;
    returns the number of arrays set. A weighted layer of ``model`` left out of ``weights``
    (other than a fresh ``classifier``, and DropBlock, whose only weight is its keep_prob
    schedule, set by training) or a shape difference is a ConversionError."""
    from nets.drop_block import DropBlock2D
    by_name = {layer.name: layer for layer in model.layers}
    for name in weights:
        if name not in by_name:
            raise ConversionError(f"layer '{name}' (from '{weights[name][0][0]}') is not in "
                                  f"the network built for {arch}")
    for layer in model.layers:
        if (layer.weights and layer.name not in weights and layer.name != "classifier"
                and not isinstance(layer, DropBlock2D)):
            raise ConversionError(f"layer '{layer.name}' of the network built for {arch} "
                                  "gets no source tensor")
    count = 0
    for name, tensors in weights.items():
        layer = by_name[name]
        expected = [tuple(w.shape) for w in layer.weights]
        if len(expected) != len(tensors):
            raise ConversionError(f"layer '{name}' has {len(expected)} weights, the source "
                                  f"gives {len(tensors)} ({tensors[0][0]}, ...)")
        for (key, value), shape in zip(tensors, expected):
            if tuple(value.shape) != shape:
                raise ConversionError(
                    f"tensor '{key}' has shape {tuple(value.shape)} in Keras layout, "
                    f"{arch} needs {shape} (layer '{name}')")
        layer.set_weights([value for _, value in tensors])
        count += len(tensors)
    return count
