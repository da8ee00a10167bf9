"""OCM: the online class-means memory of t-ReX.

Sariyildiz et al. 2023, "No Reason for No Supervision" (ICLR; arXiv 2206.15369), eq. 2 and
spec trex.md §2: a FIFO memory of ``size`` projector outputs (raw, not normalised) and their
labels, written every step with the global crops of the whole global batch as embedded by
an EMA copy of the network. The classifier's class vectors are the per-class sums of the
memory (the direction of each class mean); a class without an entry gets a zero vector and
so logit 0. As in the original, the memory starts full of N(0, 1) features with uniformly
random labels (seeded here), so early prototypes are noise until real entries push them out
after size / global batch steps. A batch that would run past the end is cut there and the
pointer wraps to 0 (the rest of that batch is not written).

Variables are non-trainable and, under a tf.distribute strategy, mirrored with
ONLY_FIRST_REPLICA aggregation; ``write`` is called in cross-replica context with the batch
gathered from every replica, so every copy holds the same memory.
"""

from __future__ import annotations

import tensorflow as tf


class ClassMeanMemory(tf.Module):
    def __init__(self, size: int, dim: int, num_classes: int, seed: int = 0):
        super().__init__(name="ocm")
        if size < 1 or dim < 1 or num_classes < 1:
            raise ValueError(f"memory size, dim and num_classes must be >= 1, got {size}, "
                             f"{dim}, {num_classes}")
        self.size, self.dim, self.num_classes = int(size), int(dim), int(num_classes)
        options = dict(trainable=False, synchronization=tf.VariableSynchronization.ON_WRITE,
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.features = tf.Variable(
            tf.random.stateless_normal([self.size, self.dim], [seed, 17]), name="features",
            **options)
        self.labels = tf.Variable(
            tf.random.stateless_uniform([self.size], [seed, 18], 0, self.num_classes,
                                        dtype=tf.int32), name="labels", **options)
        self.pointer = tf.Variable(0, dtype=tf.int32, name="pointer", **options)

    def class_sums(self) -> tf.Tensor:
        """float32 [num_classes, dim]: the sum of the memory entries of each class."""
        return tf.math.unsorted_segment_sum(self.features, self.labels, self.num_classes)

    def prototypes(self) -> tf.Tensor:
        """float32 [num_classes, dim]: class-mean directions (zero for an empty class)."""
        return tf.math.l2_normalize(self.class_sums(), axis=-1, epsilon=1e-12)

    def write(self, embeddings: tf.Tensor, labels: tf.Tensor) -> None:
        """FIFO write of [n, dim] embeddings and [n] labels at the pointer."""
        embeddings = tf.cast(embeddings, tf.float32)
        labels = tf.cast(labels, tf.int32)
        start = self.pointer.read_value()
        count = tf.minimum(tf.shape(labels)[0], self.size - start)
        rows = tf.range(start, start + count)
        self.features.scatter_update(tf.IndexedSlices(embeddings[:count], rows))
        self.labels.scatter_update(tf.IndexedSlices(labels[:count], rows))
        self.pointer.assign((start + count) % self.size)
