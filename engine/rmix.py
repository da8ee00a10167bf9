"""R-Mix: saliency-guided mixup with random gradient thresholding.

Luu et al. 2023, "Expeditious Saliency-based Mixup through Random Gradient Thresholding"
(arXiv 2212.04875; spec rmix.md). Per step:
1. saliency = RMS over channels of d loss / d x on the clean batch (one extra forward and
   backward pass; loss = 2·CE/C as the official code), average-pooled to a 2×2 or 4×4 grid
   (drawn per step), normalised to sum 1 per image;
2. per image a quantile q drawn uniformly from {0, 0.11, …, 0.99}; mask = patches with
   saliency ≥ the q-quantile (linear interpolation, as torch.quantile), nearest-upsampled;
3. partner = a random permutation of the batch; one (w1, w2) ~ Dirichlet(α, α) per batch;
   where both masks agree pixel = w1·x + w2·x_perm, else the salient image's pixel;
4. targets = a_eq·(w1·y + w2·y_perm) + a_1·y + a_2·y_perm from the three area shares.
Decisions (spec "decide explicitly"): α defaults to 1.0 (the official CIFAR code; it used 0.2
on ImageNet); the saliency pass runs in training mode (BN as the official code) and its
parameter gradients are discarded (the CIFAR code; the ImageNet code added a clean loss).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from core.losses import soft_cross_entropy
from engine.mixing import Targets

# linspace(0, 0.99, 10). Plain floats: a tensor at import time would start TensorFlow before
# a MultiWorkerMirroredStrategy can configure its collectives.
QUANTILES = tuple(round(i * 0.11, 2) for i in range(10))
GRIDS = (2, 4)


def input_saliency(model: keras.Model, images: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """RMS over channels of the input gradient of 2·CE/C, per pixel: [B, H, W]."""
    num_classes = tf.cast(tf.shape(targets)[-1], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(images)
        logits = model(images, training=True)
        loss = tf.reduce_mean(2.0 * soft_cross_entropy(targets, logits) / num_classes)
    grad = tf.cast(tape.gradient(loss, images), tf.float32)
    return tf.sqrt(tf.reduce_mean(tf.square(grad), axis=-1))


def pool_saliency(saliency: tf.Tensor, grid: int) -> tf.Tensor:
    """Average-pool [B, H, W] to [B, grid, grid] and normalise each map to sum 1."""
    b = tf.shape(saliency)[0]
    h, w = saliency.shape[1], saliency.shape[2]
    pooled = tf.reshape(saliency[:, : h // grid * grid, : w // grid * grid],
                        [b, grid, h // grid, grid, w // grid])
    pooled = tf.reduce_mean(pooled, axis=[2, 4])
    return pooled / tf.maximum(tf.reduce_sum(pooled, axis=[1, 2], keepdims=True), 1e-12)


def quantile_masks(pooled: tf.Tensor, q: tf.Tensor) -> tf.Tensor:
    """1.0 where a patch's saliency ≥ its image's q-quantile; pooled [B, g, g], q [B]."""
    b = tf.shape(pooled)[0]
    flat = tf.sort(tf.reshape(pooled, [b, -1]), axis=-1)
    n = tf.cast(tf.shape(flat)[1], tf.float32)
    pos = q * (n - 1.0)
    lo, hi = tf.floor(pos), tf.math.ceil(pos)
    v_lo = tf.gather(flat, tf.cast(lo, tf.int32), batch_dims=1)
    v_hi = tf.gather(flat, tf.cast(hi, tf.int32), batch_dims=1)
    threshold = v_lo + (v_hi - v_lo) * (pos - lo)
    return tf.cast(pooled >= threshold[:, None, None], tf.float32)


def upsample(masks: tf.Tensor, height: int, width: int) -> tf.Tensor:
    g = masks.shape[1]
    up = tf.repeat(tf.repeat(masks, height // g, axis=1), width // g, axis=2)
    pad_h, pad_w = height - up.shape[1], width - up.shape[2]
    if pad_h or pad_w:  # sizes not divisible by the grid: extend the last patch
        up = tf.pad(up, [[0, 0], [0, pad_h], [0, pad_w]], mode="SYMMETRIC")
    return up


def mix_with_masks(images: tf.Tensor, targets: Targets, masks: tf.Tensor, perm: tf.Tensor,
                   w1: tf.Tensor) -> tuple[tf.Tensor, Targets]:
    """The R-Mix rule for given full-resolution masks [B, H, W], permutation and weight."""
    partner_x = tf.gather(images, perm)
    partner_m = tf.gather(masks, perm)
    eq = tf.cast(tf.equal(masks, partner_m), tf.float32)
    only1 = masks * (1.0 - partner_m)
    only2 = (1.0 - masks) * partner_m
    w1 = tf.cast(w1, tf.float32)
    w2 = 1.0 - w1
    x = tf.cast(images, tf.float32)
    px = tf.cast(partner_x, tf.float32)
    mixed = (eq[..., None] * (w1 * x + w2 * px) + only1[..., None] * x
             + only2[..., None] * px)
    a_eq = tf.reduce_mean(eq, axis=[1, 2])[:, None]
    a_1 = tf.reduce_mean(only1, axis=[1, 2])[:, None]
    a_2 = tf.reduce_mean(only2, axis=[1, 2])[:, None]

    def mix_target(t):  # targets may be a nest (labels, teacher distributions): same rule
        y = tf.cast(t, tf.float32)
        partner_y = tf.gather(y, perm)
        return a_eq * (w1 * y + w2 * partner_y) + a_1 * y + a_2 * partner_y

    return tf.cast(mixed, images.dtype), tf.nest.map_structure(mix_target, targets)


def rmix(images: tf.Tensor, targets: Targets, saliency: tf.Tensor, seed: tf.Tensor,
         alpha: float = 1.0) -> tuple[tf.Tensor, Targets]:
    """Mixed (images, targets) from a per-pixel saliency map [B, H, W]; stateless in seed."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 5)
    b = tf.shape(images)[0]
    h, w = images.shape[1], images.shape[2]
    use_small = tf.random.stateless_uniform([], seeds[0]) < 0.5
    q = tf.gather(tf.constant(QUANTILES, tf.float32),
                  tf.random.stateless_uniform([b], seeds[1], 0, 10, tf.int32))
    masks = tf.cond(use_small,
                    lambda: upsample(quantile_masks(pool_saliency(saliency, GRIDS[0]), q), h, w),
                    lambda: upsample(quantile_masks(pool_saliency(saliency, GRIDS[1]), q), h, w))
    perm = tf.argsort(tf.random.stateless_uniform([b], seeds[2]))
    ga = tf.random.stateless_gamma([], seeds[3], alpha)
    gb = tf.random.stateless_gamma([], seeds[4], alpha)
    return mix_with_masks(images, targets, masks, perm, ga / (ga + gb))
