"""The embedded default dataset: scikit-learn's `load_digits` as small RGB PNG images.

1,797 real 8x8 grayscale handwritten digits (values 0..16, 10 classes) are scaled to 0..255,
upscaled to ``image_size`` x ``image_size`` with PIL bilinear interpolation, replicated to
RGB and encoded once, in memory, as PNG bytes (lossless), so the records look like any
other source: ``{"encoded", "label", "filename"}``. The split is stratified and
deterministic (sklearn `train_test_split(stratify=labels, random_state=seed)`); with the
default 0.2 it gives 1,437 train / 360 eval images. Filenames are ``digit_<index>.png``
with the index in `load_digits()`. Needs no network and takes well under a second.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # TensorFlow starts only when the work does
    import tensorflow as tf

NUM_CLASSES = 10
CLASS_NAMES = [str(i) for i in range(NUM_CLASSES)]


@dataclass(frozen=True)
class DigitsSplit:
    encoded: tuple[bytes, ...]   # PNG bytes
    labels: np.ndarray           # int32, 0..9
    filenames: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.encoded)


@functools.lru_cache(maxsize=8)
def load_digits_splits(image_size: int = 32, eval_fraction: float = 0.2,
                       seed: int = 0) -> tuple[DigitsSplit, DigitsSplit]:
    """(train, eval) splits of the digits as PNG-encoded RGB images (cached)."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.clip(np.round(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    labels = digits.target.astype(np.int32)
    encoded = []
    for image in images:
        pil = Image.fromarray(image).resize((image_size, image_size),
                                                      Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        pil.convert("RGB").save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    index = np.arange(len(labels))
    train_idx, eval_idx = train_test_split(index, test_size=eval_fraction, random_state=seed,
                                           stratify=labels)

    def split(idx):
        idx = np.sort(idx)
        return DigitsSplit(tuple(encoded[i] for i in idx), labels[idx].copy(),
                           tuple(f"digit_{i:04d}.png" for i in idx))

    return split(train_idx), split(eval_idx)


def read_digits(split: DigitsSplit, *, training: bool, seed: int,
                input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """tf.data records of a split; sharded per input pipeline, shuffled with `seed` if training."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices({
        "encoded": tf.constant(list(split.encoded), tf.string),
        "label": tf.constant(split.labels, tf.int32),
        "filename": tf.constant(list(split.filenames), tf.string)})
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if training:
        ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    return ds
