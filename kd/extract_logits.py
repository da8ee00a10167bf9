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

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from datasets import sidecar  # noqa: E402
from datasets.errors import DataError  # noqa: E402
from datasets.source import resolve_source  # noqa: E402
from datasets.tfrecords import list_shards, parse_record  # noqa: E402
from engine.errors import UserError  # noqa: E402
from kd.teachers import Ensemble  # noqa: E402

KIND = "logits"
DONE_DIR = ".done"


def _float_feature(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def _bytes_feature(value: bytes):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def assigned(files: list[str], num_shards: int, shard_index: int) -> list[str]:
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise DataError(f"--shard_index must be in [0, --num_shards={num_shards}), got "
                        f"{shard_index}")
    return files[shard_index::num_shards]


def _worker_from_tf_config() -> tuple[int, int] | None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    cfg = json.loads(raw)
    workers = cfg.get("cluster", {}).get("worker", [])
    task = cfg.get("task", {})
    if not workers or task.get("type") != "worker":
        return None
    return len(workers), int(task.get("index", 0))


def _start_header(output_dir: str, header: dict) -> None:
    """Creates the header, or checks that an existing one was written for the same job."""
    path = sidecar.header_path(output_dir)
    if tf.io.gfile.exists(path):
        old = sidecar.read_header(output_dir)
        for key in ("kind", "num_classes", "teacher", "source_dir", "pattern"):
            if old.get(key) != header.get(key):
                raise DataError(f"{output_dir} holds side-car data of another job ({key}: "
                                f"{old.get(key)!r} there, {header.get(key)!r} now): use a new "
                                "--output_dir or delete it")
        return
    tf.io.gfile.makedirs(os.path.join(output_dir, DONE_DIR))
    sidecar.write_header(output_dir, dict(header, shards={}))


def _finish_header(output_dir: str) -> dict:
    header = sidecar.read_header(output_dir)
    shards = {}
    for path in tf.io.gfile.glob(os.path.join(output_dir, DONE_DIR, "*.json")):
        with tf.io.gfile.GFile(path) as f:
            entry = json.load(f)
        shards[entry.pop("name")] = entry
    header["shards"] = dict(sorted(shards.items()))
    sidecar.write_header(output_dir, header)
    return header


def extract_shard(teacher: Ensemble, image_file: str, output_dir: str, batch_size: int,
                  logits_fn) -> dict:
    """Writes the side-car shard of one image shard; returns its statistics."""
    name = os.path.basename(image_file)
    ds = tf.data.TFRecordDataset(image_file).map(parse_record)
    ds = ds.map(lambda r: (r["filename"], teacher.eval_inputs(r["encoded"])),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size).prefetch(2)
    final = os.path.join(output_dir, name)
    tmp = os.path.join(output_dir, f".{name}.tmp-{os.getpid()}")
    count = 0
    with tf.io.TFRecordWriter(tmp) as writer:
        for keys, inputs in ds:
            logits = logits_fn(inputs).numpy()
            for key, row in zip(keys.numpy(), logits):
                example = tf.train.Example(features=tf.train.Features(feature={
                    sidecar.KEY: _bytes_feature(key), "image/logit": _float_feature(row)}))
                writer.write(example.SerializeToString())
                count += 1
    tf.io.gfile.rename(tmp, final, overwrite=True)
    entry = {"name": name, "records": count, "image_bytes": sidecar.file_size(image_file),
             "sidecar_bytes": sidecar.file_size(final)}
    done = os.path.join(output_dir, DONE_DIR, name + ".json")
    with tf.io.gfile.GFile(done + ".tmp", "w") as f:
        json.dump(entry, f)
    tf.io.gfile.rename(done + ".tmp", done, overwrite=True)
    return entry


def extract_logits(teacher_spec: str, data_dir: str, output_dir: str, *,
                   pattern: str = "train-*", batch_size: int = 256, num_shards: int = 1,
                   shard_index: int = 0, log=print) -> dict:
    """Extracts the side-car logits of this process's shards; returns the header."""
    files = list_shards(data_dir, pattern)
    source = resolve_source(data_dir, None, train_regex=pattern)
    teacher = Ensemble(teacher_spec, num_classes=source.num_classes)
    tf.io.gfile.makedirs(output_dir)
    _start_header(output_dir, {"kind": KIND, "num_classes": teacher.num_classes,
                               "teacher": teacher.identity, "source_dir": os.path.abspath(data_dir),
                               "pattern": pattern, "eval_preprocessing": [
                                   t.prep.name for t in teacher.members]})
    logits_fn = tf.function(teacher.logits_from_inputs)
    mine = assigned(files, num_shards, shard_index)
    for i, image_file in enumerate(mine):
        name = os.path.basename(image_file)
        if tf.io.gfile.exists(os.path.join(output_dir, DONE_DIR, name + ".json")):
            log(f"[{i + 1}/{len(mine)}] {name}: done already, skipped")
            continue
        entry = extract_shard(teacher, image_file, output_dir, batch_size, logits_fn)
        log(f"[{i + 1}/{len(mine)}] {name}: {entry['records']} records, "
            f"{entry['sidecar_bytes'] / max(entry['records'], 1):.0f} bytes/record")
    return _finish_header(output_dir)


def main(argv=None) -> int:
    from absl import flags

    flags.DEFINE_string("teacher", None, "Teacher spec(s): run:DIR, keras:FILE[@prep], "
                        "savedmodel:DIR[@prep]; comma-separated = ensemble.")
    flags.DEFINE_string("data_dir", None, "TFRecord directory of the images.")
    flags.DEFINE_string("output_dir", None, "Side-car directory to write.")
    flags.DEFINE_string("pattern", "train-*", "Glob of the image shards.")
    flags.DEFINE_integer("batch_size", 256, "Teacher batch size.")
    flags.DEFINE_integer("num_shards", None, "Processes sharing the work (default: TF_CONFIG "
                         "workers, else 1).")
    flags.DEFINE_integer("shard_index", None, "This process's index in [0, num_shards).")
    try:
        flags.FLAGS(argv or sys.argv)
    except flags.Error as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    f = flags.FLAGS
    for name in ("teacher", "data_dir", "output_dir"):
        if not f[name].value:
            print(f"error: --{name} is required", file=sys.stderr)
            return 2
    num_shards, shard_index = f.num_shards, f.shard_index
    if num_shards is None and shard_index is None:
        num_shards, shard_index = _worker_from_tf_config() or (1, 0)
    try:
        header = extract_logits(f.teacher, f.data_dir, f.output_dir, pattern=f.pattern,
                                batch_size=f.batch_size, num_shards=num_shards or 1,
                                shard_index=shard_index or 0)
    except (UserError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(header['shards'])} side-car shard(s) in {f.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
