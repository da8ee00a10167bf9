"""RandAugment on a batch with per-image params, pixel-identical to ``randaugment.apply``.

``apply_batch(images [B, H, W, 3] uint8, params)`` where ``params`` is
``randaugment.sample_params`` of each image stacked on a leading axis (what a tf.data
``.batch()`` of the per-image params gives): image b of the output equals
``randaugment.apply(images[b], params[b])`` bit for bit, so stored dataset-reinforcement
params replay the same pixels on either path (tests/test_augment_batch.py).

How: for each op slot i, ``tf.dynamic_partition`` splits the batch by op index, each op k
runs once on its group (``augment_ops_batch``, arguments from
``randaugment.magnitude_to_arg`` on the group's magnitudes and signs: plain float
arithmetic, identical on vectors and scalars; the transcendental per-image values whose
vectorised kernels differ -- float32 cos/sin of "tf" Rotate, float64 atan of "pil"
shears -- are computed on scalars over the whole batch, whose size is static), and
``tf.dynamic_stitch`` puts the groups back in order.  With the default "pil" geometry
all geometric ops of a slot form one group: each image's Pillow matrix (its own op's,
chosen over the whole batch) goes with it into one XLA gather
(``pil_geometry_batch.pil_affine``), one call and one padded group instead of five.
The per-op dispatch is paid per batch, not per image (the per-image path's
``tf.switch_case`` alone costs ~0.4 ms per image and op slot on one core in tf.data).
No tf.cond / map_fn with a static batch: tf.data runs functional control flow as a
function call per iteration.
"""

import tensorflow as tf

from preprocessing import augment_ops as A
from preprocessing import augment_ops_batch as AB
from preprocessing import pil_geometry_batch as PGB
from preprocessing import randaugment as RA


def apply_batch(images: tf.Tensor, params: dict[str, tf.Tensor],
                names: tuple[str, ...] = A.RANDAUGMENT_NAMES, scale: str = "torchvision",
                fill: int = RA.DEFAULT_FILL, geometry: str = "pil") -> tf.Tensor:
    """uint8 [B, H, W, 3] (H, W static) -> uint8, each image with its own ``params``;
    ``names``, ``scale``, ``fill``, ``geometry`` as ``randaugment.apply``."""
    if scale not in RA.SCALES:
        raise ValueError(f"scale must be one of {RA.SCALES}, got {scale!r}")
    if geometry not in A.GEOMETRIES:
        raise ValueError(f"geometry must be one of {A.GEOMETRIES}, got {geometry!r}")
    RA.check_fill(fill)
    images = A.as_uint8_image(images, "RandAugment")
    h, w = AB._static_hw(images)
    idx = tf.cast(params["op_indices"], tf.int32)
    mags = tf.cast(params["magnitudes"], tf.float32)
    signs = tf.cast(params["signs"], tf.float32)
    centers = params.get("centers")
    num_ops = idx.shape[1]
    if num_ops is None:
        raise ValueError("apply_batch needs a static number of ops (params [B, N])")
    positions = tf.range(tf.shape(images)[0])
    k = len(names)
    merged = [name for name in names if geometry == "pil" and name in A.GEOMETRIC]
    for i in range(num_ops):
        slot = idx[:, i]
        part = slot
        if merged:  # every "pil" geometric op of the slot: one group, one gather
            ids = tf.constant([names.index(name) for name in merged], tf.int32)
            is_geo = tf.reduce_any(tf.equal(slot[:, None], ids[None, :]), axis=1)
            part = tf.where(is_geo, k, slot)
            matrices = _pil_slot_matrices(slot, mags[:, i], signs[:, i], merged, names,
                                          h, w, scale)
        groups = tf.dynamic_partition(images, part, k + 1)
        where = tf.dynamic_partition(positions, part, k + 1)
        # Per-image scalar math over the whole batch (its size is static, a group's is not).
        extra = {}
        if geometry == "tf" and "Rotate" in names:
            degrees = RA.magnitude_to_arg("Rotate", mags[:, i], signs[:, i], h, w, scale)
            extra["Rotate"] = tf.dynamic_partition(AB.rotation_transforms(degrees, h, w),
                                                   part, k + 1)
        group_mags = tf.dynamic_partition(mags[:, i], part, k + 1)
        group_signs = tf.dynamic_partition(signs[:, i], part, k + 1)
        group_centers = (tf.dynamic_partition(centers[:, i], part, k + 1)
                         if centers is not None else [None] * (k + 1))
        outs = []
        for j, name in enumerate(names):
            if name == "Identity" or name in merged:
                outs.append(groups[j])  # (merged ops: an empty group)
                continue
            with tf.name_scope(name):
                args = RA.magnitude_to_arg(name, group_mags[j], group_signs[j], h, w, scale)
                ctr = None
                if name == "Cutout":  # fractions -> pixels, as randaugment._apply_one
                    ctr = tf.cast(tf.floor(tf.cast(group_centers[j], tf.float32)
                                           * tf.constant([h, w], tf.float32)), tf.int32)
                if name not in A.GEOMETRIC:
                    outs.append(AB.OPS[name](groups[j], args, ctr))
                else:
                    kw = {"transforms": extra["Rotate"][j]} if name == "Rotate" else {}
                    outs.append(AB.OPS[name](groups[j], args, ctr, fill=fill, **kw))
        if merged:
            with tf.name_scope("pil_geometry"):
                outs.append(PGB.pil_affine(
                    groups[k], tf.dynamic_partition(matrices, part, k + 1)[k], fill))
        else:
            outs.append(groups[k])  # empty
        images = tf.dynamic_stitch(where, outs)
    return tf.ensure_shape(images, [None, h, w, 3])


def _pil_slot_matrices(slot, mags, signs, merged, names, h, w, scale):
    """[B, 6] float64 Pillow matrices of one slot: image b's geometric op's (pil_geometry
    _batch.pil_matrices of its own argument), identity for the other images.  The shears'
    float64 atan per image on scalars (the batch size is static): once per image, of the
    ShearX or ShearY argument it drew."""
    matrices = tf.constant([[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]], tf.float64)
    matrices = tf.tile(matrices, tf.stack([tf.shape(slot)[0], 1]))
    args = {name: RA.magnitude_to_arg(name, mags, signs, h, w, scale) for name in merged}
    shears = [name for name in ("ShearX", "ShearY") if name in merged]
    atan = None
    if shears:
        shear = args[shears[0]]
        if len(shears) == 2:
            shear = tf.where(tf.equal(slot, names.index("ShearY")), args["ShearY"], shear)
        atan = PGB._scalar_each(tf.atan, tf.cast(shear, tf.float64))
    for name in merged:
        m = PGB.pil_matrices(name, args[name], h, w, atan if name in shears else None)
        matrices = tf.where(tf.equal(slot, names.index(name))[:, None], m, matrices)
    return matrices
