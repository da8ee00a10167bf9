"""Warm start for fine-tuning (--pretrained_model_checkpoint_path).

The original restored only trainable variables whose name lacked "dense", so BN moving
statistics were lost (spec assemble-resnet.md §5, §9.6). Here the pretrained run is opened
with ``core.rundir.open_source`` (a run directory -> its best/ checkpoint, else the latest;
or an explicit checkpoint prefix inside a run), its network rebuilt from its config.yaml and
restored whole, and every layer's weights except the classifier head (and a t-ReX
projector, dropped for transfer) are copied by layer name, BN moving mean/variance included.
The head is freshly initialised for the new class count. A layer missing on either side
or a shape difference fails before any training step, naming the first mismatched layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import FinetuneError, RunDirError
from core.rundir import RunDir, open_source

if TYPE_CHECKING:  # Keras starts only when a model is built
    import keras

HEAD = "classifier"
# Source layers never copied: t-ReX's projector is dropped for transfer (Sariyildiz et al.
# 2023), so a t-ReX run fine-tunes into any head.
DROPPED = ("projector",)
FLAG = "--pretrained_model_checkpoint_path"


def resolve_pretrained(path: str) -> tuple[RunDir, str]:
    """(the pretrained run, its checkpoint prefix); FinetuneError naming the flag."""
    try:
        return open_source(path, FLAG)
    except RunDirError as e:
        raise FinetuneError(str(e)) from None


def warm_start(model: keras.Model, path: str) -> str:
    """Copies all but the head from the pretrained run at ``path`` into ``model``."""
    source_run, prefix = resolve_pretrained(path)
    try:
        source = source_run.build_model()
        source_run.restore(source, prefix)
    except RunDirError as e:
        raise FinetuneError(f"{FLAG}: {e}") from None
    copy_all_but_head(source, model, prefix)
    return prefix


def copy_all_but_head(source: keras.Model, target: keras.Model, origin: str = "pretrained") -> int:
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
