"""Snow corruption of ImageNet-C (Hendrycks & Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", ICLR 2019).

It follows ``imagecorruptions-imaug``'s ``snow`` (``corruptions.py``) step by step, with
the same severity parameters. The two random draws (the gaussian snow layer and the
motion-blur angle) come from TensorFlow's stateless stream, not NumPy's; ``snow_from_layer``
takes them explicitly and, fed the reference's draws, matches it pixel for pixel up to
float32 rounding.
"""

import numpy as np
import tensorflow as tf

from preprocessing.corruptions import common
from preprocessing.corruptions.blur import motion_blur_layer

# loc, scale, zoom, threshold, blur radius, blur sigma, image weight
_SNOW = ((0.1, 0.3, 3, 0.5, 10, 4, 0.8),
         (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
         (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
         (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
         (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55))
_GRAY = (0.299, 0.587, 0.114)  # cv2.COLOR_RGB2GRAY


def _zoom_uncropped(x, zoom):
    """The reference's ``clipped_zoom`` as snow calls it: unlike ``common.clipped_zoom``
    the zoomed crop (round(ceil(n / zoom) * zoom) >= n per axis) is kept whole, because
    snow motion-blurs it before cropping to the image size."""
    h, w = int(x.shape[0]), int(x.shape[1])
    ch, cw = int(np.ceil(h / float(zoom))), int(np.ceil(w / float(zoom)))
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[top:top + ch, left:left + cw]
    return common.zoom_linear(crop, int(round(ch * float(zoom))), int(round(cw * float(zoom))))


def snow_from_layer(image: tf.Tensor, severity: int, layer: tf.Tensor,
                    angle: tf.Tensor | float) -> tf.Tensor:
    """Snow with its random draws given: ``layer`` float [H, W], the N(loc, scale^2) snow
    noise, and ``angle`` (degrees, U(-135, -45) in the reference). The layer is zoomed,
    thresholded, clipped, motion-blurred along the angle, rounded to 1/255 steps and
    cropped; the image is blended towards max(x, 1.5 gray + .5) and the layer added twice
    (as is and rotated by 180 degrees)."""
    level = common.check_severity("snow", severity)
    height, width = common.static_hw(image)
    _, _, zoom, threshold, radius, sigma, keep = _SNOW[level]
    layer = tf.ensure_shape(tf.cast(layer, tf.float32), [height, width])
    layer = _zoom_uncropped(layer[..., tf.newaxis], zoom)
    layer = tf.clip_by_value(common.select(layer < threshold, 0.0, layer), 0.0, 1.0)
    layer = motion_blur_layer(layer, radius, sigma, angle)
    # tf.round and np.round both round halves to even.
    layer = common.to_unit(tf.round(layer * 255.0)[:height, :width])

    x = common.to_unit(tf.convert_to_tensor(image, tf.uint8))
    gray = tf.tensordot(x, tf.constant(_GRAY, tf.float32), 1)[..., tf.newaxis]
    # Broadcast once, then an equal-shape maximum: TF's broadcasting binary kernels are
    # several times slower on CPU than the same op on equal shapes.
    bright = tf.broadcast_to(gray * 1.5 + 0.5, tf.shape(x))
    x = keep * x + (1.0 - keep) * tf.maximum(x, bright)
    return common.unit_to_uint8(x + layer + tf.reverse(layer, [0, 1]))


def snow(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """``snow_from_layer`` with the layer ~ N(loc, scale^2) per pixel (loc .1/.2/.55/.55/.55,
    scale .3) and the angle ~ U(-135, -45) drawn from ``seed``."""
    level = common.check_severity("snow", severity)
    height, width = common.static_hw(image)
    loc, scale = _SNOW[level][:2]
    seeds = common.split_seed(seed, 2)
    layer = common.stateless_normal([height, width], seeds[0], mean=loc, stddev=scale)
    angle = tf.random.stateless_uniform([], seeds[1], -135.0, -45.0, dtype=tf.float64)
    return snow_from_layer(image, severity, layer, angle)
