"""Build sharded TFRecords from a class-per-folder image tree or a list of files (library + CLI).

`build_dataset` scans a class-folder tree (below) and hands the file list to
`build_from_items`, which does all the writing; builders of datasets with their own on-disk
layout (`datasets/build_fgvc.py`, `datasets/layouts.py`) call `build_from_items` directly with
``{split: [(path, label)]}`` and the class names.

Input: ``<image_dir>/train/<class>/*.{jpg,jpeg,png}`` (any case) and optionally an eval split
``<image_dir>/{validation,val,test}/<class>/...`` (first that exists; written as split
``validation``). Classes are the sorted folder names of the train split; an eval split must
use the same classes (a folder that is not one of them is an error; a missing one is fine).

Output (``output_dir``):
- ``train-00000-of-00128`` ... and ``validation-00000-of-00016`` ... (5-digit numbering as in
  the original). Each record is a tf.train.Example with ``image/encoded``,
  ``image/class/label`` (int64, 0-based = line of labels.txt), ``image/class/text``,
  ``image/filename`` (basename), ``image/height``, ``image/width``, ``image/format``,
  ``image/colorspace`` ('RGB') and ``image/channels`` (3).
- ``labels.txt`` (line i = class name of label i), ``dataset_info.json`` (class count, per-split
  example/shard counts and label range, per shard ``{"num_examples", "bytes"}`` under
  ``splits[split]["shards"][basename]`` (what `datasets.integrity` checks the files on disk
  against), number skipped, class names), ``skipped.txt``
  (``<path>\\t<reason>`` for every file that could not be decoded), ``build_info.json`` (the
  run configuration, for resuming) and ``.build/`` (per-shard statistics).

Image format: JPEG files in RGB or grayscale are stored byte for byte (format 'jpeg'). Every
other decodable file -- PNG, CMYK JPEG, a PNG named .jpg -- is converted to RGB and
re-encoded as JPEG quality 95 (format 'jpeg'), so that every record is a JPEG (the fused
decode-and-crop of the original pipeline works). ``--keep_png`` stores PNG files as they are
(format 'png', lossless) instead. Images are decoded once with PIL to validate them and to
read height and width; undecodable files are logged, listed in skipped.txt and never written.

Sharding: the files of a split (sorted by class, then name) are shuffled with
``random.Random(seed)`` (train) / ``random.Random(seed + 1)`` (validation) and cut into
contiguous chunks, one per shard, so the file list of every shard is fixed by the seed.

Parallelism: shards are built by a pool of ``--num_workers`` threads, one shard per task;
PIL releases the GIL while decoding, so decoding runs in parallel without starting
TensorFlow in subprocesses.

Resuming: a shard is written to a hidden temp file and renamed when complete; a rerun
skips every shard whose final file (and statistics) exists. The configuration (seed,
classes, shard counts, file lists) is saved in build_info.json; a rerun with a different
configuration is refused with a one-line DataError (use a new output_dir or delete it).

Only local paths are supported (os/PIL file I/O); copy the output to GCS afterwards.

CLI: ``python -m datasets.build_tfrecords --image_dir=DIR --output_dir=OUT [--train_shards=128]
[--validation_shards=16] [--num_workers=N] [--seed=0] [--keep_png]``; bad input prints one
``error: ...`` line on stderr and exits with code 2.
"""

from __future__ import annotations

import concurrent.futures
import glob
import hashlib
import io
import json
import logging
import os
import random
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from datasets.errors import DataError
from datasets.folders import find_split_dirs, scan_split

if TYPE_CHECKING:  # TensorFlow starts only when the work does
    import tensorflow as tf

log = logging.getLogger(__name__)

BUILD_INFO_FILE = "build_info.json"
DATASET_INFO_FILE = "dataset_info.json"
LABELS_FILE = "labels.txt"
SKIPPED_FILE = "skipped.txt"
STATS_DIR = ".build"
FORMAT_VERSION = 1
JPEG_QUALITY = 95


def shard_name(split: str, index: int, num_shards: int) -> str:
    return "%s-%.5d-of-%.5d" % (split, index, num_shards)


@dataclass(frozen=True)
class ShardTask:
    split: str
    index: int
    num_shards: int
    items: tuple[tuple[str, int], ...]  # (path, label)

    @property
    def name(self) -> str:
        return shard_name(self.split, self.index, self.num_shards)


class BadImage(Exception):
    """A file that is not a decodable image (reason in the message)."""


def load_image(path: str, keep_png: bool = False,
               crop_bottom: int = 0) -> tuple[bytes, str, int, int]:
    """(encoded bytes, 'jpeg'|'png', height, width) of a file, validated by a full decode.

    crop_bottom > 0 removes that many rows at the bottom (FGVC-Aircraft's copyright banner)
    and re-encodes the rest as JPEG quality 95; the returned height is the cropped one."""
    from PIL import Image

    with open(path, "rb") as f:
        data = f.read()
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, mode = image.format, image.mode
            image.load()
            width, height = image.size
            if crop_bottom > 0:
                if height <= crop_bottom:
                    raise BadImage(f"image is {height} px high: cannot crop {crop_bottom} px "
                                   "at the bottom")
                image = image.crop((0, 0, width, height - crop_bottom))
                height -= crop_bottom
            elif kind == "JPEG" and mode in ("RGB", "L"):
                return data, "jpeg", height, width
            if kind == "PNG" and keep_png and crop_bottom <= 0:
                return data, "png", height, width
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
            return buffer.getvalue(), "jpeg", height, width
    except BadImage:
        raise
    except Exception as e:  # PIL raises many types for corrupt data
        text = str(e).strip().splitlines()
        raise BadImage(f"{type(e).__name__}: {text[0] if text else 'cannot decode'}") from None


def _bytes_feature(value):
    import tensorflow as tf
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int64_feature(value):
    import tensorflow as tf
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def make_example(encoded: bytes, label: int, class_name: str, filename: str, height: int,
                 width: int, image_format: str) -> tf.train.Example:
    import tensorflow as tf
    return tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": _bytes_feature(encoded),
        "image/class/label": _int64_feature(label),
        "image/class/text": _bytes_feature(class_name.encode("utf-8")),
        "image/filename": _bytes_feature(filename.encode("utf-8")),
        "image/height": _int64_feature(height),
        "image/width": _int64_feature(width),
        "image/format": _bytes_feature(image_format.encode("ascii")),
        "image/colorspace": _bytes_feature(b"RGB"),
        "image/channels": _int64_feature(3),
    }))


def _write_json_atomic(path: str, obj) -> None:
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def _write_text_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def plan_shards(items: list[tuple[str, int]], split: str, num_shards: int,
                seed: int) -> list[ShardTask]:
    """Deterministic shuffle of `items`, then contiguous chunks, one per shard."""
    items = list(items)
    random.Random(seed).shuffle(items)
    n = len(items)
    return [ShardTask(split, i, num_shards,
                      tuple(items[i * n // num_shards:(i + 1) * n // num_shards]))
            for i in range(num_shards)]


def build_shard(task: ShardTask, output_dir: str, class_names: list[str],
                keep_png: bool = False, crop_bottom: int = 0) -> dict:
    """Write one shard (temp file + rename) and its statistics; returns the statistics."""
    import tensorflow as tf

    final = os.path.join(output_dir, task.name)
    tmp = os.path.join(output_dir, f".{task.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    stats = {"shard": task.name, "num_files": len(task.items), "num_examples": 0,
             "label_min": None, "label_max": None, "formats": {}, "skipped": []}
    try:
        with tf.io.TFRecordWriter(tmp) as writer:
            for path, label in task.items:
                try:
                    encoded, kind, height, width = load_image(path, keep_png, crop_bottom)
                except (BadImage, OSError) as e:
                    log.warning("skipping %s: %s", path, e)
                    stats["skipped"].append([path, str(e)])
                    continue
                example = make_example(encoded, label, class_names[label],
                                       os.path.basename(path), height, width, kind)
                writer.write(example.SerializeToString())
                stats["num_examples"] += 1
                stats["formats"][kind] = stats["formats"].get(kind, 0) + 1
                lo, hi = stats["label_min"], stats["label_max"]
                stats["label_min"] = label if lo is None else min(lo, label)
                stats["label_max"] = label if hi is None else max(hi, label)
        stats["bytes"] = os.path.getsize(tmp)
        _write_json_atomic(os.path.join(output_dir, STATS_DIR, task.name + ".json"), stats)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    log.info("wrote %s: %d examples, %d skipped", task.name, stats["num_examples"],
             len(stats["skipped"]))
    return stats


def _files_digest(image_dir: str, items) -> str:
    digest = hashlib.sha256()
    for path, label in items:
        digest.update(f"{os.path.relpath(path, image_dir)}\t{label}\n".encode("utf-8"))
    return digest.hexdigest()


def _first_difference(old, new, prefix="") -> str | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            diff = _first_difference(old.get(key), new.get(key), f"{prefix}{key}" if not prefix
                                     else f"{prefix}.{key}")
            if diff:
                return diff
        return None
    if old != new:
        def show(v):
            return (v[:12] + "...") if isinstance(v, str) and len(v) > 16 else v
        return f"{prefix}: {show(new)} != {show(old)}"
    return None


def _check_counts(train_shards, validation_shards, num_workers) -> None:
    if train_shards < 1:
        raise DataError(f"train_shards must be >= 1, got {train_shards}")
    if validation_shards < 0:
        raise DataError(f"validation_shards must be >= 0, got {validation_shards}")
    if num_workers is not None and num_workers < 1:
        raise DataError(f"num_workers must be >= 1, got {num_workers}")


def build_dataset(image_dir: str, output_dir: str, *, train_shards: int = 128,
                  validation_shards: int = 16, num_workers: int | None = None, seed: int = 0,
                  keep_png: bool = False) -> dict:
    """Build (or resume building) TFRecords of `image_dir` into `output_dir`.

    Returns the dataset_info dict (also written to output_dir/dataset_info.json).
    Raises DataError on bad input or a configuration that differs from a previous run.
    """
    if not image_dir:
        raise DataError("--image_dir is required (a folder with train/<class>/*.jpg)")
    if not output_dir:
        raise DataError("--output_dir is required")
    if not os.path.isdir(image_dir):
        raise DataError(f"image_dir {image_dir} does not exist or is not a directory")
    _check_counts(train_shards, validation_shards, num_workers)
    image_dir = os.path.abspath(image_dir)
    split_dirs = find_split_dirs(image_dir)
    if "train" not in split_dirs:
        raise DataError(f"no train split folder {os.path.join(image_dir, 'train')} "
                        f"(expected {image_dir}/train/<class>/*.jpg)")

    paths, labels, class_names, ignored = scan_split(split_dirs["train"])
    items = {"train": list(zip(paths, labels))}
    source_dirs = {"train": split_dirs["train"]}
    if "validation" in split_dirs and validation_shards > 0:
        vpaths, vlabels, _, vignored = scan_split(split_dirs["validation"], class_names)
        ignored += vignored
        items["validation"] = list(zip(vpaths, vlabels))
        source_dirs["validation"] = split_dirs["validation"]
    elif "validation" not in split_dirs:
        log.warning("no eval split folder (validation/, val/ or test/) in %s: building train "
                    "only", image_dir)
    for path in ignored:
        log.info("ignoring non-image file %s", path)
    if ignored:
        log.warning("ignored %d files without an image extension", len(ignored))
    return build_from_items(items, class_names, output_dir, root=image_dir,
                            train_shards=train_shards, validation_shards=validation_shards,
                            num_workers=num_workers, seed=seed, keep_png=keep_png,
                            source_dirs=source_dirs)


def build_from_items(items: dict[str, list[tuple[str, int]]], class_names: list[str],
                     output_dir: str, *, root: str, train_shards: int = 128,
                     validation_shards: int = 16, num_workers: int | None = None,
                     seed: int = 0, keep_png: bool = False, crop_bottom: int = 0,
                     split_class_names: dict[str, list[str]] | None = None,
                     source_dirs: dict[str, str] | None = None,
                     extra_config: dict | None = None) -> dict:
    """Build (or resume building) TFRecords of pre-listed files into `output_dir`.

    items: {"train": [(path, 0-based label)], "validation": [...] (optional)}; a split with
    0 shards is not written. class_names: line i of labels.txt = name of label i (the
    classes of the classifier). split_class_names: names for the labels of one split whose
    labels are not those classes (the eval split of a zero-shot set holds retrieval labels
    of other classes), used for its ``image/class/text``. root: the folder the file paths
    are recorded relative to in build_info.json (so a moved copy of the raw data resumes).
    crop_bottom: rows cut at the bottom of every image (see `load_image`). source_dirs and
    extra_config only go into build_info.json (a rerun must match them).
    """
    if not output_dir:
        raise DataError("--output_dir is required")
    _check_counts(train_shards, validation_shards, num_workers)
    if not items.get("train"):
        raise DataError(f"no train images listed under {root}")
    unknown = sorted(set(items) - {"train", "validation"})
    if unknown:
        raise DataError(f"unknown split {unknown[0]!r}: only train and validation are written")
    split_class_names = dict(split_class_names or {})
    names_of = {split: list(split_class_names.get(split, class_names)) for split in items}
    for split, pairs in items.items():
        bad = next(((p, label) for p, label in pairs
                    if not isinstance(label, int) or not 0 <= label < len(names_of[split])),
                   None)
        if bad:
            raise DataError(f"label {bad[1]!r} of {bad[0]} is outside [0, "
                            f"{len(names_of[split])}) ({split} split)")
    root = os.path.abspath(root)
    output_dir = os.path.abspath(output_dir)
    shards = {"train": train_shards, "validation": validation_shards}
    splits = {split: (source_dirs.get(split) if source_dirs else None, list(pairs),
                      shards[split], seed if split == "train" else seed + 1)
              for split, pairs in items.items() if pairs and shards[split] > 0}

    config = {"format_version": FORMAT_VERSION, "seed": seed, "keep_png": bool(keep_png),
              "class_names_sha256": hashlib.sha256(
                  "\n".join(class_names).encode("utf-8")).hexdigest(),
              "num_classes": len(class_names),
              "splits": {split: {"num_shards": n, "num_files": len(pairs),
                                 "files_sha256": _files_digest(root, pairs)}
                         for split, (d, pairs, n, _) in splits.items()}}
    for split, (d, _, _, _) in splits.items():
        if d is not None:
            config["splits"][split]["source_dir"] = os.path.relpath(d, root)
        if split in split_class_names:
            config["splits"][split]["class_names_sha256"] = hashlib.sha256(
                "\n".join(names_of[split]).encode("utf-8")).hexdigest()
    if crop_bottom:
        config["crop_bottom"] = int(crop_bottom)
    config.update(extra_config or {})

    os.makedirs(os.path.join(output_dir, STATS_DIR), exist_ok=True)
    info_path = os.path.join(output_dir, BUILD_INFO_FILE)
    if os.path.exists(info_path):
        try:
            with open(info_path) as f:
                previous = json.load(f)
        except ValueError as e:
            raise DataError(f"cannot read {info_path}: {e}") from None
        diff = _first_difference(previous, config)
        if diff:
            raise DataError(f"{info_path} records a different build ({diff} (new != old)); "
                            f"use a new --output_dir or delete the old one")
    else:
        existing = sorted(glob.glob(os.path.join(output_dir, "train-*")) +
                          glob.glob(os.path.join(output_dir, "validation-*")))
        if existing:
            raise DataError(f"{output_dir} holds shards ({os.path.basename(existing[0])}, ...) "
                            f"but no {BUILD_INFO_FILE}: use an empty --output_dir")
        _write_json_atomic(info_path, config)
    for stale in glob.glob(os.path.join(output_dir, ".*.tmp-*")):
        os.remove(stale)  # temp shards of an interrupted run
    _write_text_atomic(os.path.join(output_dir, LABELS_FILE),
                       "".join(name + "\n" for name in class_names))

    tasks = []
    for split, (_, pairs, n, split_seed) in splits.items():
        tasks += plan_shards(pairs, split, n, split_seed)

    def done(task):
        return (os.path.exists(os.path.join(output_dir, task.name)) and
                os.path.exists(os.path.join(output_dir, STATS_DIR, task.name + ".json")))

    pending = [task for task in tasks if not done(task)]
    log.info("%d classes; %s; %d of %d shards to build", len(class_names),
             ", ".join(f"{s}: {len(v[1])} files" for s, v in splits.items()), len(pending),
             len(tasks))
    workers = min(num_workers or os.cpu_count() or 1, max(1, len(pending)))

    def run(task):
        return build_shard(task, output_dir, names_of[task.split], keep_png, crop_bottom)

    if workers == 1:
        for task in pending:
            run(task)
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run, task) for task in pending]
            try:
                for future in concurrent.futures.as_completed(futures):
                    future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    return _finish(output_dir, class_names, splits, tasks,
                   {s: names_of[s] for s in splits if s in split_class_names})


def _finish(output_dir, class_names, splits, tasks, split_class_names=None) -> dict:
    """Aggregate the per-shard statistics into dataset_info.json and skipped.txt."""
    split_info, skipped, formats = {}, [], {}
    for split, (_, _, shards, _) in splits.items():
        entry = {"num_examples": 0, "num_shards": shards, "label_min": None,
                 "label_max": None, "pattern": f"{split}-*", "shards": {}}
        for task in tasks:
            if task.split != split:
                continue
            with open(os.path.join(output_dir, STATS_DIR, task.name + ".json")) as f:
                stats = json.load(f)
            entry["num_examples"] += stats["num_examples"]
            # Statistics of a build before per-shard sizes were recorded: the file as it is.
            size = stats.get("bytes", os.path.getsize(os.path.join(output_dir, task.name)))
            entry["shards"][task.name] = {"num_examples": stats["num_examples"],
                                          "bytes": int(size)}
            for key, pick in (("label_min", min), ("label_max", max)):
                if stats[key] is not None:
                    entry[key] = stats[key] if entry[key] is None else pick(entry[key],
                                                                             stats[key])
            skipped += stats["skipped"]
            for kind, count in stats["formats"].items():
                formats[kind] = formats.get(kind, 0) + count
        if split in (split_class_names or {}):
            entry["class_names"] = list(split_class_names[split])
        split_info[split] = entry
    info = {"num_classes": len(class_names), "class_names": list(class_names),
            "splits": split_info, "skipped": len(skipped), "image_formats": formats}
    _write_json_atomic(os.path.join(output_dir, DATASET_INFO_FILE), info)
    _write_text_atomic(os.path.join(output_dir, SKIPPED_FILE),
                       "".join(f"{path}\t{reason}\n" for path, reason in skipped))
    if skipped:
        log.warning("skipped %d undecodable files (listed in %s)", len(skipped),
                    os.path.join(output_dir, SKIPPED_FILE))
    log.info("done: %s", ", ".join(f"{s}: {v['num_examples']} examples in {v['num_shards']} "
                                   f"shards" for s, v in split_info.items()))
    return info


def _define_flags():
    from absl import flags
    flags.DEFINE_string("image_dir", None, "Folder with train/<class>/*.jpg and optionally "
                        "validation/ (or val/, test/) with the same class folders.")
    flags.DEFINE_string("output_dir", None, "Where the TFRecord shards and metadata go.")
    flags.DEFINE_integer("train_shards", 128, "Number of train shards.")
    flags.DEFINE_integer("validation_shards", 16, "Number of validation shards (0: none).")
    flags.DEFINE_integer("num_workers", None, "Shards built in parallel (default: CPUs).")
    flags.DEFINE_integer("seed", 0, "Seed of the file-to-shard shuffle.")
    flags.DEFINE_bool("keep_png", False, "Store PNG files as they are instead of re-encoding "
                      "them as JPEG.")
    return flags.FLAGS


def run_cli(argv: list[str], build: Callable[[], Any]) -> int:
    """The builders' CLI contract: ``build()`` runs; stray arguments or a DataError end
    with one ``error:`` line on stderr and exit code 2."""
    if len(argv) > 1:
        print(f"error: unexpected arguments: {' '.join(argv[1:])}", file=sys.stderr)
        return 2
    try:
        build()
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str]) -> int:
    from absl import flags
    f = flags.FLAGS
    return run_cli(argv, lambda: build_dataset(
        f.image_dir, f.output_dir, train_shards=f.train_shards,
        validation_shards=f.validation_shards, num_workers=f.num_workers, seed=f.seed,
        keep_png=f.keep_png))


def _parse_flags(argv):
    """absl flag parsing, but a bad flag is one `error:` line and exit code 2."""
    from absl import flags
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        print(f"error: {str(e).strip().splitlines()[0]}", file=sys.stderr)
        sys.exit(2)


def cli() -> None:
    """The ``assembled-build-tfrecords`` console script (``python -m
    datasets.build_tfrecords``)."""
    from absl import app
    _define_flags()
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=_parse_flags)


if __name__ == "__main__":
    cli()
