"""Where a run's teacher targets come from, and the distillation term of the loss.

- offline, side-car (`--kd_logits_path=DIR`): logits written by `kd.extract_logits`, zipped
  with the image shards (datasets/sidecar.py), checked for coverage before any work;
- offline, in-record (`--kd_temp` alone): the original's ``image/logit`` key of the image
  TFRecords; a record without it, or with the wrong length, stops the run naming the file;
- online (`--teacher=SPEC`): the teacher runs in the train step on the (mixed) view.

Loss (spec assemble-resnet.md §2): kd_label_weight * CE(labels, student)
+ kd_weight * T^2 * CE(softmax(teacher / T), log_softmax(student / T)). Offline teacher
distributions are formed before batch mixing and mixed with the same λ as the labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from datasets import sidecar
from datasets.errors import DataError
from engine.losses import soft_cross_entropy

LOGITS_ERROR_MARK = "teacher logits"


@dataclass
class TargetSource:
    mode: str  # "off" | "sidecar" | "record" | "online"
    temperature: float = 0.0
    sidecar: tuple | None = None  # (directory, parse_fn) for DataSource.train_records

    @property
    def record_options(self) -> dict:
        if self.mode == "sidecar":
            return {"sidecar": self.sidecar}
        if self.mode == "record":
            return {"record_logits": True}
        return {}


def parse_logits_sidecar(num_classes: int):
    features = {sidecar.KEY: tf.io.FixedLenFeature([], tf.string),
                "image/logit": tf.io.FixedLenFeature([num_classes], tf.float32)}

    def parse(serialized):
        parsed = tf.io.parse_single_example(serialized, features)
        return {"key": parsed[sidecar.KEY], "teacher_logits": parsed["image/logit"]}
    return parse


def from_config(cfg: dict, source, num_classes: int) -> TargetSource:
    temperature = float(cfg["kd_temp"])
    if not temperature:
        return TargetSource("off")
    if cfg["teacher"]:
        return TargetSource("online", temperature)
    if source.kind != "tfrecord":
        raise DataError(f"--kd_temp: offline teacher logits need TFRecord shards, but the data "
                        f"is {source.description}; build TFRecords (python -m "
                        "datasets.build_tfrecords) or distil online with --teacher")
    if cfg["kd_logits_path"]:
        sidecar.check_coverage(cfg["kd_logits_path"], source.train_files, "logits",
                               expect={"num_classes": num_classes})
        return TargetSource("sidecar", temperature,
                            (cfg["kd_logits_path"], parse_logits_sidecar(num_classes)))
    return TargetSource("record", temperature)


def check_logits_length(num_classes: int, description: str):
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


def distillation_term(teacher_probs, student_logits, temperature: float):
    """Per-example T^2 * CE(teacher_T, student_T); teacher_probs already at temperature T."""
    scaled = tf.cast(student_logits, tf.float32) / temperature
    return temperature ** 2 * soft_cross_entropy(teacher_probs, scaled)
