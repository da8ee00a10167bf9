"""Teachers for distillation: one network or an ensemble averaged in probability space.

A teacher spec is ``KIND:PATH[@PREPROCESSING]``; several, comma-separated, form an ensemble.
- ``run:DIR`` -- a run directory of ours, opened with ``core.rundir.open_source``: the
  network is rebuilt from its config.yaml and restored from best/ when there is one, else
  the latest checkpoint; its own preprocessing.
  ``run:DIR/ckpt-N`` (or ``run:DIR/best/ckpt-N``) picks that checkpoint.
- ``keras:FILE.keras`` -- a saved Keras model.
- ``savedmodel:DIR`` -- a SavedModel; its ``preprocessed`` signature (our exports) or else
  ``serving_default`` with one float image input, the first output taken as logits.
``@PREPROCESSING`` (a preprocessing_type, default ``imagenet``; ignored for ``run:``) gives
the teacher's input size and eval transform. Every teacher receives images the way this
framework feeds its networks: RGB 0-255 minus the ImageNet mean, at its own input size.

Combination (ml-dr's ClassificationEnsembleNet): mean of the members' softmax
probabilities; the "logits" of an ensemble are log(mean probability), so softmax at T=1 gives
the averaged distribution back. A single teacher's logits are its raw logits, so distilling at
T != 1 matches the original assembled-cnn exactly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import tensorflow as tf

import preprocessing as preprocessing_lib
from core.errors import RunDirError, UserError
from core.rundir import open_source

KINDS = ("run", "keras", "savedmodel")


class TeacherError(UserError):
    """A teacher that cannot be loaded or does not fit the data."""


@dataclass
class Teacher:
    spec: str
    prep: object  # preprocessing.Preprocessing
    num_classes: int
    fn: object  # float images [B, S, S, 3] -> logits [B, C]

    @property
    def input_size(self) -> int:
        return self.prep.eval_size

    def logits(self, images: tf.Tensor) -> tf.Tensor:
        return tf.cast(self.fn(images), tf.float32)


def _split_spec(spec: str) -> tuple[str, str, str | None]:
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in KINDS or not rest:
        raise TeacherError(f"--teacher {spec!r}: expected KIND:PATH[@PREPROCESSING] with "
                           f"KIND one of {', '.join(KINDS)}")
    path, _, prep = rest.partition("@")
    return kind, os.path.expanduser(path), prep or None


def _get_prep(name: str, spec: str):
    try:
        return preprocessing_lib.get_preprocessing(name)
    except ValueError as e:
        raise TeacherError(f"--teacher {spec!r}: {e}") from None


def _load_run(path: str, spec: str) -> Teacher:
    try:
        run, prefix = open_source(path, f"--teacher {spec!r}")
        model = run.build_model("float32")  # teachers always run in float32
        run.restore(model, prefix)
    except RunDirError as e:
        raise TeacherError(str(e)) from None
    model.trainable = False
    prep = _get_prep(run.preprocessing_type, spec)
    return Teacher(spec, prep, run.num_classes, lambda x: model(x, training=False))


def _load_keras(path: str, prep_name: str | None, spec: str) -> Teacher:
    if not os.path.isfile(path):
        raise TeacherError(f"--teacher {spec!r}: {path} does not exist")
    try:
        model = keras.saving.load_model(path, compile=False)
    except (ValueError, OSError, TypeError) as e:
        raise TeacherError(f"--teacher {spec!r}: cannot load {path}: "
                           f"{str(e).splitlines()[0]}") from None
    model.trainable = False
    num_classes = int(model.outputs[0].shape[-1])
    return Teacher(spec, _get_prep(prep_name or "imagenet", spec), num_classes,
                   lambda x: model(x, training=False))


def _load_savedmodel(path: str, prep_name: str | None, spec: str) -> Teacher:
    if not tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        raise TeacherError(f"--teacher {spec!r}: no saved_model.pb in {path}")
    loaded = tf.saved_model.load(path)
    name = "preprocessed" if "preprocessed" in loaded.signatures else "serving_default"
    signature = loaded.signatures[name]
    inputs = signature.structured_input_signature[1]
    if len(inputs) != 1 or not next(iter(inputs.values())).dtype.is_floating:
        raise TeacherError(f"--teacher {spec!r}: signature {name!r} must take one float "
                           f"image tensor, it takes {inputs}")
    input_name = next(iter(inputs))
    output_name = sorted(signature.structured_outputs)[0]
    num_classes = int(signature.structured_outputs[output_name].shape[-1])

    def fn(x):
        return signature(**{input_name: tf.cast(x, tf.float32)})[output_name]

    teacher = Teacher(spec, _get_prep(prep_name or "imagenet", spec), num_classes, fn)
    teacher.keepalive = loaded  # the signature needs its object alive
    return teacher


def load_teacher(spec: str) -> Teacher:
    kind, path, prep = _split_spec(spec)
    if kind == "run":
        return _load_run(path, spec)
    if kind == "keras":
        return _load_keras(path, prep, spec)
    return _load_savedmodel(path, prep, spec)


def check_specs(specs: str | Sequence[str]) -> None:
    """The cheap part of loading (spec syntax, files and run directories present), for a
    check before anything in model_dir changes (--clean); TeacherError naming the spec."""
    for spec in _specs(specs):
        kind, path, prep = _split_spec(spec)
        if prep:
            _get_prep(prep, spec)
        if kind == "run":
            try:
                open_source(path, f"--teacher {spec!r}")
            except RunDirError as e:
                raise TeacherError(str(e)) from None
        elif kind == "keras" and not os.path.isfile(path):
            raise TeacherError(f"--teacher {spec!r}: {path} does not exist")
        elif kind == "savedmodel" and not tf.io.gfile.exists(os.path.join(path,
                                                                           "saved_model.pb")):
            raise TeacherError(f"--teacher {spec!r}: no saved_model.pb in {path}")


def _specs(specs) -> list[str]:
    specs = [s.strip() for s in (specs.split(",") if isinstance(specs, str) else specs)
             if s.strip()]
    if not specs:
        raise TeacherError("--teacher is empty")
    return specs


class Ensemble:
    """One or more teachers; `logits` of the ensemble as described in the module doc."""

    def __init__(self, specs: str | Sequence[str], num_classes: int | None = None) -> None:
        specs = _specs(specs)
        self.members = [load_teacher(s) for s in specs]
        counts = {t.num_classes for t in self.members}
        if len(counts) > 1:
            raise TeacherError("--teacher: members disagree on the class count: " + ", ".join(
                f"{t.spec} has {t.num_classes}" for t in self.members))
        self.num_classes = counts.pop()
        if num_classes is not None and self.num_classes != num_classes:
            raise TeacherError(f"--teacher {specs[0]!r} predicts {self.num_classes} classes "
                               f"but the dataset has {num_classes}")
        self.identity = [{"spec": t.spec, "preprocessing": t.prep.name,
                          "num_classes": t.num_classes} for t in self.members]

    def combine(self, member_logits: list[tf.Tensor]) -> tf.Tensor:
        """Member logits [B, C] each -> ensemble logits [B, C] (float32)."""
        if len(member_logits) == 1:
            return tf.cast(member_logits[0], tf.float32)
        probs = tf.add_n([tf.nn.softmax(tf.cast(logits, tf.float32)) for logits in member_logits])
        return tf.math.log(tf.maximum(probs / len(member_logits), 1e-30))

    def eval_inputs(self, encoded: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """Each member's eval-preprocessed input of one encoded image (a tuple)."""
        return tuple(t.prep.eval(encoded) for t in self.members)

    def logits_from_inputs(self, inputs: Sequence[tf.Tensor]) -> tf.Tensor:
        return self.combine([t.logits(x) for t, x in zip(self.members, inputs)])

    def logits_from_views(self, images: tf.Tensor) -> tf.Tensor:
        """Teacher logits of training views (normalised float [B, H, W, 3], any size):
        resized to each member's input size when it differs."""
        out = []
        for t in self.members:
            x = images
            if images.shape[1] != t.input_size or images.shape[2] != t.input_size:
                x = tf.image.resize(images, [t.input_size, t.input_size], method="bilinear")
            out.append(t.logits(x))
        return self.combine(out)
