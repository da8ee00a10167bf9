"""Warm start for fine-tuning (--pretrained_model_checkpoint_path).

The original restored only trainable variables whose name lacked "dense", so BN moving
statistics were lost (spec assemble-resnet.md §5, §9.6). Here the pretrained network is
rebuilt from the `config.yaml` saved beside its checkpoint, restored whole, and every
layer's weights except the classifier head (and a t-ReX projector, dropped for transfer)
are copied by layer name, BN moving mean/variance included. The head is freshly initialised for the new class count. A layer
missing on either side or a shape difference fails before any training step, naming the
first mismatched layer.
"""

from __future__ import annotations

import os

import tensorflow as tf
import yaml

from core.errors import FinetuneError

HEAD = "classifier"
# Source layers never copied: t-ReX's projector is dropped for transfer (Sariyildiz et al.
# 2023), so a t-ReX run fine-tunes into any head.
DROPPED = ("projector",)


def resolve_pretrained(path: str) -> tuple[str, dict]:
    """Returns (checkpoint prefix, the pretrained run's config)."""
    if os.path.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            best_json = os.path.join(path, "best", "best.json")
            if os.path.isfile(best_json):
                with open(best_json) as f:
                    prefix = os.path.join(path, "best", yaml.safe_load(f)["checkpoint"])
        if prefix is None:
            raise FinetuneError(f"--pretrained_model_checkpoint_path: no checkpoint in "
                                f"directory {path}")
    else:
        prefix = path
        if not tf.io.gfile.exists(prefix + ".index"):
            raise FinetuneError(f"--pretrained_model_checkpoint_path: checkpoint not found: "
                                f"{path}")
    run_dir = os.path.dirname(prefix)
    candidates = [os.path.join(run_dir, "config.yaml"),
                  os.path.join(os.path.dirname(run_dir), "config.yaml")]
    for c in candidates:
        if os.path.isfile(c):
            with open(c) as f:
                return prefix, yaml.safe_load(f)
    raise FinetuneError(f"--pretrained_model_checkpoint_path: no config.yaml beside {prefix} "
                        "(needed to rebuild the pretrained network)")


def warm_start(model, path: str, build_model) -> str:
    """Copies all but the head from the checkpoint at `path` into `model`."""
    prefix, src_cfg = resolve_pretrained(path)
    src_classes = int(src_cfg.get("resolved_num_classes") or src_cfg.get("num_classes") or 0)
    if src_classes <= 0:
        raise FinetuneError(f"{prefix}: its config.yaml records no class count")
    source = build_model(src_cfg, src_classes)
    status = tf.train.Checkpoint(model=source).restore(prefix)
    try:
        status.expect_partial().assert_existing_objects_matched()
    except AssertionError as e:
        raise FinetuneError(f"{prefix}: checkpoint does not match the network described by "
                            f"its config.yaml ({str(e).splitlines()[0]})") from None
    copy_all_but_head(source, model, prefix)
    return prefix


def copy_all_but_head(source, target, origin: str = "pretrained") -> int:
    src_layers = {layer.name: layer for layer in source.layers if layer.weights}
    copied = set()
    for layer in target.layers:
        if layer.name in (HEAD,) + DROPPED or not layer.weights:
            continue
        src = src_layers.get(layer.name)
        if src is None:
            raise FinetuneError(f"architecture mismatch: layer '{layer.name}' is not in the "
                                f"pretrained network ({origin})")
        src_w, dst_w = src.get_weights(), layer.get_weights()
        if [w.shape for w in src_w] != [w.shape for w in dst_w]:
            raise FinetuneError(
                f"architecture mismatch at layer '{layer.name}': pretrained weights "
                f"{[tuple(w.shape) for w in src_w]} vs {[tuple(w.shape) for w in dst_w]} "
                f"({origin})")
        layer.set_weights(src_w)
        copied.add(layer.name)
    extra = [n for n in src_layers if n not in copied and n not in (HEAD,) + DROPPED]
    if extra:
        raise FinetuneError(f"architecture mismatch: pretrained layer '{extra[0]}' has no "
                            f"counterpart in the network being trained ({origin})")
    return len(copied)
