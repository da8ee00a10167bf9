"""Where a run's teacher targets come from, and the distillation term of the loss.

- offline, side-car (`--kd_logits_path=DIR`): logits written by `kd.extract_logits`, zipped
  with the image shards (datasets/sidecar.py), checked for coverage before any work;
- offline, in-record (`--kd_temp` alone): the original's ``image/logit`` key of the image
  TFRecords; a record without it, or with the wrong length, stops the run naming the file;
- online (`--teacher=SPEC`): the teacher runs in the train step on the (mixed) view;
- reinforced (`--reinforce_data_path=DIR`, kd/reinforce.py): stored augmentations replayed in
  the input pipeline with the densified stored teacher probabilities as "teacher_probs";
  with mixing samples the partners' images are held in memory (kd/reinforce_mixing.py).

Loss (spec assemble-resnet.md §2): kd_label_weight * CE(labels, student)
+ kd_weight * T^2 * CE(softmax(teacher / T), log_softmax(student / T)). Offline teacher
distributions are formed before batch mixing and mixed with the same λ as the labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

from core.losses import soft_cross_entropy
from datasets import sidecar
from datasets.errors import DataError
from datasets.source import DataSource

LOGITS_ERROR_MARK = "teacher logits"


@dataclass
class TargetSource:
    mode: str  # "off" | "sidecar" | "record" | "online" | "reinforce"
    sidecar: tuple | None = None  # (directory, parse_fn) for DataSource.train_records
    replay_fn: object = None  # reinforce: (record, seed) -> {"image", "teacher_probs", ...}

    @property
    def record_options(self) -> dict:
        if self.mode in ("sidecar", "reinforce"):
            return {"sidecar": self.sidecar}
        if self.mode == "record":
            return {"record_logits": True}
        return {}


def parse_logits_sidecar(num_classes: int) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
    features = {sidecar.KEY: tf.io.FixedLenFeature([], tf.string),
                "image/logit": tf.io.FixedLenFeature([num_classes], tf.float32)}

    def parse(serialized):  # a vector of records
        parsed = tf.io.parse_example(serialized, features)
        return {"key": parsed[sidecar.KEY], "teacher_logits": parsed["image/logit"]}
    return parse


def from_config(cfg: dict, source: DataSource, num_classes: int, prep_name: str) -> TargetSource:
    if not cfg["kd_temp"]:
        return TargetSource("off")
    if cfg["teacher"]:
        return TargetSource("online")
    if source.kind != "tfrecord":
        raise DataError(f"--kd_temp: offline teacher targets need TFRecord shards, but the "
                        f"data is {source.description}; build TFRecords (python -m "
                        "datasets.build_tfrecords) or distil online with --teacher")
    if cfg["reinforce_data_path"]:
        from kd import reinforce
        path = cfg["reinforce_data_path"]
        header = sidecar.check_coverage(path, source.train_files, reinforce.KIND,
                                        expect={"num_classes": num_classes})
        stored = header["augmentation"]["preprocessing_type"]
        if stored != prep_name:
            raise DataError(f"{sidecar.header_path(path)}: augmentation was generated with "
                            f"preprocessing {stored!r}, this run uses {prep_name!r} (pass "
                            f"--preprocessing_type={stored})")
        reinforce.check_fill(header, cfg["randaugment_fill"], path)
        reinforce.check_crop_sampler(header, cfg["crop_sampler"], path)
        reinforce.check_autoaugment_magnitudes(header, cfg["autoaugment_magnitudes"], path)
        parse = reinforce.parse_sidecar(header["num_samples"], header["top_k"],
                                        header["words_per_sample"])
        pool = _partner_pool(cfg, header, path, source.train_files)
        replay_fn, _ = reinforce.make_replay_fn(header, num_classes, float(cfg["reinforce_p"]),
                                                pool)
        return TargetSource("reinforce", (path, parse), replay_fn)
    if cfg["kd_logits_path"]:
        sidecar.check_coverage(cfg["kd_logits_path"], source.train_files, "logits",
                               expect={"num_classes": num_classes})
        return TargetSource("sidecar", (cfg["kd_logits_path"], parse_logits_sidecar(num_classes)))
    return TargetSource("record")


def _partner_pool(cfg: dict, header: dict, path: str, train_files: list[str]):
    """The in-memory partner images of a side-car with mixing samples (else None), checked
    to be the very image list the partner indices were drawn from."""
    mixing = header["augmentation"].get("mixing")
    if not mixing:
        return None
    from kd.reinforce_mixing import PartnerPool
    if str(cfg["mixup_type"]) != "0":
        raise DataError(f"{sidecar.header_path(path)} holds {'/'.join(mixing)} samples "
                        f"already: unset --mixup_type={cfg['mixup_type']}")
    pool = PartnerPool.from_files(train_files, float(cfg["reinforce_partner_max_gib"]))
    if pool.header() != header.get("partners"):
        raise DataError(f"{sidecar.header_path(path)}: the mixing partners were drawn from "
                        f"{header.get('partners')}, this run's training images are "
                        f"{pool.header()}: regenerate the side-car")
    return pool


def check_logits_length(num_classes: int,
                        description: str) -> Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]:
    """tf.data map: asserts the in-record logits have one value per class."""
    def check(example):
        if "teacher_logits" not in example:
            return example
        logits = example["teacher_logits"]
        ok = tf.equal(tf.size(logits), num_classes)
        assert_op = tf.debugging.Assert(ok, [
            f"{LOGITS_ERROR_MARK} 'image/logit' must hold {num_classes} values in "
            f"{description}: got", tf.size(logits), "for file",
            example.get("filename", tf.constant(""))])
        with tf.control_dependencies([assert_op]):
            logits = tf.reshape(tf.identity(logits), [num_classes])
        return dict(example, teacher_logits=logits)
    return check


def distillation_term(teacher_probs: tf.Tensor, student_logits: tf.Tensor,
                      temperature: float) -> tf.Tensor:
    """Per-example T^2 * CE(teacher_T, student_T); teacher_probs already at temperature T."""
    scaled = tf.cast(student_logits, tf.float32) / temperature
    return temperature ** 2 * soft_cross_entropy(teacher_probs, scaled)
