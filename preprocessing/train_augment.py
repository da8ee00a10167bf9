"""The training-time image path: crop/flip -> AutoAugment -> RandAugment -> RandomErasing
-> normalisation, all on uint8 until the last step and all driven by one stateless seed.
With multi-crop the crop/flip stage yields G global + L local views and the rest of the
chain runs on each view with its own sub-seed (fold_in(seed, 10 + view index)).

Each stage draws from its own sub-seed (`fold_in(seed, k)`), so switching one stage on or off
does not change the random choices of the others, and a stored seed replays the whole view.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from preprocessing import multicrop, random_erasing, randaugment
from preprocessing.common import normalize


@dataclass(frozen=True)
class AugmentConfig:
    autoaugment_type: str = ""
    randaugment: tuple | None = None  # (num_ops, magnitude, magnitude_std)
    random_erasing: float = 0.0
    randaugment_fill: int = 0  # --randaugment_fill: value of pixels geometric ops uncover

    @property
    def active(self) -> bool:
        return bool(self.autoaugment_type or self.randaugment or self.random_erasing)


def _sub_seed(seed, k: int):
    return tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), k)


def augment_uint8(image, seed, cfg: AugmentConfig):
    """uint8 [H, W, 3] -> uint8 [H, W, 3]."""
    if cfg.autoaugment_type:
        from preprocessing import autoaugment  # the policy tables are only loaded when used
        image = autoaugment.augment(image, cfg.autoaugment_type, _sub_seed(seed, 1))
    if cfg.randaugment:
        num_ops, magnitude, std = cfg.randaugment
        image = randaugment.augment(image, _sub_seed(seed, 2), num_ops, magnitude, std,
                                    fill=cfg.randaugment_fill)
    if cfg.random_erasing:
        image = random_erasing.augment(image, _sub_seed(seed, 3), cfg.random_erasing)
    return image


def make_train_fn(spec, cfg: AugmentConfig, crops: multicrop.MultiCropConfig | None = None):
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
