"""Record-level damage in TFRecord shards: counted, named and refused.

A TFRecord reader stops at the first damaged record of a file -- a flipped byte fails the
record's CRC ("corrupted record at N"), a cut file ends in a partial record ("truncated
record at N") -- and TFRecordDataset then goes on with the next file: every record after
the damage is lost. A cut inside a record's 12-byte header or exactly at a record boundary
is not even an error (the file just ends early), so only the size recorded at build time
can tell. What was recorded: per shard ``{"num_examples", "bytes"}`` in dataset_info.json
(``splits[split]["shards"][basename]``, written by datasets/build_tfrecords.py), or the
image shard's ``records`` and ``image_bytes`` in a side-car header (datasets/sidecar.py);
dataset_info.json wins where both know a shard.

`Shards` holds the shards a run reads (train and eval; eval only when evaluating):
- `Shards.check` at the start of a run. Default: stat only -- a shard whose byte size
  differs from the recorded one, or a recorded shard missing from disk, is read once and
  refused with one DataError naming it, its bytes on disk vs recorded and its records
  readable vs expected. With ``--skip_corrupt_records``: one verification pass reads every
  shard (no decoding; about one read of the data set), prints one line per damaged shard
  and a total; the readers then skip what they cannot read (datasets/tfrecords.py) and an
  evaluation with damaged eval shards is incomplete (`eval_incomplete`).
- `Shards.diagnose` when a tf.errors.DataLossError reaches the trainer anyway (bytes
  flipped in place keep the size: only the CRC knows): reads every shard once and returns
  the DataError naming the damaged ones (expected count when recorded, else "unknown" and
  the byte offset where reading stopped), or the error itself if no shard is damaged.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import tensorflow as tf

from datasets.errors import DataError
from datasets.tfrecords import DATASET_INFO_FILE, read_dataset_info

if TYPE_CHECKING:  # datasets.source imports this module
    from datasets.source import DataSource

RECORD_OVERHEAD = 16  # bytes around a record's payload: length (8) + its CRC (4) + data CRC (4)
SCAN_THREADS = 8
NAMED_AT_MOST = 6  # shards named in one error line
SKIP_FLAG = "--skip_corrupt_records"
EVAL_SPLIT = "validation"


@dataclass(frozen=True)
class Recorded:
    """What the build recorded about one shard (None: not recorded)."""
    records: int | None
    bytes: int | None
    where: str  # the file that recorded it


@dataclass(frozen=True)
class ShardReport:
    """One shard as read: `readable` records in the first `offset` bytes of `size`."""
    path: str
    split: str
    readable: int
    offset: int
    size: int | None  # None: the file is missing
    recorded: Recorded | None
    error: str | None  # why reading stopped before the end of the file

    @property
    def damaged(self) -> bool:
        rec = self.recorded
        return (self.size is None or self.error is not None or self.offset != self.size
                or (rec is not None and rec.records is not None and rec.records != self.readable)
                or (rec is not None and rec.bytes is not None and rec.bytes != self.size))

    @property
    def lost(self) -> int | None:
        if self.recorded is None or self.recorded.records is None:
            return None
        return max(self.recorded.records - self.readable, 0)

    def describe(self) -> str:
        name, rec = os.path.basename(self.path), self.recorded
        if self.size is None:
            return f"{name}: missing ({rec.records} records recorded in {rec.where})"
        if self.lost is not None:
            counts = f"{self.readable} of {rec.records} records readable, {self.lost} lost"
        else:
            counts = (f"{self.readable} records readable, expected count unknown (no "
                      f"per-shard counts in {DATASET_INFO_FILE})")
        if self.error is not None:
            how = f"{self.error} at byte {self.offset} of {self.size}"
        elif self.offset != self.size:
            how = (f"{self.size - self.offset} bytes of an incomplete record at byte "
                   f"{self.offset} of {self.size}")
        else:
            how = f"{self.size} bytes, all readable"
        if rec is not None and rec.bytes is not None and rec.bytes != self.size:
            how += f"; {self.size} bytes on disk, {rec.where} says {rec.bytes}"
        return f"{name}: {counts} ({how})"


def _reason(error: Exception) -> str:
    text = str(error)
    if "corrupted record" in text:
        return "corrupted record (checksum mismatch)"
    if "truncated record" in text:
        return "truncated record"
    return " ".join(text.split())[:120]


def scan_shard(path: str, split: str, recorded: Recorded | None = None) -> ShardReport:
    """Reads `path` once (records only, no parsing; ~1 us per record plus the I/O)."""
    try:
        size = int(tf.io.gfile.stat(path).length)
    except tf.errors.NotFoundError:
        return ShardReport(path, split, 0, 0, None, recorded, None)
    readable = offset = 0
    error = None
    try:
        for record in tf.compat.v1.io.tf_record_iterator(path):
            readable += 1
            offset += len(record) + RECORD_OVERHEAD
    except tf.errors.DataLossError as e:
        error = _reason(e)
    return ShardReport(path, split, readable, offset, size, recorded, error)


def scan(shards: list[tuple[str, str, Recorded | None]]) -> list[ShardReport]:
    """scan_shard over (path, split, recorded) triples, a few files at a time."""
    if not shards:
        return []
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)  # tf_record_iterator's deprecation notice
    try:
        with concurrent.futures.ThreadPoolExecutor(min(SCAN_THREADS, len(shards))) as pool:
            return list(pool.map(lambda s: scan_shard(*s), shards))
    finally:
        logger.setLevel(level)


def recorded_shards(data_dir: str, sidecar_dirs: Sequence[str] = ()) -> dict[str, Recorded]:
    """basename -> Recorded, from side-car headers, then dataset_info.json (which wins)."""
    from datasets import sidecar
    table = {}
    for directory in sidecar_dirs:
        try:
            header = sidecar.read_header(directory)
        except DataError:
            continue  # the side-car's own checks report it
        for name, entry in (header.get("shards") or {}).items():
            table[name] = Recorded(entry.get("records"), entry.get("image_bytes"),
                                   sidecar.header_path(directory))
    info = read_dataset_info(data_dir) if data_dir else None
    for split in ((info or {}).get("splits") or {}).values():
        for name, entry in (split.get("shards") or {}).items():
            table[name] = Recorded(entry.get("num_examples"), entry.get("bytes"),
                                   os.path.join(data_dir, DATASET_INFO_FILE))
    return table


def _missing(data_dir: str, files: dict[str, str]) -> list[tuple[str, str, Recorded]]:
    """Shards dataset_info.json lists in a split the run reads, absent from disk (a shard
    left out on purpose by --train_regex/--val_regex is still on disk)."""
    info = read_dataset_info(data_dir) if data_dir else None
    names = {os.path.basename(f): split for f, split in files.items()}
    out = []
    for split_info in ((info or {}).get("splits") or {}).values():
        listed = split_info.get("shards") or {}
        split = next((names[n] for n in listed if n in names), None)
        if split is None:
            continue
        for name, entry in listed.items():
            path = os.path.join(data_dir, name)
            if name not in names and not tf.io.gfile.exists(path):
                out.append((path, split, Recorded(entry.get("num_examples"), entry.get("bytes"),
                                                  os.path.join(data_dir, DATASET_INFO_FILE))))
    return out


def _total(reports: list[ShardReport]) -> str:
    lost = sum(r.lost or 0 for r in reports)
    unknown = any(r.lost is None for r in reports)
    return f"{'at least ' if unknown else ''}{lost} records lost"


def _refusal(data_dir: str, damaged: list[ShardReport]) -> DataError:
    named = "; ".join(r.describe() for r in damaged[:NAMED_AT_MOST])
    more = (f"; and {len(damaged) - NAMED_AT_MOST} more damaged shards"
            if len(damaged) > NAMED_AT_MOST else "")
    total = f" ({_total(damaged)} in all)" if len(damaged) > 1 else ""
    return DataError(f"{len(damaged)} damaged TFRecord shard(s) in {data_dir}: {named}{more}"
                     f"{total}; restore or rebuild them, or pass {SKIP_FLAG} to go on "
                     "without the unreadable records")


class Shards:
    """The TFRecord shards one run reads, and what the build recorded about them."""

    def __init__(self, source: DataSource, *, training: bool,
                 sidecar_dirs: Sequence[str] = ()) -> None:
        self.source = source
        self.files: dict[str, str] = {}  # path -> split
        if source.kind == "tfrecord":
            if training:
                self.files.update((f, "train") for f in source.train_files or [])
            self.files.update((f, EVAL_SPLIT) for f in source.eval_files or [])
        self.recorded = (recorded_shards(source.data_dir, sidecar_dirs) if self.files
                         else {})
        self.damaged: list[ShardReport] = []

    @property
    def skip(self) -> bool:
        return bool(getattr(self.source, "skip_corrupt_records", False))

    @property
    def eval_incomplete(self) -> bool:
        """Records of the eval split were lost to damaged shards (--skip_corrupt_records)."""
        return any(r.split == EVAL_SPLIT for r in self.damaged)

    def _triples(self, paths) -> list[tuple[str, str, Recorded | None]]:
        return [(p, self.files[p], self.recorded.get(os.path.basename(p))) for p in paths]

    def check(self, say: Callable[[str], Any] = print) -> Shards:
        """Run start: refuse (or, skipping, report) damaged and missing shards."""
        if not self.files:
            return self
        missing = _missing(self.source.data_dir, self.files)
        if self.skip:
            reports = scan(self._triples(self.files) + missing)
            self.damaged = [r for r in reports if r.damaged]
            self._report(reports, say)
            return self
        suspects = []
        for path in self.files:
            rec = self.recorded.get(os.path.basename(path))
            if rec is not None and rec.bytes is not None:
                try:
                    size = int(tf.io.gfile.stat(path).length)
                except tf.errors.NotFoundError:
                    size = None
                if size != rec.bytes:
                    suspects.append(path)
        damaged = [r for r in scan(self._triples(suspects) + missing) if r.damaged]
        if damaged:
            raise _refusal(self.source.data_dir, damaged)
        return self

    def _report(self, reports: list[ShardReport], say) -> None:
        if not self.damaged:
            say(f"{SKIP_FLAG}: read all {len(reports)} shards "
                f"({sum(r.readable for r in reports)} records): none damaged")
            return
        for r in self.damaged:
            say(f"WARNING {SKIP_FLAG}: {r.split} shard {r.describe()}")
        sizes = {"train": self.source.train_size, EVAL_SPLIT: self.source.eval_size}
        parts = []
        for split in ("train", EVAL_SPLIT):
            hit = [r for r in self.damaged if r.split == split]
            if hit:
                of = f" of {sizes[split]}" if sizes[split] else ""
                parts.append(f"{split}: {_total(hit)}{of} in {len(hit)} shard(s)")
        say(f"WARNING {SKIP_FLAG}: DATA LOSS, {'; '.join(parts)}; the run goes on without "
            f"them" + (" and its evaluations are incomplete" if self.eval_incomplete else ""))

    def diagnose(self, error: Exception) -> Exception:
        """The DataError naming the damaged shards behind a tf.errors.DataLossError, or
        `error` itself when every shard reads to its end (e.g. a damaged checkpoint)."""
        if not self.files:
            return error
        damaged = [r for r in scan(self._triples(self.files)) if r.damaged]
        return _refusal(self.source.data_dir, damaged) if damaged else error


def count_readable(files: list[str], split: str, skip: bool, data_dir: str) -> int:
    """Records of `files` when nothing recorded their number and a read failed: the
    readable ones with --skip_corrupt_records, else a DataError naming the damaged shards."""
    reports = scan([(f, split, None) for f in files])
    damaged = [r for r in reports if r.damaged]
    if damaged and not skip:
        raise _refusal(data_dir, damaged)
    return sum(r.readable for r in reports)
