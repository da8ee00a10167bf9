"""Streaming classification metrics: top-1, top-5, loss and ECE.

Every evaluation batch yields additive sums (weighted by a 0/1 example weight so that
padding examples count for nothing); sums are reduced over replicas and workers and
accumulated on the host, so results are exact whatever the sharding.

ECE (Guo et al. 2017, "On Calibration of Modern Neural Networks"): 10 equal-width bins over
the max softmax probability, ECE = sum_b (n_b / N) * |acc_b - conf_b|.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from numpy.typing import ArrayLike

from core.losses import soft_cross_entropy

NUM_ECE_BINS = 10


def batch_sums(logits: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor, num_classes: int,
               num_bins: int = NUM_ECE_BINS) -> dict[str, tf.Tensor]:
    logits = tf.cast(logits, tf.float32)
    weights = tf.cast(weights, tf.float32)
    labels = tf.cast(labels, tf.int32)
    probs = tf.nn.softmax(logits)
    conf = tf.reduce_max(probs, axis=-1)
    pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
    correct = tf.cast(tf.equal(pred, labels), tf.float32)
    k = min(5, num_classes)
    top5 = tf.cast(tf.math.in_top_k(labels, logits, k), tf.float32)
    loss = soft_cross_entropy(tf.one_hot(labels, num_classes), logits)
    bins = tf.clip_by_value(tf.cast(tf.math.floor(conf * num_bins), tf.int32), 0, num_bins - 1)
    onehot_bins = tf.one_hot(bins, num_bins) * weights[:, None]
    return {
        "count": tf.reduce_sum(weights),
        "loss": tf.reduce_sum(loss * weights),
        "top1": tf.reduce_sum(correct * weights),
        "top5": tf.reduce_sum(top5 * weights),
        "bin_count": tf.reduce_sum(onehot_bins, axis=0),
        "bin_conf": tf.reduce_sum(onehot_bins * conf[:, None], axis=0),
        "bin_correct": tf.reduce_sum(onehot_bins * correct[:, None], axis=0),
    }


class Accumulator:
    """Host-side sum of `batch_sums` outputs."""

    def __init__(self):
        self.sums: dict[str, np.ndarray] = {}

    def add(self, sums: dict) -> None:
        for key, value in sums.items():
            value = np.asarray(value, dtype=np.float64)
            self.sums[key] = self.sums.get(key, 0.0) + value

    def result(self, reliability: bool = False) -> dict:
        """count, loss, top1, top5, ece; with ``reliability``, also the per-bin count, mean
        confidence and accuracy (the reliability diagram's data)."""
        n = float(self.sums.get("count", 0.0))
        if n == 0:
            return {"count": 0}
        out = {
            "count": int(round(n)),
            "loss": float(self.sums["loss"] / n),
            "top1": float(self.sums["top1"] / n),
            "top5": float(self.sums["top5"] / n),
            "ece": ece_from_bins(self.sums["bin_count"], self.sums["bin_conf"],
                                 self.sums["bin_correct"]),
        }
        if reliability:
            count = np.asarray(self.sums["bin_count"], np.float64)
            safe = np.maximum(count, 1.0)
            out["reliability"] = {
                "count": [int(round(c)) for c in count],
                "confidence": (np.asarray(self.sums["bin_conf"]) / safe).tolist(),
                "accuracy": (np.asarray(self.sums["bin_correct"]) / safe).tolist()}
        return out


def ece_from_bins(bin_count: ArrayLike, bin_conf: ArrayLike, bin_correct: ArrayLike) -> float:
    bin_count = np.asarray(bin_count, np.float64)
    total = bin_count.sum()
    if total == 0:
        return 0.0
    nonzero = bin_count > 0
    gap = np.abs(np.asarray(bin_correct)[nonzero] - np.asarray(bin_conf)[nonzero])
    return float(gap.sum() / total)


def expected_calibration_error(probs: ArrayLike, labels: ArrayLike,
                               num_bins: int = NUM_ECE_BINS) -> float:
    """Reference (numpy) ECE for a full set of predictions."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    bins = np.clip(np.floor(conf * num_bins).astype(int), 0, num_bins - 1)
    ece = 0.0
    for b in range(num_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)
