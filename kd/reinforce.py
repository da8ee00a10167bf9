"""Dataset reinforcement: store augmentation parameters and the teacher's top-K
probabilities per sample once, replay them exactly in training (library + CLI).

    python -m kd.reinforce --teacher=run:runs/teacher --data_dir=$TFR \
        --output_dir=$TFR/reinforced --num_samples=20 --top_k=10 \
        --preprocessing_type=small_32 --randaugment=2,9 --random_erasing=0.25
    python main_classification.py --dataset_name=$TFR --reinforce_data_path=$TFR/reinforced \
        --kd_temp=1 --kd_label_weight=0

Faghri et al. 2023, "Reinforce Data, Multiply Impact" (ml-dr; spec dataset-reinforcement.md).
For every training image and j = 0..NS-1: parameters are drawn from a stateless seed of
(--seed, a hash of the image's key, j) -- crop window, flip, RandAugment ops and signed
magnitudes, RandomErasing decision and box --, packed into a fixed-width int16 record,
unpacked again, and the view rendered from the *unpacked* parameters is what the teacher
sees; so replay, which renders from the same unpacked record with the same functions, gives
the teacher's view pixel for pixel. The teacher's probabilities (T = 1) are kept as top-K
class ids (int16) and probabilities (float16). The header records RandAugment's fill
(--randaugment_fill, default 0) and geometry ("pil"); replay renders with them, a header
without them (written before they existed) means 128 and the "tf" geometry, and a training
run whose --randaugment_fill differs from the header's is refused (`check_fill`).

The crop window is drawn by the spec's `crop_sampler` (preprocessing/crop_samplers.py; DR's
own crop is timm's = torchvision's RandomResizedCrop: `--crop_sampler=torchvision`) and stored
as drawn, so replay renders it whatever the sampler; the sampler is recorded in the header's
"augmentation" (absent = inception, the only sampler of side-cars written before the setting)
and used for replay's fresh views; a training run whose --crop_sampler differs is refused
(`check_crop_sampler`).

AutoAugment (`--autoaugment_type`, the original's policies, before RandAugment as in training)
is stored too; its magnitudes (`--autoaugment_magnitudes`, preprocessing/autoaugment.py) are
recorded in the header and a training run whose --autoaugment_magnitudes differs is refused
(`check_autoaugment_magnitudes`). A header without AutoAugment is what it was before.

Record of one sample (int16 words): crop (y, x, h, w), flip, then with AutoAugment (sub-policy,
applied bits, sign bits, the two Cutout centres as (row, col) fractions in 1/32768), then per
RandAugment op (op index, float16 bits of sign*magnitude), then RandomErasing (apply, y, x, h,
w); the erasing noise is re-derived from (key hash, j), not stored. Per sample:
2*(5 + 7A + 2N + 5) + 4K bytes, 68 B for N = 2 with erasing, no AutoAugment (A = 0) and K = 10
(DR's released ImageNet+ is 73 B/sample gzipped). One side-car record per image holds its NS
samples (datasets/sidecar.py).

Replay (`make_replay_fn`): with probability p (DR: 0.99) one stored sample j, uniform, is
rendered and its densified teacher distribution is the target ("smooth": the K stored
probabilities in place, the rest of the mass spread evenly over the other classes; when the
fp16 probabilities sum above 1 they are renormalised); otherwise a fresh view from the same
augmentation config with a one-hot target.

Mixing samples (DR's M* variants, `--mixing=mixup,cutmix`, kd/reinforce_mixing.py): each
record also holds a partner index, the mixup / CutMix parameters and the partner's own
words; the teacher sees the mixed view, and replay fetches the partner's bytes from an
in-memory table of the training images. 2*(2W + 10) + 4K bytes: 116 B at W = 14, K = 10.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import preprocessing as preprocessing_lib  # noqa: E402
from datasets import sidecar  # noqa: E402
from datasets.errors import DataError  # noqa: E402
from datasets.tfrecords import parse_record  # noqa: E402
from kd import reinforce_mixing as mixing_lib  # noqa: E402
from kd.reinforce_mixing import PartnerPool  # noqa: E402
from preprocessing import Preprocessing, crop_samplers, randaugment, random_erasing  # noqa: E402
from preprocessing import autoaugment as autoaugment_lib  # noqa: E402
from preprocessing.common import normalize  # noqa: E402
from preprocessing.randaugment import DEFAULT_FILL, LEGACY_FILL  # noqa: E402

KIND = "reinforce"
IDENTITY = ("kind", "num_classes", "teacher", "source_dir", "pattern", "augmentation",
            "num_samples", "top_k", "partners")
PARTNER_SEED, MIX_SEED = 11, 10  # sub-seeds of a sample: the partner's words, the head
AA_SEED = 5  # sub-seed of a sample's AutoAugment draw
AA_WORDS = 7  # sub-policy, applied bits, sign bits, 2 x (row, col) centre fractions
CENTER_SCALE = 32768.0  # a stored centre fraction is floor(f * 2^15) / 2^15


@dataclass(frozen=True)
class AugmentationSpec:
    """What generation sampled and replay must render; saved in the header."""
    preprocessing_type: str
    randaugment: tuple | None = None  # (N, M, std)
    random_erasing: float = 0.0
    seed: int = 0
    mixing: tuple = ()  # subset of ("mixup", "cutmix"), kd/reinforce_mixing.py
    # RandAugment's fill and geometry (preprocessing/randaugment.py); a header without
    # them was written before they existed, with 128 and the "tf" geometry (from_header).
    randaugment_fill: int = DEFAULT_FILL
    randaugment_geometry: str = "pil"
    crop_sampler: str = crop_samplers.LEGACY  # preprocessing/crop_samplers.py
    autoaugment: str = ""  # policy (preprocessing/autoaugment.py), "" = off
    autoaugment_magnitudes: str = autoaugment_lib.DEFAULT_MAGNITUDES

    @property
    def num_ops(self) -> int:
        return int(self.randaugment[0]) if self.randaugment else 0

    @property
    def own_words(self) -> int:
        """Words of one image's own augmentation (the whole record without mixing)."""
        return (5 + (AA_WORDS if self.autoaugment else 0) + 2 * self.num_ops
                + (5 if self.random_erasing else 0))

    @property
    def words(self) -> int:
        if not self.mixing:
            return self.own_words
        return 2 * self.own_words + mixing_lib.head_words(self.mixing)

    def as_header(self) -> dict:
        d = asdict(self)
        d["randaugment"] = list(self.randaugment) if self.randaugment else None
        if self.mixing:
            d["mixing"] = list(self.mixing)
        else:  # headers written before mixing existed stay identical
            del d["mixing"]
        if self.crop_sampler == crop_samplers.LEGACY:  # so do those of before crop_sampler
            del d["crop_sampler"]
        if not self.autoaugment:  # and those without AutoAugment
            del d["autoaugment"], d["autoaugment_magnitudes"]
        return d

    @classmethod
    def from_header(cls, d: dict) -> "AugmentationSpec":
        ra = d.get("randaugment")
        return cls(d["preprocessing_type"], tuple(ra) if ra else None,
                   float(d.get("random_erasing", 0.0)), int(d.get("seed", 0)),
                   tuple(d.get("mixing") or ()),
                   int(d.get("randaugment_fill", LEGACY_FILL)),
                   str(d.get("randaugment_geometry", "tf")),
                   d.get("crop_sampler", crop_samplers.LEGACY),
                   str(d.get("autoaugment", "")),
                   str(d.get("autoaugment_magnitudes", autoaugment_lib.DEFAULT_MAGNITUDES)))

    def preprocessing(self) -> Preprocessing:
        """The spec's Preprocessing (ValueError naming what does not fit)."""
        return preprocessing_lib.get_preprocessing(self.preprocessing_type,
                                                   crop_sampler=self.crop_sampler)


def key_hash(key: tf.Tensor) -> tf.Tensor:
    return tf.strings.to_hash_bucket_fast(key, 2**31 - 1)


def sample_seed(spec: AugmentationSpec, key: tf.Tensor, j: int | tf.Tensor) -> tf.Tensor:
    base = tf.stack([tf.constant(spec.seed, tf.int64), key_hash(key)])
    return tf.random.experimental.stateless_fold_in(base, tf.cast(j, tf.int64))


def _sub(seed, k: int):
    return tf.random.experimental.stateless_fold_in(seed, k)


def _own_words(encoded, seed, spec: AugmentationSpec, prep):
    geo = prep.sample_params(encoded, _sub(seed, 1))
    words = [tf.cast(geo["crop"], tf.int16), tf.cast(geo["flip"], tf.int16)[None]]
    if spec.autoaugment:
        words.append(_pack_autoaugment(
            autoaugment_lib.sample_params(spec.autoaugment, _sub(seed, AA_SEED))))
    if spec.randaugment:
        n, m, std = spec.randaugment
        ra = randaugment.sample_params(_sub(seed, 2), int(n), float(m), float(std))
        signed = tf.cast(ra["magnitudes"] * ra["signs"], tf.float16)
        words.append(tf.reshape(tf.stack([tf.cast(ra["op_indices"], tf.int16),
                                          tf.bitcast(signed, tf.int16)], axis=1), [-1]))
    if spec.random_erasing:
        size = prep.train_size
        er = random_erasing.sample_params(_sub(seed, 3), (size, size), spec.random_erasing)
        words.append(tf.cast(er["apply"], tf.int16)[None])
        words.append(tf.cast(er["box"], tf.int16))
    return tf.concat(words, axis=0)


def _pack_autoaugment(aa) -> tf.Tensor:
    """int16 [AA_WORDS] of autoaugment.sample_params' draw (one bit per applied / sign)."""
    bits = tf.constant([1, 2], tf.int32)
    applied = tf.reduce_sum(tf.cast(aa["applied"], tf.int32) * bits)
    negative = tf.reduce_sum(tf.cast(aa["signs"] < 0, tf.int32) * bits)
    centers = tf.minimum(tf.floor(aa["centers"] * CENTER_SCALE), CENTER_SCALE - 1)
    return tf.concat([tf.cast(tf.stack([aa["sub_policy"], applied, negative]), tf.int16),
                      tf.cast(tf.reshape(centers, [-1]), tf.int16)], 0)


def _unpack_autoaugment(w) -> dict:
    """autoaugment.apply's params from the int32 words of _pack_autoaugment."""
    bits = tf.constant([1, 2], tf.int32)
    return {"sub_policy": w[0],
            "applied": tf.bitwise.bitwise_and(w[1], bits) > 0,
            "signs": tf.where(tf.bitwise.bitwise_and(w[2], bits) > 0, -1.0, 1.0),
            "centers": tf.reshape(tf.cast(w[3:7], tf.float32) / CENTER_SCALE, [2, 2])}


def sample_words(encoded: tf.Tensor, seed: tf.Tensor, spec: AugmentationSpec,
                 prep: Preprocessing, pool: PartnerPool | None = None) -> tf.Tensor:
    """int16 [W]: the packed parameters of one sample; with mixing, the head and the
    partner's own words follow (drawn from sub-seeds the own words never use)."""
    own = _own_words(encoded, seed, spec, prep)
    if not spec.mixing:
        return own
    head = mixing_lib.sample_head(_sub(seed, MIX_SEED), spec.mixing, pool.size,
                                  prep.train_size)
    index = mixing_lib.unpack_head(head, spec.mixing)["partner_index"]
    partner = _own_words(pool.lookup(tf.maximum(index, 0)), _sub(seed, PARTNER_SEED), spec,
                         prep)
    return tf.concat([own, head, tf.where(index >= 0, partner, tf.zeros_like(partner))], 0)


def no_mixing_tail(spec: AugmentationSpec) -> tf.Tensor:
    """The words after the own ones of a sample without a partner ([] without mixing)."""
    if not spec.mixing:
        return tf.zeros([0], tf.int16)
    return tf.concat([mixing_lib.empty_head(spec.mixing), tf.zeros([spec.own_words], tf.int16)],
                     0)


def _unpack_own(words, seed, spec: AugmentationSpec) -> dict:
    w = tf.cast(words, tf.int32)
    params = {"geo": {"crop": w[0:4], "flip": w[4]}}
    at = 5
    if spec.autoaugment:
        params["aa"] = _unpack_autoaugment(w[at:at + AA_WORDS])
        at += AA_WORDS
    if spec.randaugment:
        n = spec.num_ops
        pairs = tf.reshape(tf.cast(words[at:at + 2 * n], tf.int16), [n, 2])
        signed = tf.cast(tf.bitcast(pairs[:, 1], tf.float16), tf.float32)
        params["ra"] = {"op_indices": tf.cast(pairs[:, 0], tf.int32),
                        "magnitudes": tf.abs(signed),
                        "signs": tf.where(signed < 0, -1.0, 1.0)}
        at += 2 * n
    if spec.random_erasing:
        params["re"] = {"apply": w[at], "box": w[at + 1:at + 5],
                        "noise_seed": tf.cast(_sub(seed, 4), tf.int32)}
    return params


def unpack_words(words: tf.Tensor, seed: tf.Tensor, spec: AugmentationSpec) -> dict:
    """The parameters of `sample_words`' record (the erasing noise seeds from `seed`)."""
    own = spec.own_words
    params = _unpack_own(words[:own], seed, spec)
    if spec.mixing:
        tail = own + mixing_lib.head_words(spec.mixing)
        params["mix"] = mixing_lib.unpack_head(words[own:tail], spec.mixing)
        params["partner"] = _unpack_own(words[tail:], _sub(seed, PARTNER_SEED), spec)
    return params


def _render_own(encoded, params: dict, spec: AugmentationSpec, prep):
    image = prep.train_uint8_from_params(encoded, params["geo"])
    if "aa" in params:
        image = autoaugment_lib.apply(image, spec.autoaugment, params["aa"],
                                  spec.autoaugment_magnitudes)
    if "ra" in params:
        image = randaugment.apply(image, params["ra"], fill=spec.randaugment_fill,
                                  geometry=spec.randaugment_geometry)
    if "re" in params:
        image = random_erasing.apply(image, params["re"])
    return image


def render(encoded: tf.Tensor, params: dict, spec: AugmentationSpec, prep: Preprocessing,
           pool: PartnerPool | None = None) -> tf.Tensor:
    """uint8 [S, S, 3]: the view of unpacked parameters (mixed with the partner's view
    when the sample has one; the partner is decoded only then)."""
    image = _render_own(encoded, params, spec, prep)
    if "mix" not in params:
        return image
    m = params["mix"]
    index = m["partner_index"]
    return tf.cond(index >= 0,
                   lambda: mixing_lib.mix(image, _render_own(pool.lookup(tf.maximum(index, 0)),
                                                             params["partner"], spec, prep),
                                                 m),
                   lambda: image)


def sample_views(encoded: tf.Tensor, key: tf.Tensor, spec: AugmentationSpec, prep: Preprocessing,
                 num_samples: int,
                 pool: PartnerPool | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """(words int16 [NS, W], views uint8 [NS, S, S, 3]) of one image."""
    record = {"encoded": encoded, "filename": key}
    words, views = zip(*[sample_view(record, j, spec, prep, pool) for j in range(num_samples)])
    return tf.stack(words), tf.stack(views)


def densify(ids: tf.Tensor, probs: tf.Tensor, num_classes: int) -> tf.Tensor:
    """Dense [C] distribution from top-K (ids, probs): "smooth" (see module doc)."""
    probs = tf.cast(probs, tf.float32)
    total = tf.reduce_sum(probs)
    probs = tf.where(total > 1.0, probs / total, probs)
    rest = tf.maximum(1.0 - tf.reduce_sum(probs), 0.0)
    k = tf.shape(probs)[0]
    others = tf.cast(tf.maximum(num_classes - k, 1), tf.float32)
    dense = tf.fill([num_classes], rest / others)
    return tf.tensor_scatter_nd_update(dense, tf.cast(ids, tf.int32)[:, None], probs)


# ------------------------------------------------------------------ generation
def sample_view(record: dict[str, tf.Tensor], j: tf.Tensor, spec: AugmentationSpec,
                prep: Preprocessing, pool: PartnerPool | None = None
                ) -> tuple[tf.Tensor, tf.Tensor]:
    """(words int16 [W], view uint8 [S, S, 3]) of sample ``j`` of one image: row j of
    :func:`sample_views`, with ``j`` a tensor (one graph for every sample)."""
    seed = sample_seed(spec, record["filename"], j)
    w = sample_words(record["encoded"], seed, spec, prep, pool)
    return w, render(record["encoded"], unpack_words(w, seed, spec), spec, prep, pool)


def examples_over_shards(image_files: list[str], spec: AugmentationSpec, prep: Preprocessing,
                         num_samples: int, top_k: int, batch_size: int,
                         probs_fn: Callable[[tf.Tensor], tf.Tensor],
                         pool: PartnerPool | None = None) -> Iterator[tuple[int, bytes]]:
    """(index into ``image_files``, serialized side-car record) of every image, shard after
    shard: one tf.data pipeline over all the shards (an iterator costs seconds to start),
    whose views are drawn one sample per element (a graph of one sample, not NS: tracing
    and starting it do not grow with NS).  Batches stay within a shard, so a shard's
    records do not depend on which other shards are generated with it (a resumed run
    writes the bytes an uninterrupted one would)."""
    def samples(record):  # the record NS times, with j = 0 .. NS - 1
        return tf.data.Dataset.zip(tf.data.Dataset.from_tensors(record).repeat(num_samples),
                                   tf.data.Dataset.range(num_samples))

    def one_sample(record, j):  # with mixing the views are mixed: the top-K is exact for them
        words, view = sample_view(record, j, spec, prep, pool)
        return record["filename"], words, view

    def shard(index, image_file):
        ds = tf.data.TFRecordDataset(image_file).map(parse_record).flat_map(samples)
        ds = ds.map(one_sample, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.batch(num_samples).map(lambda keys, words, views: (keys[0], words, views))
        return ds.batch(batch_size).map(
            lambda keys, words, views: (tf.fill(tf.shape(keys), index), keys, words, views))

    ds = tf.data.Dataset.from_tensor_slices(image_files).enumerate().flat_map(shard)
    for index, keys, words, views in ds.prefetch(2):
        b = int(keys.shape[0])
        flat = tf.reshape(views, [b * num_samples] + views.shape[2:].as_list())
        probs = probs_fn(flat)
        top_p, top_i = tf.math.top_k(probs, k=top_k)
        top_p = tf.reshape(tf.cast(top_p, tf.float16), [b, num_samples, top_k]).numpy()
        top_i = tf.reshape(tf.cast(top_i, tf.int16), [b, num_samples, top_k]).numpy()
        words = words.numpy()
        for i, (k, key) in enumerate(zip(index.numpy(), keys.numpy())):
            yield int(k), tf.train.Example(features=tf.train.Features(feature={
                sidecar.KEY: _bytes(key),
                "dr/params": _bytes(words[i].astype("<i2").tobytes()),
                "dr/topk_ids": _bytes(top_i[i].astype("<i2").tobytes()),
                "dr/topk_probs": _bytes(top_p[i].astype("<f2").tobytes()),
            })).SerializeToString(deterministic=True)


def _bytes(value: bytes):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def reinforce(teacher_spec: str, data_dir: str, output_dir: str, spec: AugmentationSpec, *,
              num_samples: int = 20, top_k: int = 10, pattern: str = "train-*",
              batch_size: int = 16, num_shards: int = 1, shard_index: int = 0,
              partner_max_gib: float = 4.0, log: Callable[[str], Any] = print) -> dict:
    """Generates this process's reinforcement side-car shards; returns the header."""
    from datasets.source import resolve_source
    from datasets.tfrecords import list_shards
    from kd import shards
    from kd.teachers import Ensemble

    if num_samples < 1 or top_k < 1:
        raise DataError(f"--num_samples and --top_k must be >= 1, got {num_samples}, {top_k}")
    try:
        prep = preprocessing_lib.get_preprocessing(spec.preprocessing_type)
    except ValueError as e:
        raise DataError(f"--preprocessing_type: {e}") from None
    try:
        prep = spec.preprocessing()
    except ValueError as e:
        raise DataError(f"--crop_sampler: {e}") from None
    files = list_shards(data_dir, pattern)
    source = resolve_source(data_dir, None, train_regex=pattern)
    teacher = Ensemble(teacher_spec, num_classes=source.num_classes)
    if top_k > teacher.num_classes:
        raise DataError(f"--top_k ({top_k}) exceeds the {teacher.num_classes} classes")
    pool, partners = None, {}
    if spec.mixing:  # partners are drawn from every training shard, not just ours
        pool = mixing_lib.PartnerPool.from_files(files, partner_max_gib)
        partners = {"partners": pool.header()}
    shards.start_header(output_dir, {
        "kind": KIND, "num_classes": teacher.num_classes, "teacher": teacher.identity,
        "source_dir": os.path.abspath(data_dir), "pattern": pattern,
        "augmentation": spec.as_header(), "num_samples": num_samples, "top_k": top_k,
        "words_per_sample": spec.words,
        "bytes_per_sample_payload": 2 * spec.words + 4 * top_k, **partners}, IDENTITY)
    probs_fn = tf.function(lambda views: tf.nn.softmax(
        teacher.logits_from_views(normalize(views))))
    header = shards.run_over_shards(
        files, output_dir, num_shards, shard_index,
        lambda pending: examples_over_shards(pending, spec, prep, num_samples, top_k,
                                             batch_size, probs_fn, pool), log)
    records = sum(e["records"] for e in header["shards"].values())
    size = sum(e["sidecar_bytes"] for e in header["shards"].values())
    header["bytes_per_sample"] = size / max(records * num_samples, 1)
    sidecar.write_header(output_dir, header)
    return header


# ------------------------------------------------------------------ replay
def parse_sidecar(num_samples: int, top_k: int,
                  words: int) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
    features = {sidecar.KEY: tf.io.FixedLenFeature([], tf.string),
                "dr/params": tf.io.FixedLenFeature([], tf.string),
                "dr/topk_ids": tf.io.FixedLenFeature([], tf.string),
                "dr/topk_probs": tf.io.FixedLenFeature([], tf.string)}

    def parse(serialized):  # a vector of records
        p = tf.io.parse_example(serialized, features)

        def raw(key, dtype, shape):
            return tf.reshape(tf.io.decode_raw(p[key], dtype, little_endian=True),
                              [-1] + shape)
        return {"key": p[sidecar.KEY],
                "dr_params": raw("dr/params", tf.int16, [num_samples, words]),
                "dr_ids": raw("dr/topk_ids", tf.int16, [num_samples, top_k]),
                "dr_probs": raw("dr/topk_probs", tf.float16, [num_samples, top_k])}
    return parse


def check_fill(header: dict, fill: int, path: str) -> None:
    """DataError unless a run's --randaugment_fill is the side-car's (whose stored
    RandAugment parameters replay with the fill they were rendered with)."""
    spec = AugmentationSpec.from_header(header["augmentation"])
    if spec.randaugment and int(fill) != spec.randaugment_fill:
        raise DataError(f"{sidecar.header_path(path)}: RandAugment was generated with "
                        f"--randaugment_fill={spec.randaugment_fill}, this run has {fill} "
                        f"(pass --randaugment_fill={spec.randaugment_fill})")


def check_crop_sampler(header: dict, crop_sampler: str, path: str) -> None:
    """DataError unless a training run's --crop_sampler is the one the side-car's views
    were drawn with (replay's fresh views use the recorded one; a run must not record
    another)."""
    stored = AugmentationSpec.from_header(header["augmentation"]).crop_sampler
    if stored != crop_sampler:
        raise DataError(f"{sidecar.header_path(path)}: augmentation was generated with "
                        f"crop sampler {stored!r}, this run uses {crop_sampler!r} (pass "
                        f"--crop_sampler={stored})")


def check_autoaugment_magnitudes(header: dict, magnitudes: str, path: str) -> None:
    """DataError unless a run's --autoaugment_magnitudes is the one the side-car's stored
    AutoAugment views were rendered with (replay renders with the recorded one; the run's
    config must not record another)."""
    spec = AugmentationSpec.from_header(header["augmentation"])
    if spec.autoaugment and magnitudes != spec.autoaugment_magnitudes:
        raise DataError(f"{sidecar.header_path(path)}: AutoAugment was generated with "
                        f"--autoaugment_magnitudes={spec.autoaugment_magnitudes}, this run "
                        f"has {magnitudes} (pass --autoaugment_magnitudes="
                        f"{spec.autoaugment_magnitudes})")


def make_replay_fn(
        header: dict, num_classes: int, p: float = 0.99, pool: PartnerPool | None = None,
) -> tuple[Callable[[dict[str, tf.Tensor], tf.Tensor], dict[str, tf.Tensor]], Preprocessing]:
    """(record with dr_* fields, element seed) -> {"image" (normalised float),
    "teacher_probs" [C]}. pool: the PartnerPool of a side-car with mixing samples."""
    spec = AugmentationSpec.from_header(header["augmentation"])
    if spec.mixing and pool is None:
        raise ValueError("this side-car holds mixing samples: pass their PartnerPool")
    prep = spec.preprocessing()
    ns = int(header["num_samples"])

    def replay(record, seed):
        seed = tf.cast(seed, tf.int64)
        use_stored = tf.random.stateless_uniform([], _sub(seed, 7)) < p
        j = tf.random.stateless_uniform([], _sub(seed, 8), 0, ns, tf.int32)

        # One render path for both cases (no tf.cond): the stored record j, or a fresh one
        # drawn from the element's seed with the same augmentation config, never mixed
        # (DR's clean 1 - p samples).
        stored_seed = sample_seed(spec, record["filename"], j)
        fresh_seed = _sub(seed, 9)
        fresh_words = tf.concat([_own_words(record["encoded"], fresh_seed, spec, prep),
                                 no_mixing_tail(spec)], 0)
        words = tf.where(use_stored, tf.cast(record["dr_params"][j], tf.int16), fresh_words)
        render_seed = tf.where(use_stored, tf.cast(stored_seed, tf.int64),
                               tf.cast(fresh_seed, tf.int64))
        image = render(record["encoded"], unpack_words(words, render_seed, spec), spec, prep,
                       pool)
        target = tf.where(use_stored,
                          densify(record["dr_ids"][j], record["dr_probs"][j], num_classes),
                          tf.one_hot(record["label"], num_classes, dtype=tf.float32))
        return {"image": normalize(image), "teacher_probs": target}

    return replay, prep


# ------------------------------------------------------------------ CLI
def main(argv: list[str] | None = None) -> int:
    from absl import flags

    from core.errors import UserError
    from core.settings import SETTINGS
    from core.settings import check as check_setting
    from kd import shards

    shards.define_cli_flags(flags, 16, "Images per teacher batch (x NS views).")
    flags.DEFINE_integer("num_samples", 20, "NS: stored augmentations per image.")
    flags.DEFINE_integer("top_k", 10, "K: teacher probabilities kept per sample.")
    flags.DEFINE_string("preprocessing_type", "imagenet", "Crop/flip path and view size.")
    flags.DEFINE_string("randaugment", "2,9", "RandAugment 'N,M[,std]' (empty = off).")
    flags.DEFINE_integer("randaugment_fill", DEFAULT_FILL, "RandAugment's fill "
                         "of uncovered pixels, 0..255 (0 = torchvision's / ml-dr's).")
    flags.DEFINE_float("random_erasing", 0.25, "RandomErasing probability (0 = off).")
    for name in ("autoaugment_type", "autoaugment_magnitudes"):
        s = SETTINGS[name]
        flags.DEFINE_string(name, s.default, s.help)
    flags.DEFINE_integer("seed", 0, "Seed of the stored augmentations.")
    sampler = SETTINGS["crop_sampler"]
    flags.DEFINE_enum("crop_sampler", sampler.default, list(sampler.choices), sampler.help)
    flags.DEFINE_string("mixing", "", "DR mixing samples: 'mixup', 'cutmix' or "
                        "'mixup,cutmix' (empty = off); partners are held in memory.")
    flags.DEFINE_float("partner_max_gib", 4.0, "With --mixing: refuse training shards "
                       "larger than this (GiB), as they are held in memory.")
    f = shards.parse_cli(flags, argv or sys.argv, __doc__)
    if f is None:
        return 2
    try:
        ra = randaugment.parse_randaugment_flag(f.randaugment) if f.randaugment else None
    except ValueError as e:
        print(f"error: --randaugment: {e}", file=sys.stderr)
        return 2
    try:
        randaugment.check_fill(f.randaugment_fill)
    except ValueError as e:
        print(f"error: --randaugment_fill: {e}", file=sys.stderr)
        return 2
    for name in ("autoaugment_type", "autoaugment_magnitudes"):
        why = check_setting(name, getattr(f, name))
        if why:
            print(f"error: --{name}: {why}", file=sys.stderr)
            return 2
    try:
        mixing = mixing_lib.parse_flag(f.mixing)
    except ValueError as e:
        print(f"error: --mixing: {e}", file=sys.stderr)
        return 2
    spec = AugmentationSpec(f.preprocessing_type, ra, f.random_erasing, f.seed, mixing,
                            randaugment_fill=f.randaugment_fill,
                            crop_sampler=f.crop_sampler, autoaugment=f.autoaugment_type,
                            autoaugment_magnitudes=f.autoaugment_magnitudes)
    num_shards, shard_index = shards.cli_sharding(f.num_shards, f.shard_index)
    try:
        header = reinforce(f.teacher, f.data_dir, f.output_dir, spec,
                           num_samples=f.num_samples, top_k=f.top_k, pattern=f.pattern,
                           batch_size=f.batch_size, num_shards=num_shards,
                           shard_index=shard_index, partner_max_gib=f.partner_max_gib)
    except (UserError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(header['shards'])} side-car shard(s) in {f.output_dir}: NS={f.num_samples}, "
          f"K={f.top_k}, {header['bytes_per_sample']:.1f} bytes/sample on disk "
          f"({header['bytes_per_sample_payload']} payload)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
