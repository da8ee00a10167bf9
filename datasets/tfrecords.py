"""Reading TFRecord shards written by `datasets.build_tfrecords` (or by the original repo).

Records are parsed to ``{"encoded": tf.string (undecoded JPEG/PNG), "label": tf.int32 as
stored, "filename": tf.string basename ('' when the key is absent)}``; only the keys
``image/encoded``, ``image/class/label`` and ``image/filename`` are read, so the original's
ImageNet shards (with bboxes and ``image/logit``) parse too.

Paths go through `tf.io.gfile`, so ``gs://`` directories work as well as local ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence

import tensorflow as tf

from datasets.errors import DataError

AUTOTUNE = tf.data.AUTOTUNE
DATASET_INFO_FILE = "dataset_info.json"
LABELS_FILE = "labels.txt"
MAX_CYCLE_LENGTH = 16
READ_BUFFER_BYTES = 8 * 1024 * 1024

_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
    "image/filename": tf.io.FixedLenFeature([], tf.string, default_value=""),
}


def list_shards(data_dir: str, pattern: str) -> list[str]:
    """Sorted files matching ``data_dir/pattern``; DataError naming the glob if none."""
    glob = os.path.join(data_dir, pattern)
    if not data_dir or not tf.io.gfile.isdir(data_dir):
        raise DataError(f"no TFRecord shard matches {glob} ({data_dir or '<empty>'} is not "
                        f"a directory)")
    files = sorted(f for f in tf.io.gfile.glob(glob) if not tf.io.gfile.isdir(f))
    if not files:
        raise DataError(f"no TFRecord shard matches {glob}")
    return files


LOGIT_KEY = "image/logit"


def parse_record(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """One serialized tf.train.Example -> {"encoded", "label" (int32), "filename"}."""
    parsed = tf.io.parse_single_example(serialized, _FEATURES)
    return {"encoded": parsed["image/encoded"],
            "label": tf.cast(parsed["image/class/label"], tf.int32),
            "filename": parsed["image/filename"]}


def parse_record_with_logits(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """parse_record plus the original's in-record teacher logits 'image/logit' (float
    list; empty when the key is absent -- the pipeline checks the length)."""
    record = parse_record(serialized)
    logit = tf.io.parse_single_example(
        serialized, {LOGIT_KEY: tf.io.VarLenFeature(tf.float32)})[LOGIT_KEY]
    return dict(record, teacher_logits=tf.sparse.to_dense(logit))


def _pipelines(input_context) -> tuple[int, int]:
    if input_context is None:
        return 1, 0
    return input_context.num_input_pipelines, input_context.input_pipeline_id


def read_tfrecords(files: Sequence[str], *, training: bool, seed: int,
                   input_context: tf.distribute.InputContext | None = None,
                   sidecar: tuple[str, Callable[[tf.Tensor], dict[str, tf.Tensor]]] | None = None,
                   parse: Callable[[tf.Tensor], dict[str, tf.Tensor]] = parse_record,
                   skip_corrupt: bool = False) -> tf.data.Dataset:
    """Parsed records of `files` for this input pipeline (not repeated, no record shuffle).

    A damaged file (a record failing its checksum, a truncated record) raises
    tf.errors.DataLossError when the reader reaches it; skip_corrupt: the reader skips the
    rest of that file instead and goes on (datasets/integrity.py counts what is lost).

    sidecar: (directory, parse_fn) of per-image side-car shards (datasets/sidecar.py) to
    zip with the image shards when training; their parsed features join each record.

    training: files are sharded across input pipelines when there are at least as many
    files as pipelines (otherwise records are), the pipeline's file order is shuffled with
    `seed` (reshuffled on each iteration, deterministically), and files are interleaved
    (cycle_length=min(16, n_files), parallel, deterministic).
    eval: files in the given order, read one after the other, then records are sharded
    ``shard(num_input_pipelines, input_pipeline_id)`` so every example is seen exactly once
    over all pipelines.
    """
    files = [str(f) for f in files]
    if not files:
        raise DataError("read_tfrecords: empty list of TFRecord files")
    num_pipelines, pipeline_id = _pipelines(input_context)
    if training:
        file_ds = tf.data.Dataset.from_tensor_slices(files)
        shard_records = False
        if num_pipelines > 1:
            if len(files) >= num_pipelines:
                file_ds = file_ds.shard(num_pipelines, pipeline_id)
            else:
                shard_records = True
        n_files = len(files) if shard_records else len(files[pipeline_id::num_pipelines])
        file_ds = file_ds.shuffle(max(1, n_files), seed=seed, reshuffle_each_iteration=True)
        if sidecar is None:
            def open_file(f):
                return _tolerant(tf.data.TFRecordDataset(f, buffer_size=READ_BUFFER_BYTES),
                                 skip_corrupt).map(parse)
        else:
            from datasets.sidecar import zip_with_sidecar

            def open_file(f):
                return zip_with_sidecar(f, parse, *sidecar, skip_corrupt=skip_corrupt)
        ds = file_ds.interleave(
            open_file, cycle_length=max(1, min(MAX_CYCLE_LENGTH, n_files)), block_length=1,
            num_parallel_calls=AUTOTUNE, deterministic=True)
        if shard_records:
            ds = ds.shard(num_pipelines, pipeline_id)
        return ds
    # On a read error TFRecordDataset moves on to the next file, so ignore_errors() skips
    # the rest of the damaged file only (tests/test_data_integrity.py checks it ends).
    ds = _tolerant(tf.data.TFRecordDataset(files, buffer_size=READ_BUFFER_BYTES), skip_corrupt)
    if num_pipelines > 1:
        ds = ds.shard(num_pipelines, pipeline_id)
    return ds.map(parse, num_parallel_calls=AUTOTUNE, deterministic=True)


def _tolerant(records, skip_corrupt: bool):
    return records.ignore_errors() if skip_corrupt else records


def count_records(files: Iterable[str]) -> int:
    """Number of records in `files`. Reads every byte of every file (no parsing): about the
    cost of one pass over the data on disk (seconds for CIFAR-size sets, minutes for
    ImageNet), so prefer the counts in dataset_info.json when present."""
    files = [str(f) for f in files]
    if not files:
        return 0
    ds = tf.data.TFRecordDataset(files, buffer_size=READ_BUFFER_BYTES,
                                 num_parallel_reads=min(len(files), MAX_CYCLE_LENGTH))
    return int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1).numpy())


def read_dataset_info(data_dir: str) -> dict | None:
    """The parsed ``dataset_info.json`` of `data_dir`, or None if there is none."""
    path = os.path.join(data_dir, DATASET_INFO_FILE)
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path, "r") as f:
            info = json.load(f)
    except (ValueError, OSError, tf.errors.OpError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if not isinstance(info, dict):
        raise DataError(f"{path} is not a JSON object")
    return info


def read_label_file(data_dir: str) -> list[str] | None:
    """Class names from ``labels.txt`` (line i = label i), or None if there is none."""
    path = os.path.join(data_dir, LABELS_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "r") as f:
        lines = f.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.strip() for line in lines]
