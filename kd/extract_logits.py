"""Offline teacher logits as side-car shards beside TFRecord image shards (library + CLI).

    python -m kd.extract_logits --teacher=run:runs/teacher --data_dir=$TFR \
        --output_dir=$TFR/logits [--pattern=train-*] [--num_shards=N --shard_index=I]

The original assembled-cnn computes logits on center-crop eval images and bakes a 1001-wide
``image/logit`` into its ImageNet TFRecords. Here every image shard gets a side-car shard
(datasets/sidecar.py) of records {``image/filename``, ``image/logit`` float[C]} in the same
order, for any class count, and the image shards stay untouched. Each teacher member sees its
own eval preprocessing (resize + center crop at its input size). Training reads them with
``--kd_temp=T --kd_logits_path=<output_dir>``.

Parallel and resumable: image shards are split over processes by ``--num_shards`` /
``--shard_index`` (or, when TF_CONFIG is set, over its workers); a side-car shard is written
to a temp file and renamed with its statistics in ``.done/``, so a killed run resumes by
skipping every finished shard; the header (``sidecar.json``) is rewritten from ``.done/``
after each process finishes. A rerun with a different teacher or class count is refused.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from core.errors import UserError  # noqa: E402
from datasets import sidecar  # noqa: E402
from datasets.errors import DataError  # noqa: E402
from datasets.source import resolve_source  # noqa: E402
from datasets.tfrecords import list_shards, parse_record  # noqa: E402
from kd import shards  # noqa: E402
from kd.teachers import Ensemble  # noqa: E402

KIND = "logits"
IDENTITY = ("kind", "num_classes", "teacher", "source_dir", "pattern")


def shard_examples(teacher: Ensemble, image_file: str, batch_size: int,
                   logits_fn: Callable[[tuple[tf.Tensor, ...]], tf.Tensor]) -> Iterator[bytes]:
    """Serialized side-car records {image/filename, image/logit} of one image shard."""
    ds = tf.data.TFRecordDataset(image_file).map(parse_record)
    ds = ds.map(lambda r: (r["filename"], teacher.eval_inputs(r["encoded"])),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    for keys, inputs in ds.batch(batch_size).prefetch(2):
        logits = logits_fn(inputs).numpy()
        for key, row in zip(keys.numpy(), logits):
            yield tf.train.Example(features=tf.train.Features(feature={
                sidecar.KEY: shards.bytes_feature(key),
                "image/logit": shards.float_feature(row)})).SerializeToString(deterministic=True)


def extract_logits(teacher_spec: str, data_dir: str, output_dir: str, *,
                   pattern: str = "train-*", batch_size: int = 256, num_shards: int = 1,
                   shard_index: int = 0, log: Callable[[str], Any] = print) -> dict:
    """Extracts the side-car logits of this process's shards; returns the header."""
    files = list_shards(data_dir, pattern)
    source = resolve_source(data_dir, None, train_regex=pattern)
    teacher = Ensemble(teacher_spec, num_classes=source.num_classes)
    shards.start_header(output_dir, {
        "kind": KIND, "num_classes": teacher.num_classes, "teacher": teacher.identity,
        "source_dir": os.path.abspath(data_dir), "pattern": pattern,
        "eval_preprocessing": [t.prep.name for t in teacher.members]}, IDENTITY)
    logits_fn = tf.function(teacher.logits_from_inputs)
    return shards.run_over_shards(
        files, output_dir, num_shards, shard_index,
        shards.per_file(lambda f: shard_examples(teacher, f, batch_size, logits_fn)), log)


def main(argv: list[str] | None = None) -> int:
    from absl import flags

    shards.define_cli_flags(flags, 256, "Teacher batch size.")
    f = shards.parse_cli(flags, argv or sys.argv, __doc__)
    if f is None:
        return 2
    num_shards, shard_index = shards.cli_sharding(f.num_shards, f.shard_index)
    try:
        header = extract_logits(f.teacher, f.data_dir, f.output_dir, pattern=f.pattern,
                                batch_size=f.batch_size, num_shards=num_shards,
                                shard_index=shard_index)
    except (UserError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(header['shards'])} side-car shard(s) in {f.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
