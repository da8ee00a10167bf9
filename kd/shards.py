"""Writing side-car shards (datasets/sidecar.py) in parallel and resumably.

Shared by `kd.extract_logits` and `kd.reinforce`: image shards are split over processes by
(num_shards, shard_index) -- or over the TF_CONFIG workers -- and each side-car shard is
written to a temp file and renamed, then marked done in ``.done/<name>.json`` with its
statistics. A rerun skips marked shards (resume after a kill); the header's shard table is
rebuilt from the marks after each process finishes, so the last process to finish leaves a
complete header. A rerun into the same directory with another job (teacher, class count,
augmentation, NS, K) is refused.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any, Callable

import tensorflow as tf
from absl.flags import FlagValues

from datasets import sidecar
from datasets.errors import DataError

DONE_DIR = ".done"


def assigned(files: list[str], num_shards: int, shard_index: int) -> list[str]:
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise DataError(f"--shard_index must be in [0, --num_shards={num_shards}), got "
                        f"{shard_index}")
    return files[shard_index::num_shards]


def worker_from_tf_config() -> tuple[int, int] | None:
    """(number of workers, this worker's index) from TF_CONFIG, or None."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    cfg = json.loads(raw)
    workers = cfg.get("cluster", {}).get("worker", [])
    task = cfg.get("task", {})
    if not workers or task.get("type") != "worker":
        return None
    return len(workers), int(task.get("index", 0))


def start_header(output_dir: str, header: dict, identity_keys: Iterable[str]) -> None:
    """Creates the header, or checks that an existing one was written for the same job."""
    tf.io.gfile.makedirs(os.path.join(output_dir, DONE_DIR))
    if tf.io.gfile.exists(sidecar.header_path(output_dir)):
        old = sidecar.read_header(output_dir)
        for key in identity_keys:
            if old.get(key) != header.get(key):
                raise DataError(f"{output_dir} holds side-car data of another job ({key}: "
                                f"{old.get(key)!r} there, {header.get(key)!r} now): use a new "
                                "--output_dir or delete it")
        return
    sidecar.write_header(output_dir, dict(header, shards={}))


def finish_header(output_dir: str) -> dict:
    header = sidecar.read_header(output_dir)
    shards = {}
    for path in tf.io.gfile.glob(os.path.join(output_dir, DONE_DIR, "*.json")):
        with tf.io.gfile.GFile(path) as f:
            entry = json.load(f)
        shards[entry.pop("name")] = entry
    header["shards"] = dict(sorted(shards.items()))
    sidecar.write_header(output_dir, header)
    return header


def write_shard(image_file: str, output_dir: str, examples: Iterable[bytes]) -> dict:
    """Writes `examples` (an iterable of serialized side-car records) as the side-car shard
    of `image_file`, atomically, and marks it done; returns its statistics."""
    name = os.path.basename(image_file)
    final = os.path.join(output_dir, name)
    tmp = os.path.join(output_dir, f".{name}.tmp-{os.getpid()}")
    count = 0
    with tf.io.TFRecordWriter(tmp) as writer:
        for serialized in examples:
            writer.write(serialized)
            count += 1
    tf.io.gfile.rename(tmp, final, overwrite=True)
    entry = {"name": name, "records": count, "image_bytes": sidecar.file_size(image_file),
             "sidecar_bytes": sidecar.file_size(final)}
    done = _done_path(output_dir, image_file)
    with tf.io.gfile.GFile(done + ".tmp", "w") as f:
        json.dump(entry, f)
    tf.io.gfile.rename(done + ".tmp", done, overwrite=True)
    return entry


def run_over_shards(files: list[str], output_dir: str, num_shards: int, shard_index: int,
                    examples_of: Callable[[list[str]], Iterable[tuple[int, bytes]]],
                    log: Callable[[str], Any] = print) -> dict:
    """Writes this process's side-car shards (skipping finished ones); returns the header.

    ``examples_of(pending)`` gives the serialized records of all the pending image shards
    as one stream of (index into ``pending``, record), shard after shard in order: one
    input pipeline for all of them (a tf.data iterator costs seconds to start: its
    functions are optimised and instantiated anew each time).  :func:`per_file` adapts a
    per-shard generator."""
    mine = assigned(files, num_shards, shard_index)
    pending = [f for f in mine if not tf.io.gfile.exists(_done_path(output_dir, f))]
    pending_set = set(pending)
    stream = _Stream(examples_of(pending)) if pending else None
    todo = iter(range(len(pending)))
    for i, image_file in enumerate(mine):
        name = os.path.basename(image_file)
        if image_file not in pending_set:
            log(f"[{i + 1}/{len(mine)}] {name}: done already, skipped")
            continue
        entry = write_shard(image_file, output_dir, stream.take(next(todo)))
        log(f"[{i + 1}/{len(mine)}] {name}: {entry['records']} records, "
            f"{entry['sidecar_bytes'] / max(entry['records'], 1):.0f} bytes/record")
    return finish_header(output_dir)


def per_file(examples: Callable[[str], Iterable[bytes]]
             ) -> Callable[[list[str]], Iterator[tuple[int, bytes]]]:
    """A run_over_shards stream from ``examples(image_file)``, one shard after another."""
    def stream(pending: list[str]) -> Iterator[tuple[int, bytes]]:
        for index, image_file in enumerate(pending):
            for example in examples(image_file):
                yield index, example
    return stream


class _Stream:
    """Splits a stream of (shard index, record) into the records of each shard in turn."""

    def __init__(self, items: Iterable[tuple[int, bytes]]):
        self._items = iter(items)
        self._head: tuple[int, bytes] | None = None
        self._next_index = 0

    def take(self, index: int) -> Iterator[bytes]:
        """The records of shard ``index`` (shards are taken in increasing order)."""
        if index < self._next_index:
            raise ValueError(f"shard {index} asked for after shard {self._next_index - 1}")
        self._next_index = index + 1
        while True:
            if self._head is None:
                self._head = next(self._items, (-1, b""))
            k, example = self._head
            if k < index and k >= 0:
                raise ValueError(f"the stream gave shard {k} after shard {index} was asked for")
            if k != index:
                return  # the next shard's first record (or the end): kept for it
            self._head = None
            yield example


def _done_path(output_dir: str, image_file: str) -> str:
    return os.path.join(output_dir, DONE_DIR, os.path.basename(image_file) + ".json")


def bytes_feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def float_feature(values: Iterable[float]) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


REQUIRED_FLAGS = ("teacher", "data_dir", "output_dir")


def define_cli_flags(flags: ModuleType, batch_size: int, batch_help: str) -> None:
    """The flags both side-car CLIs share: teacher, data, output, shards and sharding."""
    flags.DEFINE_string("teacher", None, "Teacher spec(s): run:DIR[/ckpt-N], "
                        "keras:FILE[@prep], savedmodel:DIR[@prep]; comma-separated = ensemble.")
    flags.DEFINE_string("data_dir", None, "TFRecord directory of the images.")
    flags.DEFINE_string("output_dir", None, "Side-car directory to write.")
    flags.DEFINE_string("pattern", "train-*", "Glob of the image shards.")
    flags.DEFINE_integer("batch_size", batch_size, batch_help)
    flags.DEFINE_integer("num_shards", None, "Processes sharing the work (default: TF_CONFIG "
                         "workers, else 1).")
    flags.DEFINE_integer("shard_index", None, "This process's index in [0, num_shards).")


def parse_cli(flags: ModuleType, argv: list[str], doc: str = "") -> FlagValues | None:
    """Parsed FLAGS, or None after printing one `error:` line (bad or missing flag).
    --help: `doc` (the CLI's module doc) and the flags, then exit 0."""
    from core.console import help_text, wants_help
    if wants_help(argv):
        sys.stdout.write(help_text(doc, flags.FLAGS))
        sys.exit(0)
    try:
        flags.FLAGS(argv)
    except flags.Error as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return None
    for name in REQUIRED_FLAGS:
        if not flags.FLAGS[name].value:
            print(f"error: --{name} is required", file=sys.stderr)
            return None
    return flags.FLAGS


def cli_sharding(num_shards: int | None, shard_index: int | None) -> tuple[int, int]:
    if num_shards is None and shard_index is None:
        return worker_from_tf_config() or (1, 0)
    return num_shards or 1, shard_index or 0
