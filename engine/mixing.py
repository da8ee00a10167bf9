"""Batch mixing inside the train step: mixup, CutMix, or a per-batch switch between them.

- mixup (Zhang et al. 2018): x = λ·x_i + (1−λ)·x_j, λ ~ Beta(α, α).
- CutMix (Yun et al. 2019): a box of area (1−λ) of x_j pasted into x_i, λ ~ Beta(α, α),
  box centre uniform, clipped at the border; λ is then corrected to the pasted area actually
  kept (timm's `correct_lam`), so targets match pixels.
- mixup_cutmix: with probability `switch_prob` CutMix, else mixup (timm semantics); the whole
  mixing happens with probability `mix_prob`.
Partner j = the batch reversed (timm's "batch" mode): one λ per batch. Targets are the
already label-smoothed distributions, so smoothing is applied exactly once, before mixing
(teacher distributions of later issues mix with the same λ).

The original assembled-cnn's two types (spec assemble-resnet.md §2), λ ~ Beta(α, α) drawn
*per pair*, no max(λ, 1−λ):
- type 1: the pipeline reads 2×batch per step; first half mixed with the second half -> batch.
- type 2: same batch; halves x1, x2 -> mix(x1, x2; λ1) ++ mix(x1, reversed x2; λ2). The
  original mixed the second half's teacher target from the *one-hot* y1; here every target
  (labels, and teacher distributions once distillation arrives) is mixed from its own kind.
Targets may be one tensor or any nest of [B, ...] tensors; all get the same λ.

All randomness is stateless from a seed tensor [2] (the trainer derives it from the run seed,
the optimizer step and the replica id), so a resumed run mixes exactly as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tensorflow as tf

MODES = ("mixup", "cutmix", "mixup_cutmix")
ORIGINAL_TYPES = ("1", "2")  # batch multiplier of the input pipeline: type 1 reads 2x
INPUT_MULTIPLIER = {"1": 2}

#: What is mixed along with the images: a [B, C] target distribution or a nest (dict, tuple)
#: of them, mixed alike (labels and teacher distributions).
Targets = Any


@dataclass(frozen=True)
class MixConfig:
    mode: str
    mixup_alpha: float = 0.2
    cutmix_alpha: float = 1.0
    mix_prob: float = 1.0
    switch_prob: float = 0.5


def _beta(seed, alpha: float, shape=()):
    # Beta(a, a) = Ga / (Ga + Gb) with stateless gamma draws.
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
    a = tf.random.stateless_gamma(shape, seeds[0], alpha)
    b = tf.random.stateless_gamma(shape, seeds[1], alpha)
    return a / (a + b)


def cutmix_box(seed: tf.Tensor, height: int | tf.Tensor, width: int | tf.Tensor,
               lam: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Box (y0, y1, x0, x1) of area ≈ (1−λ)·H·W centred uniformly, clipped at the border."""
    h = tf.cast(height, tf.float32)
    w = tf.cast(width, tf.float32)
    cut = tf.sqrt(1.0 - lam)
    ch, cw = tf.round(h * cut), tf.round(w * cut)
    cy = tf.random.stateless_uniform([], seed, 0.0, 1.0) * h
    cx = tf.random.stateless_uniform([], tf.random.experimental.stateless_fold_in(seed, 1),
                                     0.0, 1.0) * w
    y0 = tf.cast(tf.clip_by_value(tf.floor(cy - ch / 2), 0, h), tf.int32)
    y1 = tf.cast(tf.clip_by_value(tf.floor(cy + ch / 2), 0, h), tf.int32)
    x0 = tf.cast(tf.clip_by_value(tf.floor(cx - cw / 2), 0, w), tf.int32)
    x1 = tf.cast(tf.clip_by_value(tf.floor(cx + cw / 2), 0, w), tf.int32)
    return y0, y1, x0, x1


def paste(images: tf.Tensor, partner: tf.Tensor,
          box: tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
    """images with partner's pixels inside box; returns (mixed, kept area fraction λ)."""
    y0, y1, x0, x1 = box
    shape = tf.shape(images)
    rows = tf.range(shape[1])
    cols = tf.range(shape[2])
    inside = ((rows[:, None] >= y0) & (rows[:, None] < y1)
              & (cols[None, :] >= x0) & (cols[None, :] < x1))
    mask = tf.cast(inside, images.dtype)[None, :, :, None]
    mixed = images * (1 - mask) + partner * mask
    area = tf.cast((y1 - y0) * (x1 - x0), tf.float32)
    lam = 1.0 - area / tf.cast(shape[1] * shape[2], tf.float32)
    return mixed, lam


def mix(images: tf.Tensor, targets: Targets, seed: tf.Tensor,
        cfg: MixConfig) -> tuple[tf.Tensor, Targets, tf.Tensor]:
    """(mixed images, mixed targets, λ). targets: a [B, C] distribution or a nest of them."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    partner_x = tf.reverse(images, axis=[0])
    use_cutmix = {"mixup": tf.constant(False), "cutmix": tf.constant(True)}.get(
        cfg.mode, tf.random.stateless_uniform([], seeds[0]) < cfg.switch_prob)

    def do_cutmix():
        lam = _beta(seeds[1], cfg.cutmix_alpha)
        shape = tf.shape(images)
        mixed, lam = paste(images, partner_x, cutmix_box(seeds[2], shape[1], shape[2], lam))
        return mixed, lam

    def do_mixup():
        lam = _beta(seeds[1], cfg.mixup_alpha)
        return images * tf.cast(lam, images.dtype) + partner_x * tf.cast(1 - lam,
                                                                           images.dtype), lam

    mixed, lam = tf.cond(use_cutmix, do_cutmix, do_mixup)
    apply = tf.random.stateless_uniform([], seeds[3]) < cfg.mix_prob
    mixed = tf.where(apply, mixed, images)
    lam = tf.where(apply, lam, 1.0)
    mixed_targets = tf.nest.map_structure(
        lambda t: _blend(t, tf.reverse(t, axis=[0]), lam), targets)
    return mixed, mixed_targets, lam


def _blend(a, b, lam):
    """lam·a + (1−lam)·b with lam a scalar or per-example [B] (broadcast over the rest)."""
    lam = tf.convert_to_tensor(lam, tf.float32)
    if lam.shape.rank == 1:
        lam = tf.reshape(lam, [-1] + [1] * (a.shape.rank - 1))
    if a.dtype.is_floating and a.dtype != tf.float32:  # images in the compute dtype
        lam = tf.cast(lam, a.dtype)
        return a * lam + b * (1 - lam)
    return tf.cast(a, tf.float32) * lam + tf.cast(b, tf.float32) * (1.0 - lam)


def _halves(x):
    half = tf.shape(x)[0] // 2
    return x[:half], x[half:]


def mix_type1(images: tf.Tensor, targets: Targets, seed: tf.Tensor,
              alpha: float = 0.2) -> tuple[tf.Tensor, Targets, tf.Tensor]:
    """Original type 1: a 2B batch -> B examples λ_i·x_i + (1−λ_i)·x_{B+i}."""
    lam = _beta(seed, alpha, [tf.shape(images)[0] // 2])

    def pairs(x):
        first, second = _halves(x)
        return _blend(first, second, lam)

    return pairs(images), tf.nest.map_structure(pairs, targets), lam


def mix_type2(images: tf.Tensor, targets: Targets, seed: tf.Tensor,
              alpha: float = 0.2) -> tuple[tf.Tensor, Targets, tf.Tensor]:
    """Original type 2 (B -> B): halves x1, x2 -> mix(x1, x2; λ1) ++ mix(x1, rev x2; λ2)."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
    half = [tf.shape(images)[0] // 2]
    lam1, lam2 = _beta(seeds[0], alpha, half), _beta(seeds[1], alpha, half)

    def pairs(x):
        first, second = _halves(x)
        return tf.concat([_blend(first, second, lam1),
                          _blend(first, tf.reverse(second, axis=[0]), lam2)], axis=0)

    return pairs(images), tf.nest.map_structure(pairs, targets), tf.concat([lam1, lam2], 0)
