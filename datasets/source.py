"""Resolve ``--dataset_name`` / ``--data_dir`` to a `DataSource` of undecoded records.

Rules of `resolve_source` (first match wins):
1. ``digits``: the embedded scikit-learn digits (no files needed).
2. ``dataset_name`` is a registry key (`datasets.registry.DATASETS`; a key wins over a
   same-named relative directory):
   - with ``data_dir``: the directory must exist; TFRecord shards matching ``train_regex``
     -> tfrecord; else a ``train/`` class-folder tree -> folder; else, if the entry has a
     TFDS name and ``<data_dir>/<tfds name>/`` exists (a prepared TFDS copy), TFDS with
     ``data_dir`` as the TFDS data_dir; else DataError ("no TFRecord shard matches
     <data_dir>/train-* and no class-folder tree ..."), so an empty or wrong folder never
     starts a TFDS download into it.
   - without ``data_dir``: TFDS (default TFDS data_dir) when the entry has a TFDS name,
     else DataError asking for --data_dir.
3. ``dataset_name`` is an existing directory (or looks like a path: contains a path
   separator, starts with '.' or '~', or has a scheme): the same directory rules without a
   TFDS fallback. A path that does not exist -> DataError naming it.
4. Anything else -> DataError listing the known dataset names.

Class count: the ``num_classes`` argument, else dataset_info.json, labels.txt, the number of
class folders, or the registry entry, in that order; TFRecords with none of these ->
DataError asking for --num_classes.
Sizes: dataset_info.json (for the default ``train-*``/``validation-*`` patterns), the
registry entry, the folder scan, or `count_records` as the last resort -- which reads every
shard once (seconds for small sets, minutes for ImageNet-size ones) at resolve time; a
damaged shard met there is a DataError naming it (with ``skip_corrupt_records``: its
readable records are counted), see datasets/integrity.py.
The eval split of a folder tree is the first of validation/, val/, test/. A source without
an eval split has ``has_eval=False`` and its `eval_records` raises DataError.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import tensorflow as tf

from datasets import digits as digits_lib
from datasets.errors import DataError
from datasets.folders import EVAL_SPLIT_DIRS, find_split_dirs, read_image_folder, scan_split
from datasets.registry import DATASETS, DatasetInfo, get_dataset_info
from datasets.tfds_source import read_tfds
from datasets.tfrecords import (
    count_records,
    parse_record,
    parse_record_with_logits,
    read_dataset_info,
    read_label_file,
    read_tfrecords,
)

DEFAULT_PREPROCESSING = "imagenet"


@dataclass
class DataSource:
    kind: str  # "digits" | "tfrecord" | "folder" | "tfds"
    num_classes: int
    class_names: list[str] | None
    train_size: int | None
    eval_size: int | None
    default_preprocessing: str
    description: str
    data_dir: str | None = None
    label_range: tuple[int, int] | None = None  # (min, max) stored label, when known
    has_eval: bool = True
    _train_fn: Callable = field(default=None, repr=False, compare=False)
    _eval_fn: Callable = field(default=None, repr=False, compare=False)

    train_files: list[str] | None = None  # TFRecord sources: the training shards
    eval_files: list[str] | None = None  # TFRecord sources: the eval shards
    # TFRecord sources: the readers skip the records they cannot read instead of failing
    # (resolve_source's skip_corrupt_records; datasets/integrity.py counts and reports them).
    skip_corrupt_records: bool = False

    def train_records(
            self, *, seed: int, input_context: tf.distribute.InputContext | None = None,
            sidecar: tuple[str, Callable[[tf.Tensor], dict[str, tf.Tensor]]] | None = None,
            record_logits: bool = False) -> tf.data.Dataset:
        """Records {"encoded", "label", "filename"} of this input pipeline: files shuffled
        and interleaved with `seed`, not repeated, no record-level shuffle buffer.
        sidecar: (directory, parse_fn) of per-image side-car shards (TFRecord sources only;
        datasets/sidecar.py) whose features join each record. record_logits: also read the
        original's in-record teacher logits 'image/logit' as "teacher_logits"."""
        if sidecar is None and not record_logits:
            return self._train_fn(seed=seed, input_context=input_context)
        if self.kind != "tfrecord":
            raise DataError(f"per-image teacher data needs TFRecord shards, but the data is "
                            f"{self.description}: build them with python -m "
                            "datasets.build_tfrecords")
        return self._train_fn(seed=seed, input_context=input_context, sidecar=sidecar,
                              record_logits=record_logits)

    def eval_records(self, *, input_context: tf.distribute.InputContext | None = None
                     ) -> tf.data.Dataset:
        """Records of the eval split, fixed order; every example in exactly one pipeline."""
        return self._eval_fn(input_context=input_context)


def _looks_like_path(name: str) -> bool:
    return (os.sep in name or "/" in name or name.startswith((".", "~")) or "://" in name)


def _glob(directory: str, pattern: str) -> list[str]:
    return sorted(f for f in tf.io.gfile.glob(os.path.join(directory, pattern))
                  if not tf.io.gfile.isdir(f))


def _no_eval(message: str):
    def fail(**_):
        raise DataError(message)
    return fail


def _class_count_from(num_classes, *candidates) -> int | None:
    if num_classes is not None:
        if int(num_classes) < 1:
            raise DataError(f"num_classes must be >= 1, got {num_classes}")
        return int(num_classes)
    return next((int(c) for c in candidates if c), None)


def _digits_source(num_classes: int | None) -> DataSource:
    train, evaluation = digits_lib.load_digits_splits()
    labels = list(train.labels) + list(evaluation.labels)
    return DataSource(
        kind="digits", num_classes=_class_count_from(num_classes, digits_lib.NUM_CLASSES),
        class_names=list(digits_lib.CLASS_NAMES), train_size=len(train),
        eval_size=len(evaluation), default_preprocessing=DATASETS["digits"].default_preprocessing,
        description=f"embedded digits (scikit-learn load_digits, 32x32 PNG): {len(train)} "
                    f"train / {len(evaluation)} eval",
        label_range=(int(min(labels)), int(max(labels))),
        _train_fn=lambda seed, input_context: digits_lib.read_digits(
            train, training=True, seed=seed, input_context=input_context),
        _eval_fn=lambda input_context: digits_lib.read_digits(
            evaluation, training=False, seed=0, input_context=input_context))


def _tfrecord_source(directory, train_files, entry, train_regex, val_regex, num_classes,
                     skip_corrupt):
    eval_files = _glob(directory, val_regex)
    info = read_dataset_info(directory) or {}
    label_names = read_label_file(directory)
    n_classes = _class_count_from(num_classes, info.get("num_classes"),
                                  len(label_names) if label_names else None,
                                  entry.num_classes if entry else None)
    if n_classes is None:
        raise DataError(f"cannot tell the number of classes of the TFRecords in {directory} "
                        f"(no dataset_info.json, no labels.txt): pass --num_classes")
    class_names = info.get("class_names") or label_names
    splits = info.get("splits") or {}
    default_patterns = (train_regex == "train-*", val_regex == "validation-*")

    def size(split, files, use_info, registry_size):
        if not files:
            return None
        if use_info and (splits.get(split) or {}).get("num_examples") is not None:
            return int(splits[split]["num_examples"])
        if use_info and entry is not None:
            return registry_size
        try:
            return count_records(files)
        except tf.errors.DataLossError:  # a damaged shard: name it (or count around it)
            from datasets.integrity import count_readable
            return count_readable(files, split, skip_corrupt, directory)

    train_size = size("train", train_files, default_patterns[0],
                      entry.train_size if entry else None)
    eval_size = size("validation", eval_files, default_patterns[1],
                     entry.eval_size if entry else None)
    lows = [s["label_min"] for s in splits.values() if s.get("label_min") is not None]
    highs = [s["label_max"] for s in splits.values() if s.get("label_max") is not None]
    label_range = (int(min(lows)), int(max(highs))) if lows and highs else None
    return DataSource(
        kind="tfrecord", num_classes=n_classes,
        class_names=list(class_names) if class_names else None,
        train_size=train_size, eval_size=eval_size,
        default_preprocessing=entry.default_preprocessing if entry else DEFAULT_PREPROCESSING,
        description=f"TFRecords in {directory} ({train_regex}: {len(train_files)} shards, "
                    f"{val_regex}: {len(eval_files)} shards)",
        data_dir=directory, label_range=label_range, has_eval=bool(eval_files),
        train_files=list(train_files), eval_files=list(eval_files),
        skip_corrupt_records=skip_corrupt,
        _train_fn=lambda seed, input_context, sidecar=None, record_logits=False: read_tfrecords(
            train_files, training=True, seed=seed, input_context=input_context,
            sidecar=sidecar, parse=parse_record_with_logits if record_logits else parse_record,
            skip_corrupt=skip_corrupt),
        _eval_fn=(lambda input_context: read_tfrecords(
            eval_files, training=False, seed=0, input_context=input_context,
            skip_corrupt=skip_corrupt))
        if eval_files else _no_eval(
            f"no TFRecord shard matches {os.path.join(directory, val_regex)}"))


def _folder_source(directory, split_dirs, entry, num_classes):
    paths, labels, class_names, _ = scan_split(split_dirs["train"])
    eval_paths, eval_labels = [], []
    if "validation" in split_dirs:
        eval_paths, eval_labels, _, _ = scan_split(split_dirs["validation"], class_names)
    all_labels = labels + eval_labels
    eval_dir = split_dirs.get("validation")
    return DataSource(
        kind="folder", num_classes=_class_count_from(num_classes, len(class_names)),
        class_names=class_names, train_size=len(paths),
        eval_size=len(eval_paths) if eval_dir else None,
        default_preprocessing=entry.default_preprocessing if entry else DEFAULT_PREPROCESSING,
        description=f"image folders {split_dirs['train']} ({len(paths)} images, "
                    f"{len(class_names)} classes)" +
                    (f" and {eval_dir} ({len(eval_paths)} images)" if eval_dir else
                     " (no eval split)"),
        data_dir=directory, label_range=(min(all_labels), max(all_labels)),
        has_eval=eval_dir is not None,
        _train_fn=lambda seed, input_context: read_image_folder(
            paths, labels, training=True, seed=seed, input_context=input_context),
        _eval_fn=(lambda input_context: read_image_folder(
            eval_paths, eval_labels, training=False, seed=0, input_context=input_context))
        if eval_dir else _no_eval(
            f"no eval split folder ({', '.join(d + '/' for d in EVAL_SPLIT_DIRS)}) in "
            f"{directory}"))


def _directory_source(directory, entry, train_regex, val_regex, num_classes,
                      required: bool, skip_corrupt: bool = False) -> DataSource | None:
    train_files = _glob(directory, train_regex)
    if train_files:
        return _tfrecord_source(directory, train_files, entry, train_regex, val_regex,
                                num_classes, skip_corrupt)
    split_dirs = find_split_dirs(directory) if "://" not in directory else {}
    if "train" in split_dirs:
        return _folder_source(directory, split_dirs, entry, num_classes)
    if required:
        raise DataError(f"no TFRecord shard matches {os.path.join(directory, train_regex)} "
                        f"and no class-folder tree {os.path.join(directory, 'train')}/<class>/")
    return None


def _tfds_source(entry: DatasetInfo, data_dir, num_classes) -> DataSource:
    where = f"data_dir {data_dir}" if data_dir else "default TFDS data_dir"

    def read(split, training, seed, input_context):
        ds, _ = read_tfds(entry.tfds_name, split, data_dir=data_dir, training=training,
                          seed=seed, input_context=input_context,
                          label_offset=entry.label_offset)
        return ds

    return DataSource(
        kind="tfds", num_classes=_class_count_from(num_classes, entry.num_classes),
        class_names=None, train_size=entry.train_size, eval_size=entry.eval_size,
        default_preprocessing=entry.default_preprocessing,
        description=f"TFDS {entry.tfds_name} ({entry.train_split} / {entry.eval_split}, "
                    f"{where})" + (f", labels + {entry.label_offset}"
                                   if entry.label_offset else ""),
        data_dir=data_dir,
        _train_fn=lambda seed, input_context: read(entry.train_split, True, seed,
                                                   input_context),
        _eval_fn=lambda input_context: read(entry.eval_split, False, 0, input_context))


def resolve_source(dataset_name: str, data_dir: str | None, *, train_regex: str = "train-*",
                   val_regex: str = "validation-*", num_classes: int | None = None,
                   skip_corrupt_records: bool = False) -> DataSource:
    """The DataSource for a dataset name or directory (rules in the module docstring).
    skip_corrupt_records: TFRecord readers skip unreadable records (corrupted or truncated)
    instead of failing; see datasets/integrity.py for how the loss is counted."""
    if not dataset_name:
        raise DataError("dataset_name is empty: give a registry name (e.g. digits, cifar10) "
                        "or a directory")
    if dataset_name == "digits":
        return _digits_source(num_classes)
    entry = DATASETS.get(dataset_name)
    if entry is None:
        if not (_looks_like_path(dataset_name) or os.path.exists(dataset_name)):
            get_dataset_info(dataset_name)  # raises DataError listing the known names
        directory = os.path.expanduser(dataset_name)
        if not tf.io.gfile.isdir(directory):
            raise DataError(f"dataset directory {directory} does not exist")
        return _directory_source(directory, None, train_regex, val_regex, num_classes,
                                 required=True, skip_corrupt=skip_corrupt_records)
    if data_dir:
        directory = os.path.expanduser(data_dir)
        if not tf.io.gfile.isdir(directory):
            raise DataError(f"data_dir {directory} does not exist or is not a directory")
        # TFDS only when the folder already holds that prepared TFDS dataset: an empty or
        # wrong data_dir must fail naming the pattern, never start a download into it.
        prepared = bool(entry.tfds_name) and tf.io.gfile.isdir(
            os.path.join(directory, entry.tfds_name))
        source = _directory_source(directory, entry, train_regex, val_regex, num_classes,
                                   required=not prepared, skip_corrupt=skip_corrupt_records)
        if source is not None:
            return source
        return _tfds_source(entry, directory, num_classes)
    if entry.tfds_name:
        return _tfds_source(entry, None, num_classes)
    raise DataError(f"dataset {dataset_name!r} has no TFDS version: pass --data_dir with "
                    f"TFRecord shards ({train_regex}) or a class-folder tree (train/<class>/)")


def check_labels(source: DataSource) -> None:
    """DataError if the known label range of `source` is outside [0, num_classes).

    Cheap (metadata only): uses dataset_info.json label_min/label_max for TFRecords, the
    folder scan or the embedded digits; TFDS sources and TFRecords without dataset_info
    are not checked here (the training pipeline still checks every label).
    """
    if source.label_range is None:
        return
    low, high = source.label_range
    if low < 0 or high >= source.num_classes:
        where = source.data_dir or source.description
        raise DataError(f"labels in {where} span [{low}, {high}] but "
                        f"num_classes={source.num_classes}")
