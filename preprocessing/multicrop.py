"""Multi-crop views: G global and L local random-resized crops of one image.

Caron et al. 2020 (SwAV) / 2021 (DINO), as used by t-ReX (Sariyildiz et al. 2023, "No Reason
for No Supervision", spec trex.md §3): 1 global crop of 224 px with area scale (0.25, 1) and
8 local crops of 96 px with scale (0.05, 0.25); the classification loss is averaged over all
crops. Each crop is a random-resized crop (aspect ratio 3/4..4/3, area fraction in `scale`)
drawn by `--crop_sampler` (crop_samplers.py): "torchvision" is t-ReX's / DINO's
`RandomResizedCrop.get_params` (area uniform in `scale`, log-uniform ratio, 10 tries, then
the centre crop); "inception" -- what multi-crop runs made before the setting used, and the
default -- is TF's `sample_distorted_bounding_box` with min_object_covered 0 and 10 attempts,
then the whole image: its area is ~ h^2 rather than uniform (on a 375 x 500 image, area
mean 0.489 vs torchvision's 0.521 for global crops (0.25, 1), KS 0.085; 0.137 vs 0.150 for
local crops (0.05, 0.25), KS 0.102; tests/test_crop_samplers.py). The crop is resized
bicubic with antialiasing as torchvision's, and flipped horizontally with p = 0.5. The
configured AutoAugment / RandAugment / RandomErasing then runs on every crop with its own
sub-seed. t-ReX's DINO colour pipeline (jitter, grayscale, blur, solarize) is not
part of this module.

Parametric like every augmentation here: `sample_params(encoded, seed, cfg)` draws all crop
windows and flips; `apply_params` replays them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from preprocessing import common, crop_samplers

ASPECT_RATIO_RANGE = (3 / 4, 4 / 3)
MAX_ATTEMPTS = 10  # as torchvision's RandomResizedCrop (the inception sampler then: whole image)


@dataclass(frozen=True)
class MultiCropConfig:
    num_global: int = 1
    num_local: int = 8
    global_size: int = 224
    local_size: int = 96
    global_scale: tuple = (0.25, 1.0)
    local_scale: tuple = (0.05, 0.25)
    sampler: str = crop_samplers.INCEPTION  # --crop_sampler

    def __post_init__(self):
        crop_samplers.check_sampler(self.sampler)
        if self.num_global < 1 or self.num_local < 0:
            raise ValueError(f"need at least 1 global crop and >= 0 local crops, got "
                             f"{self.num_global},{self.num_local}")
        if self.global_size < 8 or (self.num_local and self.local_size < 8):
            raise ValueError(f"crop sizes must be >= 8 px, got global {self.global_size}, "
                             f"local {self.local_size}")
        for name, (lo, hi) in (("global", self.global_scale), ("local", self.local_scale)):
            if not 0.0 < lo <= hi <= 1.0:
                raise ValueError(f"{name} scale must satisfy 0 < min <= max <= 1, got "
                                 f"({lo}, {hi})")


def parse_multicrop_flag(text: str) -> tuple[int, int]:
    """'G,L' -> (G, L); ValueError with the reason otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"expected 'G,L' (numbers of global and local crops), got {text!r}")
    return int(parts[0]), int(parts[1])


def _parse_scale(values, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected 'min,max', got {values!r}") from None
    return lo, hi


def config_from_flags(cfg: dict, default_size: int) -> MultiCropConfig | None:
    """The MultiCropConfig of a run config (None when --multicrop is empty)."""
    if not cfg.get("multicrop"):
        return None
    num_global, num_local = parse_multicrop_flag(cfg["multicrop"])
    return MultiCropConfig(
        num_global, num_local,
        global_size=int(cfg.get("multicrop_global_size") or default_size),
        local_size=int(cfg.get("multicrop_local_size", 96)),
        global_scale=_parse_scale(cfg.get("multicrop_global_scale", (0.25, 1.0)),
                                  "--multicrop_global_scale"),
        local_scale=_parse_scale(cfg.get("multicrop_local_scale", (0.05, 0.25)),
                                 "--multicrop_local_scale"),
        sampler=cfg.get("crop_sampler", crop_samplers.LEGACY))


def sample_crop_window(seed: common.Seed, image_shape: crop_samplers.ImageShape,
                       scale: tuple[float, float],
                       sampler: str = crop_samplers.INCEPTION) -> tf.Tensor:
    """int32 [4] (y, x, h, w): a random-resized-crop window with area fraction in `scale`,
    drawn by `sampler` (module docstring)."""
    if crop_samplers.check_sampler(sampler) == crop_samplers.TORCHVISION:
        return crop_samplers.torchvision_window(seed, image_shape, scale, ASPECT_RATIO_RANGE,
                                                MAX_ATTEMPTS)
    return crop_samplers.inception_window(seed, image_shape, scale, ASPECT_RATIO_RANGE,
                                          MAX_ATTEMPTS, min_object_covered=0.0)


def _sample_group(seeds, shape, scale, sampler):
    windows, flips = [], []
    for i in range(seeds.shape[0]):
        crop_seed, flip_seed = tf.unstack(common.split_seed(seeds[i], 2))
        windows.append(sample_crop_window(crop_seed, shape, scale, sampler))
        flips.append(common.sample_flip_params(flip_seed))
    return tf.stack(windows), tf.stack(flips)


def sample_params(encoded: common.Encoded, seed: common.Seed,
                  cfg: MultiCropConfig) -> dict[str, tf.Tensor]:
    """{"global_crop": int32 [G, 4], "global_flip": int32 [G], "local_crop": [L, 4],
    "local_flip": [L]}, all from one stateless seed."""
    shape = common.encoded_image_shape(encoded)
    seeds = common.split_seed(seed, cfg.num_global + cfg.num_local)
    g_crop, g_flip = _sample_group(seeds[:cfg.num_global], shape, cfg.global_scale,
                                   cfg.sampler)
    params = {"global_crop": g_crop, "global_flip": g_flip}
    if cfg.num_local:
        params["local_crop"], params["local_flip"] = _sample_group(
            seeds[cfg.num_global:], shape, cfg.local_scale, cfg.sampler)
    return params


def _render(image, window, flip, size: int):
    crop = common.apply_flip(common.apply_crop(image, window), flip)
    out = tf.image.resize(crop, [size, size], method="bicubic", antialias=True)
    return tf.ensure_shape(common.to_uint8(out), [size, size, 3])


def apply_params(encoded: common.Encoded, params: dict[str, tf.Tensor],
                 cfg: MultiCropConfig) -> dict[str, tf.Tensor]:
    """Replays `sample_params`: {"global": uint8 [G, S, S, 3], "local": uint8 [L, s, s, 3]}
    (no "local" key when L = 0). The image is decoded once for all crops."""
    image = common.decode(encoded)
    views = {"global": tf.stack([
        _render(image, params["global_crop"][i], params["global_flip"][i], cfg.global_size)
        for i in range(cfg.num_global)])}
    if cfg.num_local:
        views["local"] = tf.stack([
            _render(image, params["local_crop"][i], params["local_flip"][i], cfg.local_size)
            for i in range(cfg.num_local)])
    return views


def crops_uint8(encoded: common.Encoded, seed: common.Seed,
                cfg: MultiCropConfig) -> dict[str, tf.Tensor]:
    return apply_params(encoded, sample_params(encoded, seed, cfg), cfg)
