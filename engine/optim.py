"""Optimizer and the weight-decay rule.

The original adds wd * sum(0.5 * ||v||^2) to the loss for every variable whose name lacks
"batch_normalization" (so biases were decayed). We keep the coupled L2 form (it is not
equivalent to decoupled decay under momentum) but choose the variables by an explicit,
tested rule: only conv/dense kernels (ndim > 1) decay; BN gamma/beta and biases (ndim <= 1)
do not, as timm and Goyal et al. 2017.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf


def decays(variable: keras.Variable | tf.Variable) -> bool:
    """The weight-decay rule: kernels decay, 1-D parameters (BN, biases) do not."""
    return len(variable.shape) > 1


def decayed_variables(model: keras.Model) -> list:
    return [v for v in model.trainable_variables if decays(v)]


def l2_penalty(variables: Sequence[keras.Variable | tf.Variable], weight_decay: float) -> tf.Tensor:
    if not weight_decay or not variables:
        return tf.constant(0.0)
    return weight_decay * tf.add_n(
        [tf.nn.l2_loss(tf.cast(v, tf.float32)) for v in variables])


def make_optimizer(
        cfg: dict, learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
) -> keras.optimizers.Optimizer:
    opt = keras.optimizers.SGD(learning_rate=learning_rate, momentum=cfg["momentum"],
                               nesterov=cfg["nesterov"])
    if cfg["dtype"] == "fp16":
        # Dynamic loss scaling; gradients are unscaled and non-finite steps skipped. A number
        # for --loss_scale is the starting scale (Keras 3 has no static scaling; the
        # original's static 128 applied non-finite gradients, here such a step is skipped
        # and the scale halved).
        scale = cfg.get("loss_scale")
        initial = 2.0 ** 15 if scale in (None, "dynamic") else float(scale)
        opt = keras.optimizers.LossScaleOptimizer(opt, initial_scale=initial)
    return opt
