"""The network a run's settings describe: one mapping in, one ``build_resnet`` call out.

Below the training engine, distillation and the evaluations, so every consumer of a run
(training, ``--eval_only``, export, teachers, fine-tuning, feature extraction) builds the same
network from the same keys. There are no defaults here: a missing key is a ``KeyError``; the
defaults live once, in ``core/settings.py``, and a run's stored config is completed from them
when it is read (``core/rundir.py``).
"""

from __future__ import annotations

from typing import Any, Mapping

import keras

from nets.param_count import parameter_count as _parameter_count
from nets.resnet import build_resnet, check_resnet_arguments

# The head's settings (t-ReX projector + cosine classifier): what a fine-tuning may replace;
# every other architecture setting describes the backbone it inherits (core/config.py).
HEAD_KEYS = ("head", "pr_hidden_layers", "pr_hidden_dim", "pr_bottleneck_dim",
             "pr_input_l2_norm", "clf_tau", "memory_size")


def trex_head(cfg: Mapping[str, Any]) -> dict | None:
    """``build_resnet``'s trex_head argument (None: the linear head)."""
    if cfg["head"] != "trex":
        return None
    return {"hidden_layers": int(cfg["pr_hidden_layers"]),
            "hidden_dim": int(cfg["pr_hidden_dim"]),
            "bottleneck_dim": int(cfg["pr_bottleneck_dim"]),
            "input_l2_norm": bool(cfg["pr_input_l2_norm"]),
            "tau": float(cfg["clf_tau"]),
            "learnable": int(cfg["memory_size"]) == 0}


def resnet_arguments(cfg: Mapping[str, Any]) -> dict:
    """``build_resnet``'s keyword arguments of ``cfg`` (a complete settings mapping)."""
    return dict(
        base_width=int(cfg["base_width"]),
        stem_type=cfg["stem_type"], bn_momentum=float(cfg["bn_momentum"]),
        zero_gamma=bool(cfg["zero_gamma"]), use_resnet_d=bool(cfg["use_resnet_d"]),
        use_se_block=bool(cfg["use_se_block"]), use_sk_block=bool(cfg["use_sk_block"]),
        anti_alias_type=cfg["anti_alias_type"] or "",
        anti_alias_filter_size=int(cfg["anti_alias_filter_size"]),
        use_dropblock=bool(cfg["use_dropblock"]),
        dropblock_keep_prob=tuple(float(k) for k in cfg["dropblock_kp"]),
        pool_type=cfg["pool_type"], embedding_size=int(cfg["embedding_size"]),
        resnet_version=int(cfg["resnet_version"]), bl_alpha=cfg["bl_alpha"],
        bl_beta=int(cfg["bl_beta"]), no_downsample=bool(cfg["no_downsample"]),
        original_shortcuts=bool(cfg["original_shortcuts"]),
        stem_pool_padding=cfg["stem_pool_padding"],
        se_bias=bool(cfg["se_bias"]), input_standardization=cfg["input_standardization"],
        trex_head=trex_head(cfg))


def check_config(cfg: Mapping[str, Any], num_classes: int) -> None:
    """ValueError if ``build_from_config(cfg, num_classes)`` would refuse the arguments; builds
    nothing (no variable is allocated)."""
    kwargs = resnet_arguments(cfg)
    for key in ("bn_momentum", "trex_head"):
        kwargs.pop(key)
    check_resnet_arguments(int(cfg["resnet_size"]), int(num_classes), **kwargs)


def parameter_count(cfg: Mapping[str, Any], num_classes: int) -> dict[str, int]:
    """Parameters of ``build_from_config(cfg, num_classes)`` by part, without building it
    (``nets.param_count``); call ``check_config`` first."""
    return _parameter_count(int(cfg["resnet_size"]), int(num_classes), **resnet_arguments(cfg))


def build_from_config(cfg: Mapping[str, Any], num_classes: int) -> keras.Model:
    """The ResNet of ``cfg`` (a complete settings mapping) with a ``num_classes`` head."""
    return build_resnet(int(cfg["resnet_size"]), int(num_classes), **resnet_arguments(cfg))
