"""Mixing samples of dataset reinforcement (DR's M* variants): partner, mixup and CutMix.

A mixing sample stores, after the image's own words (kd/reinforce.py), a head and the
partner's own augmentation words:

    partner index (hi, lo: index = 32768*hi + lo; -1 when neither mix fired, like DR's
    id2 = None), [mixup: fired, fp16 bits of lam], [cutmix: fired, fp16 bits of lam,
    y1, x1, y2, x2], partner's words (crop, flip, RandAugment, erasing; zeros when -1)

As DR (spec dataset-reinforcement.md §4): mixup lam = Beta(1,1)/2 (so the partner
dominates) with p = 0.5, CutMix lam = Beta(1,1) with p = 0.5, box side sqrt(1 - lam) of the
view, centred uniformly and clipped; both may fire (mixup first). Unlike DR the partner is
drawn uniformly from the whole training set (an index into the key-sorted image list)
rather than from the per-GPU batch: the same distribution for a shuffled set, and a pure
function of the sample's seed, so generation needs no batch state. Fields a sample does not
use are zero, so records stay fixed-width.

Partners' pixels come from `PartnerPool`: every training image's encoded bytes, held in
memory in a tf.lookup table (index -> bytes; a resource, so tf.data never serialises the
bytes into a graph). Sets larger than `max_gib` on disk are refused: ImageNet-scale data
would need a random-access image format, which is not provided.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from datasets.errors import DataError

NAMES = ("mixup", "cutmix")
MIXUP_P, MIXUP_DIV = 0.5, 2.0  # DR's mixup: p, lam = Beta(1, 1) / div_by
CUTMIX_P = 0.5
HEAD_WORDS = {"mixup": 2, "cutmix": 6}
_HI = 32768  # the partner index is split over two int16 words


def parse_flag(value: str) -> tuple:
    """'mixup,cutmix' -> ('mixup', 'cutmix') in the canonical order; '' -> ()."""
    names = {v.strip() for v in value.split(",") if v.strip()}
    unknown = names - set(NAMES)
    if unknown:
        raise ValueError(f"unknown mixing {', '.join(sorted(unknown))} (use "
                         f"{' and/or '.join(NAMES)})")
    return tuple(n for n in NAMES if n in names)


def head_words(mixing: Sequence[str]) -> int:
    return 2 + sum(HEAD_WORDS[m] for m in mixing)


def _f16_bits(x):
    return tf.bitcast(tf.cast(x, tf.float16), tf.int16)


def _from_f16_bits(w):
    return tf.cast(tf.bitcast(tf.cast(w, tf.int16), tf.float16), tf.float32)


def sample_head(seed: tf.Tensor, mixing: Sequence[str], pool_size: int, size: int) -> tf.Tensor:
    """int16 [head_words]: partner index, mixup and CutMix parameters of one sample."""
    def sub(k):
        return tf.random.experimental.stateless_fold_in(seed, k)

    any_fired = tf.constant(False)
    words = []
    if "mixup" in mixing:
        on = tf.random.stateless_uniform([], sub(1)) < MIXUP_P
        lam = tf.random.stateless_uniform([], sub(2)) / MIXUP_DIV  # Beta(1,1) = U(0,1)
        words += [tf.cast(on, tf.int16), _f16_bits(tf.where(on, lam, 0.0))]
        any_fired |= on
    if "cutmix" in mixing:
        on = tf.random.stateless_uniform([], sub(3)) < CUTMIX_P
        lam = tf.random.stateless_uniform([], sub(4))
        cut = tf.cast(size * tf.sqrt(1.0 - lam), tf.int32)  # timm/DR rand_bbox
        centre = tf.random.stateless_uniform([2], sub(5), 0, size, tf.int32)
        lo = tf.clip_by_value(centre - cut // 2, 0, size)
        hi = tf.clip_by_value(centre + cut // 2, 0, size)
        box = tf.where(on, tf.concat([lo, hi], 0), 0)  # y1, x1, y2, x2
        words += [tf.cast(on, tf.int16), _f16_bits(tf.where(on, lam, 0.0)),
                  tf.cast(box, tf.int16)]
        any_fired |= on
    index = tf.random.stateless_uniform([], sub(0), 0, pool_size, tf.int32)
    index = tf.where(any_fired, index, -1)
    split = tf.stack([tf.math.floordiv(index, _HI), tf.math.floormod(index, _HI)])
    return tf.concat([tf.cast(split, tf.int16)] + [tf.reshape(w, [-1]) for w in words], 0)


def empty_head(mixing: Sequence[str]) -> tf.Tensor:
    """The head of a sample without mixing (index -1, nothing fired)."""
    return tf.constant([-1, _HI - 1] + [0] * (head_words(mixing) - 2), tf.int16)


def unpack_head(words: tf.Tensor, mixing: Sequence[str]) -> dict:
    w = tf.cast(words, tf.int32)
    m = {"partner_index": w[0] * _HI + w[1],
         "mixup_on": tf.constant(False), "mixup_lam": tf.constant(1.0),
         "cutmix_on": tf.constant(False), "cutmix_lam": tf.constant(1.0),
         "box": tf.zeros([4], tf.int32)}
    at = 2
    if "mixup" in mixing:
        m["mixup_on"], m["mixup_lam"] = w[at] > 0, _from_f16_bits(words[at + 1])
        at += 2
    if "cutmix" in mixing:
        m["cutmix_on"], m["cutmix_lam"] = w[at] > 0, _from_f16_bits(words[at + 1])
        m["box"] = w[at + 2:at + 6]
    return m


def mix(image: tf.Tensor, partner: tf.Tensor, m: dict) -> tf.Tensor:
    """uint8 view: mixup (lam * image + (1 - lam) * partner), then the CutMix box filled
    with the partner's pixels, rounded back to uint8 -- the pixels the teacher sees."""
    x, p = tf.cast(image, tf.float32), tf.cast(partner, tf.float32)
    lam = m["mixup_lam"]
    x = tf.where(m["mixup_on"], lam * x + (1.0 - lam) * p, x)
    shape = tf.shape(x)
    rows = tf.range(shape[0])[:, None]
    cols = tf.range(shape[1])[None, :]
    y1, x1, y2, x2 = tf.unstack(m["box"])
    inside = (rows >= y1) & (rows < y2) & (cols >= x1) & (cols < x2) & m["cutmix_on"]
    x = tf.where(inside[:, :, None], p, x)
    return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)


class PartnerPool:
    """The training images' encoded bytes in memory, ordered by key (index -> bytes)."""

    def __init__(self, keys: np.ndarray, encoded: list):
        self.keys = keys
        self.size = len(keys)
        self.encoded_bytes = int(sum(len(e) for e in encoded))
        self.digest = hashlib.sha1(b"\0".join(keys.tolist())).hexdigest()
        self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.range(self.size, dtype=tf.int64), tf.constant(encoded, tf.string)), "")

    def lookup(self, index: int | tf.Tensor) -> tf.Tensor:
        return self.table.lookup(tf.cast(index, tf.int64))

    def header(self) -> dict:
        return {"count": self.size, "encoded_bytes": self.encoded_bytes,
                "keys_sha1": self.digest}

    @classmethod
    def from_files(cls, files: list[str], max_gib: float) -> "PartnerPool":
        check_fits(files, max_gib)
        keys, encoded = [], []
        features = {"image/filename": tf.io.FixedLenFeature([], tf.string),
                    "image/encoded": tf.io.FixedLenFeature([], tf.string)}
        # Basename order: the same pool whatever directory the shards are read from.
        for path in sorted(files, key=os.path.basename):
            ds = tf.data.TFRecordDataset(path).batch(256).map(
                lambda s: tf.io.parse_example(s, features))
            for batch in ds.as_numpy_iterator():
                keys.extend(batch["image/filename"].tolist())
                encoded.extend(batch["image/encoded"].tolist())
        order = np.argsort(np.array(keys, dtype=object), kind="stable")
        return cls(np.array([keys[i] for i in order], dtype=object),
                   [encoded[i] for i in order])


def check_fits(files: list[str], max_gib: float) -> None:
    """DataError unless the shards (an upper bound of the encoded bytes held) fit."""
    total = sum(int(tf.io.gfile.stat(f).length) for f in files)
    if total > max_gib * 2**30:
        raise DataError(f"mixing partners are held in memory, but the {len(files)} training "
                        f"shards hold {total / 2**30:.3g} GiB, over the {max_gib:g} GiB limit: "
                        "raise --reinforce_partner_max_gib (kd.reinforce: --partner_max_gib) "
                        "if the host has the memory (larger sets would need a random-access "
                        "image format, not provided)")
