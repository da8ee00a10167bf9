"""The training-time image path: crop/flip -> AutoAugment -> RandAugment -> RandomErasing
-> normalisation, all on uint8 until the last step and all driven by one stateless seed.
With multi-crop the crop/flip stage yields G global + L local views and the rest of the
chain runs on each view with its own sub-seed (fold_in(seed, 10 + view index)).

Each stage draws from its own sub-seed (`fold_in(seed, k)`), so switching one stage on or off
does not change the random choices of the others, and a stored seed replays the whole view.

Two equivalent forms: `make_train_fn` runs the whole chain per image; `make_train_stages`
splits it into a per-image stage (crop/flip, AutoAugment, and the RandAugment /
RandomErasing params drawn from the same sub-seeds) and a per-batch stage that applies
RandAugment and RandomErasing to the batch (`randaugment_batch`, `random_erasing_batch`)
and normalises. Both give the same pixels (tests/test_augment_batch.py); the batched one
pays the per-op dispatch once per batch (bench/bench_augment_vs_torchvision.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from preprocessing import (
    multicrop,
    randaugment,
    randaugment_batch,
    random_erasing,
    random_erasing_batch,
)
from preprocessing.common import normalize

PARAMS_KEY = "augment_params"  # per-image params carried from the per-image to the batch stage


@dataclass(frozen=True)
class AugmentConfig:
    autoaugment_type: str = ""
    randaugment: tuple | None = None  # (num_ops, magnitude, magnitude_std)
    random_erasing: float = 0.0
    randaugment_fill: int = 0  # --randaugment_fill: value of pixels geometric ops uncover
    autoaugment_magnitudes: str = "relative"  # --autoaugment_magnitudes (autoaugment.py)

    @property
    def active(self) -> bool:
        return bool(self.autoaugment_type or self.randaugment or self.random_erasing)


def _sub_seed(seed, k: int):
    return tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), k)


def augment_uint8(image: tf.Tensor, seed: tf.Tensor, cfg: AugmentConfig) -> tf.Tensor:
    """uint8 [H, W, 3] -> uint8 [H, W, 3]."""
    if cfg.autoaugment_type:
        from preprocessing import autoaugment  # the policy tables are only loaded when used
        image = autoaugment.augment(image, cfg.autoaugment_type, _sub_seed(seed, 1),
                                    cfg.autoaugment_magnitudes)
    if cfg.randaugment:
        num_ops, magnitude, std = cfg.randaugment
        image = randaugment.augment(image, _sub_seed(seed, 2), num_ops, magnitude, std,
                                    fill=cfg.randaugment_fill)
    if cfg.random_erasing:
        image = random_erasing.augment(image, _sub_seed(seed, 3), cfg.random_erasing)
    return image


def make_train_fn(spec: Any, cfg: AugmentConfig,
                  crops: multicrop.MultiCropConfig | None = None) -> Callable:
    """(encoded, seed) -> float32 normalised training image, or with `crops` a dict
    {"image": [G, S, S, 3], "local": [L, s, s, 3]} of normalised views."""
    if crops is not None:
        return _multicrop_train_fn(crops, cfg)
    if not cfg.active:
        return spec.train

    def train(encoded, seed):
        return normalize(augment_uint8(spec.train_uint8(encoded, seed), seed, cfg))

    return train


def _multicrop_train_fn(crops: multicrop.MultiCropConfig, cfg: AugmentConfig):
    def augment_views(views, first_index: int, seed):
        if not cfg.active:
            return normalize(views)
        return normalize(tf.stack([augment_uint8(views[i], _sub_seed(seed, 10 + first_index + i),
                                                 cfg) for i in range(views.shape[0])]))

    def train(encoded, seed):
        views = multicrop.crops_uint8(encoded, _sub_seed(seed, 4), crops)
        out = {"image": augment_views(views["global"], 0, seed)}
        if "local" in views:
            out["local"] = augment_views(views["local"], crops.num_global, seed)
        return out

    return train


def _sample_stages(image, seed, cfg: AugmentConfig):
    """Per image: AutoAugment applied, RandAugment params and the RandomErasing box and
    noise (random_erasing_batch.erase_parts) drawn exactly as augment_uint8 draws them ->
    (uint8 image, params)."""
    if cfg.autoaugment_type:
        from preprocessing import autoaugment
        image = autoaugment.augment(image, cfg.autoaugment_type, _sub_seed(seed, 1),
                                    cfg.autoaugment_magnitudes)
    params = {}
    if cfg.randaugment:
        num_ops, magnitude, std = cfg.randaugment
        params["ra"] = randaugment.sample_params(_sub_seed(seed, 2), num_ops, magnitude, std)
    if cfg.random_erasing:
        erase = random_erasing.sample_params(_sub_seed(seed, 3), tf.shape(image)[:2],
                                             cfg.random_erasing)
        params["re"] = random_erasing_batch.erase_parts(erase, image.shape.as_list())
    return image, params


def _apply_stages(images, params, cfg: AugmentConfig):
    """uint8 [B, ..., S, S, 3] with params [B, ...] -> normalised float32 (batched RA, RE)."""
    shape = tf.shape(images)
    lead = len(images.shape) - 3
    flat = tf.reshape(images, tf.concat([[-1], shape[lead:]], 0))
    count = images.shape[:lead].num_elements()  # a static batch: static here too
    flat = tf.ensure_shape(flat, [count] + images.shape[lead:].as_list())

    def merge(t):  # [B, V, ...] -> [B * V, ...]
        return tf.reshape(t, tf.concat([[-1], tf.shape(t)[lead:]], 0))
    if "ra" in params:
        flat = randaugment_batch.apply_batch(flat, {k: merge(v) for k, v in params["ra"].items()},
                                             fill=cfg.randaugment_fill)
    if "re" in params:  # the noise: ragged rows, their values in batch (and view) order
        flat = random_erasing_batch.apply_parts(flat, merge(params["re"]["box"]),
                                                params["re"]["noise"].flat_values)
    return tf.reshape(_normalize_batch(flat), shape)


@tf.function(jit_compile=True)
def _normalize_batch(images):
    """common.normalize (a cast and one float32 subtraction: no step XLA could round
    differently) fused into one pass: as TF kernels over a whole batch it costs ~0.4 ms per
    224-px image on one core (the float batch does not fit in the cache between them)."""
    return normalize(images)


def make_train_stages(spec: Any, cfg: AugmentConfig,
                      crops: multicrop.MultiCropConfig | None = None
                      ) -> tuple[Callable, Callable | None]:
    """(per_image, per_batch): `make_train_fn` split so that RandAugment and RandomErasing
    run on whole batches.

    per_image(encoded, seed) -> {"image": uint8 (+ "local" with multi-crop), PARAMS_KEY:
    per-view params}; per_batch(batched dict) -> the dict with those views normalised and
    PARAMS_KEY removed: image for image what make_train_fn gives.  per_batch is None (and
    per_image is make_train_fn) when neither RandAugment nor RandomErasing is on."""
    if not (cfg.randaugment or cfg.random_erasing):
        return make_train_fn(spec, cfg, crops), None

    def per_batch(example):
        example = dict(example)
        params = example.pop(PARAMS_KEY)
        for key, view_params in params.items():
            example[key] = _apply_stages(example[key], view_params, cfg)
        return example

    if crops is None:
        def per_image(encoded, seed):
            image, params = _sample_stages(spec.train_uint8(encoded, seed), seed, cfg)
            return {"image": image, PARAMS_KEY: {"image": params}}
        return per_image, per_batch

    def sample_views(views, first_index: int, seed):
        pairs = [_sample_stages(views[i], _sub_seed(seed, 10 + first_index + i), cfg)
                 for i in range(views.shape[0])]
        params = tf.nest.map_structure(lambda *t: tf.stack(t), *[p for _, p in pairs])
        return tf.stack([v for v, _ in pairs]), params

    def per_image_multicrop(encoded, seed):
        views = multicrop.crops_uint8(encoded, _sub_seed(seed, 4), crops)
        out, params = {}, {}
        out["image"], params["image"] = sample_views(views["global"], 0, seed)
        if "local" in views:
            out["local"], params["local"] = sample_views(views["local"], crops.num_global,
                                                         seed)
        return dict(out, **{PARAMS_KEY: params})

    return per_image_multicrop, per_batch
