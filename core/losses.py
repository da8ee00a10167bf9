"""Classification targets and losses.

Label smoothing is applied once, to the (possibly mixed) target distribution:
y * (1 - eps) + eps / C, as TF1 `softmax_cross_entropy(label_smoothing=eps)`. The loss is the
soft-target cross-entropy on fp32 logits, so mixing and distillation targets (later issues)
plug in as other target distributions.
"""

from __future__ import annotations

import tensorflow as tf


def smooth_targets(targets: tf.Tensor, label_smoothing: float) -> tf.Tensor:
    if not label_smoothing:
        return targets
    num_classes = tf.cast(tf.shape(targets)[-1], targets.dtype)
    return targets * (1.0 - label_smoothing) + label_smoothing / num_classes


def one_hot_targets(labels: tf.Tensor, num_classes: int,
                    label_smoothing: float = 0.0) -> tf.Tensor:
    return smooth_targets(tf.one_hot(labels, num_classes, dtype=tf.float32), label_smoothing)


def soft_cross_entropy(targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Per-example -sum(t * log_softmax(logits)), computed in float32."""
    logits = tf.cast(logits, tf.float32)
    return -tf.reduce_sum(tf.cast(targets, tf.float32) * tf.nn.log_softmax(logits), axis=-1)
