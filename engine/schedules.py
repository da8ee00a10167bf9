"""Learning-rate schedules of assembled-cnn (`functions/model_fns.py`), made explicit.

Peak LR = --base_learning_rate (the original's batch scaling divides by the batch itself,
a no-op; we do not scale). Linear warmup from 0 to the peak over `lr_warmup_epochs`, then:
- fixed:       peak.
- exponential: peak * factor ** floor((epoch - warmup) / num_epochs_per_decay) (staircase).
- polynomial:  linear from peak to end_learning_rate over num_epochs_per_decay epochs after
               warmup, then end_learning_rate (the original's span; set
               num_epochs_per_decay = train_epochs - warmup to decay over the whole run).
- piecewise:   peak * rates[i] for absolute epoch in [bounds[i-1], bounds[i]) (boundaries
               count from epoch 0, not from the end of warmup, as the original).
- cosine:      0.5 * peak * (1 + cos(pi * (step - warmup) / (total - warmup))), ends at 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf


class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, decay_type: str, base_lr: float, steps_per_epoch: int,
                 total_steps: int, warmup_epochs: float = 0.0, decay_factor: float = 0.94,
                 epochs_per_decay: float = 2.0, end_lr: float = 1e-4,
                 boundary_epochs: Sequence[float] = (),
                 decay_rates: Sequence[float] = (1.0,)) -> None:
        super().__init__()
        self.decay_type = decay_type
        self.base_lr = float(base_lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.total_steps = int(total_steps)
        self.warmup_epochs = float(warmup_epochs)
        self.decay_factor = float(decay_factor)
        self.epochs_per_decay = float(epochs_per_decay)
        self.end_lr = float(end_lr)
        self.boundary_epochs = [float(b) for b in boundary_epochs]
        self.decay_rates = [float(r) for r in decay_rates]
        if decay_type not in ("fixed", "exponential", "polynomial", "piecewise", "cosine"):
            raise ValueError(f"unknown learning_rate_decay_type {decay_type!r}")

    @property
    def warmup_steps(self) -> int:
        return int(round(self.warmup_epochs * self.steps_per_epoch))

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        spe = float(self.steps_per_epoch)
        warm = float(self.warmup_steps)
        after = tf.maximum(step - warm, 0.0)
        peak = self.base_lr
        if self.decay_type == "fixed":
            lr = tf.constant(peak)
        elif self.decay_type == "exponential":
            lr = peak * tf.pow(self.decay_factor,
                               tf.floor(after / (self.epochs_per_decay * spe)))
        elif self.decay_type == "polynomial":
            frac = tf.minimum(after / (self.epochs_per_decay * spe), 1.0)
            lr = (peak - self.end_lr) * (1.0 - frac) + self.end_lr
        elif self.decay_type == "piecewise":
            bounds = [b * spe for b in self.boundary_epochs]
            values = [peak * r for r in self.decay_rates]
            lr = tf.constant(values[0])
            for b, v in zip(bounds, values[1:]):
                lr = tf.where(step >= b, v, lr)
        else:  # cosine
            span = max(float(self.total_steps) - warm, 1.0)
            frac = tf.minimum(after / span, 1.0)
            lr = 0.5 * peak * (1.0 + tf.cos(math.pi * frac))
        if warm > 0:
            lr = tf.where(step < warm, peak * step / warm, lr)
        return lr

    def get_config(self) -> dict[str, Any]:
        return dict(decay_type=self.decay_type, base_lr=self.base_lr,
                    steps_per_epoch=self.steps_per_epoch, total_steps=self.total_steps,
                    warmup_epochs=self.warmup_epochs, decay_factor=self.decay_factor,
                    epochs_per_decay=self.epochs_per_decay, end_lr=self.end_lr,
                    boundary_epochs=self.boundary_epochs, decay_rates=self.decay_rates)


def from_config(cfg: dict, steps_per_epoch: int, total_steps: int) -> WarmupDecay:
    return WarmupDecay(
        cfg["learning_rate_decay_type"], cfg["base_learning_rate"], steps_per_epoch,
        total_steps, warmup_epochs=cfg["lr_warmup_epochs"],
        decay_factor=cfg["learning_rate_decay_factor"],
        epochs_per_decay=cfg["num_epochs_per_decay"], end_lr=cfg["end_learning_rate"],
        boundary_epochs=cfg["piecewise_lr_boundary_epochs"],
        decay_rates=cfg["piecewise_lr_decay_rates"])


def dropblock_keep_prob(step: int | tf.Tensor, start: float, end: float,
                        total_steps: int) -> tf.Tensor:
    """DropBlock keep_prob decays linearly from `start` to `end` over the whole run
    (assembled-cnn: polynomial decay, power 1, over train_epochs * steps_per_epoch)."""
    frac = tf.minimum(tf.cast(step, tf.float32) / float(max(total_steps, 1)), 1.0)
    return start + (end - start) * frac
