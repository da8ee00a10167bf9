"""One optimizer step on one replica: targets -> batch mixing -> forward -> loss -> update.

- targets: one-hot labels, label-smoothed once (losses.py), so mixing blends smoothed
  distributions and never smooths twice;
- mixing (`--mixup_type`): mixup / CutMix / mixup_cutmix (mixing.py, timm semantics), the
  original's types 1 and 2 (mixing.py), or R-Mix (rmix.py, one extra forward+backward for the
  saliency). Randomness is stateless from (run seed, replica) x optimizer step, so a resumed
  run mixes exactly as an uninterrupted one;
- multi-crop (`--multicrop`): one forward pass per crop resolution (global, local), the
  soft cross-entropy averaged over every crop of every image; accuracy on the global crops;
- distillation (`--kd_temp`, kd/targets.py): offline teacher logits arrive with the batch
  and their tempered distribution is mixed with the labels' λ; an online teacher (`--teacher`)
  runs on the final (mixed) view instead. Per example: kd_label_weight * CE(labels)
  + kd_weight * T² * CE(teacher_T, student_T);
- loss = mean of that over the global batch + L2 / replicas (summed over replicas = the
  global mean). The step returns the two parts too: "ce" (that mean: the objective's
  cross-entropy, label smoothing, mixed targets and distillation included) and "l2" (the
  weight-decay term), so loss == ce + l2 after the sum over replicas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import tensorflow as tf

from core import losses
from engine import mixing, optim, rmix
from engine.mixing import Targets
from kd.targets import distillation_term
from kd.teachers import Ensemble


def make_mixer(cfg: dict, model: keras.Model
               ) -> Callable[[tf.Tensor, Targets, tf.Tensor], tuple[tf.Tensor, Targets]] | None:
    """(images, targets, seed) -> (images, targets) for cfg's --mixup_type; None when off."""
    kind = str(cfg["mixup_type"])
    if kind == "0":
        return None
    if kind == "rmix":
        alpha = float(cfg["rmix_alpha"])

        def rmix_mixer(images, targets, seed):
            saliency = rmix.input_saliency(model, images, targets["labels"])  # extra fwd+bwd
            return rmix.rmix(images, targets, saliency, seed, alpha)
        return rmix_mixer
    if kind in mixing.ORIGINAL_TYPES:
        mix_fn = mixing.mix_type1 if kind == "1" else mixing.mix_type2
        alpha = float(cfg["mixup_alpha"])
        return lambda images, targets, seed: mix_fn(images, targets, seed, alpha)[:2]
    mix_cfg = mixing.MixConfig(kind, float(cfg["mixup_alpha"]), float(cfg["cutmix_alpha"]),
                               float(cfg["mix_prob"]), float(cfg["switch_prob"]))
    return lambda images, targets, seed: mixing.mix(images, targets, seed, mix_cfg)[:2]


def _flatten_views(views, targets):
    """[B, V, H, W, 3] crops -> ([B·V, H, W, 3], targets (a nest) repeated V times per
    image)."""
    per_image = views.shape[1]
    flat = tf.reshape(views, tf.concat([[-1], tf.shape(views)[2:]], axis=0))
    return flat, tf.nest.map_structure(lambda t: tf.repeat(t, per_image, axis=0),
                                       targets), per_image


def make_step_fn(cfg: dict, model: keras.Model, optimizer: keras.optimizers.Optimizer,
                 num_classes: int, replicas: int, decay_vars: Sequence[keras.Variable],
                 teacher: Ensemble | None = None) -> Callable[[dict], dict[str, tf.Tensor]]:
    """step_fn(batch) -> {"loss", "ce", "l2", "correct", "skipped"} (replica-local sums;
    "loss" is the total, ce + l2, the gradient's).
    teacher: a kd.teachers.Ensemble for online distillation (None otherwise)."""
    kd_temp = float(cfg.get("kd_temp") or 0.0)
    kd_weight = float(cfg.get("kd_weight", 1.0))
    label_weight = float(cfg.get("kd_label_weight", 1.0))

    def example_losses(targets, logits):
        ce = losses.soft_cross_entropy(targets["labels"], logits)
        if "teacher" not in targets:
            return ce
        return label_weight * ce + kd_weight * distillation_term(targets["teacher"], logits,
                                                                 kd_temp)

    label_smoothing = float(cfg["label_smoothing"])
    global_batch = float(cfg["batch_size"])
    wd = float(cfg["weight_decay"])
    fp16 = cfg["dtype"] == "fp16"
    run_seed = int(cfg["seed"])
    mixer = make_mixer(cfg, model)
    multicrop = bool(cfg.get("multicrop"))

    def step_fn(batch):
        images, labels = batch["image"], batch["label"]
        targets = {"labels": losses.one_hot_targets(labels, num_classes, label_smoothing)}
        if kd_temp and "teacher_logits" in batch:
            targets["teacher"] = tf.nn.softmax(tf.cast(batch["teacher_logits"], tf.float32)
                                               / kd_temp)
        if "teacher_probs" in batch:  # dataset reinforcement: stored, densified, T = 1
            targets["teacher"] = tf.cast(batch["teacher_probs"], tf.float32)
        if mixer is not None:
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            seed = tf.stack([tf.cast(run_seed * 1009 + replica, tf.int64),
                             tf.cast(optimizer.iterations, tf.int64)])
            images, targets = mixer(images, targets, seed)
            labels = tf.argmax(targets["labels"], -1, output_type=tf.int32)  # dominant label
        if teacher is not None:  # online: the teacher sees exactly the student's view
            teacher_logits = tf.stop_gradient(teacher.logits_from_views(
                tf.cast(images, tf.float32)))
            targets["teacher"] = tf.nn.softmax(teacher_logits / kd_temp)
        views, per_image = [(images, targets)], 1
        if multicrop:
            flat, view_targets, num_global = _flatten_views(images, targets)
            views, per_image = [(flat, view_targets)], num_global
            if "local" in batch:
                local, local_targets, num_local = _flatten_views(batch["local"], targets)
                views.append((local, local_targets))
                per_image += num_local
        with tf.GradientTape() as tape:
            all_logits = [tf.cast(model(x, training=True), tf.float32) for x, _ in views]
            ce_sum = tf.add_n([tf.reduce_sum(example_losses(t, logits))
                               for (_, t), logits in zip(views, all_logits)])
            ce = ce_sum / (global_batch * per_image)
            l2 = optim.l2_penalty(decay_vars, wd) / replicas
            loss = ce + l2
            scaled = optimizer.scale_loss(loss) if fp16 else loss
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        first = all_logits[0]  # the (global) crops: accuracy per image over its global views
        first_labels = tf.repeat(labels, tf.shape(first)[0] // tf.shape(labels)[0])
        correct = tf.reduce_sum(tf.cast(tf.equal(
            tf.argmax(first, -1, output_type=tf.int32), first_labels), tf.float32))
        correct = correct * tf.cast(tf.shape(labels)[0], tf.float32) / tf.cast(
            tf.shape(first)[0], tf.float32)
        return {"loss": loss, "ce": ce, "l2": l2, "correct": correct,
                "skipped": tf.cast(tf.reduce_sum(batch["skipped"]), tf.float32)}

    return step_fn
