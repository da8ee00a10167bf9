"""The 19 ImageNet-C corruptions by name, and how a flag selects them.

``CORRUPTIONS`` is the explicit registry: name -> ``fn(image, severity, seed)`` (see
``common``). Order and grouping follow Hendrycks & Dietterich (ICLR 2019): the 15 standard
corruptions of the benchmark, then the 4 extra ("validation") corruptions of their code,
which the original assembled-cnn also averaged into its mCE.
"""

from collections.abc import Callable

import tensorflow as tf

from preprocessing.corruptions import blur, digital, elastic, noise, snow, spatter, weather
from preprocessing.corruptions.common import Seed
from preprocessing.corruptions.names import ALL, EXTRA, STANDARD

#: A corruption: ``fn(image, severity, seed) -> image``.
Corruption = Callable[[tf.Tensor, int, Seed], tf.Tensor]

CORRUPTIONS = {
    "gaussian_noise": noise.gaussian_noise,
    "shot_noise": noise.shot_noise,
    "impulse_noise": noise.impulse_noise,
    "defocus_blur": blur.defocus_blur,
    "glass_blur": blur.glass_blur,
    "motion_blur": blur.motion_blur,
    "zoom_blur": blur.zoom_blur,
    "snow": snow.snow,
    "frost": weather.frost,
    "fog": weather.fog,
    "brightness": digital.brightness,
    "contrast": digital.contrast,
    "elastic_transform": elastic.elastic_transform,
    "pixelate": digital.pixelate,
    "jpeg_compression": digital.jpeg_compression,
    "speckle_noise": noise.speckle_noise,
    "gaussian_blur": blur.gaussian_blur,
    "spatter": spatter.spatter,
    "saturate": digital.saturate,
}
_GROUPS = {"all": ALL, "standard": STANDARD, "extra": EXTRA}


def get(name: str) -> Corruption:
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r} (one of {', '.join(ALL)})")
    return CORRUPTIONS[name]


def parse_corruptions(text: str | None) -> tuple[str, ...]:
    """'all' | 'standard' | 'extra' | comma-separated names -> tuple in registry order."""
    text = (text or "").strip()
    if text in _GROUPS:
        return _GROUPS[text]
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError("no corruption named (use all, standard, extra or a comma list)")
    for name in names:
        get(name)
    return tuple(n for n in ALL if n in names)


def parse_severities(text: str | int) -> tuple[int, ...]:
    """'1,3,5' or '1-5' -> sorted tuple of ints in 1..5."""
    text = str(text).strip()
    try:
        if "-" in text:
            lo, hi = (int(p) for p in text.split("-"))
            values = list(range(lo, hi + 1))
        else:
            values = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ValueError(f"severities {text!r}: expected e.g. 1-5 or 1,3,5") from None
    if not values or any(v not in range(1, 6) for v in values):
        raise ValueError(f"severities {text!r}: each must be in 1..5")
    return tuple(sorted(set(values)))


def image_seed(filename: tf.Tensor | str, encoded: tf.Tensor | bytes, name: str, severity: int,
               seed: int = 0) -> tf.Tensor:
    """The stateless seed of one corrupted image: a hash of its file name (of its bytes when
    it has none) and (seed, corruption, severity). The generator and the on-the-fly
    evaluation both use it, so a file gets the same corruption whichever path, order or
    sharding produced it."""
    key = tf.where(tf.strings.length(filename) > 0, filename, encoded)
    image_key = tf.strings.to_hash_bucket_fast(key, 2 ** 62)
    stream = (int(seed) * len(ALL) + ALL.index(name)) * 8 + int(severity)
    return tf.stack([image_key, tf.constant(stream, tf.int64)])


def corrupt(image: tf.Tensor, name: str, severity: int, seed: Seed) -> tf.Tensor:
    """uint8 [H, W, 3] -> the corruption ``name`` at ``severity`` (1..5) with ``seed``."""
    return get(name)(image, severity, seed)
