"""Side-car shards: per-image teacher data stored beside TFRecord image shards, never
duplicating the images.

Layout of a side-car directory:
- one TFRecord file per image shard, with the image shard's basename
  (``train-00003-of-00016``); record i belongs to record i of the image shard and carries
  the image's ``image/filename`` as its key plus the payload features of its kind;
- ``sidecar.json``: the header -- kind (``logits`` or ``reinforce``), format version, class
  count, teacher identity, kind-specific fields (e.g. NS, K and the augmentation config), and
  per shard: the image shard's byte size and record count, and the side-car file's byte size.

Training zips every image shard with its side-car shard inside the interleave (so shuffling,
sharding over workers and resuming stay exactly as without one) and asserts per record that
the keys match (`check_key`). Before any work, `check_coverage` compares the header with the
image shards on disk: a missing or truncated side-car shard, or an image shard that changed
since the side-car was written, is a one-line DataError naming the file and the first
uncovered keys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import tensorflow as tf

from datasets.errors import DataError

HEADER = "sidecar.json"
FORMAT_VERSION = 1
KEY = "image/filename"
KEY_MISMATCH_MARK = "side-car key mismatch"
PARSE_BATCH = 256


def header_path(directory: str) -> str:
    return os.path.join(directory, HEADER)


def read_header(directory: str) -> dict:
    path = header_path(directory)
    if not tf.io.gfile.exists(path):
        raise DataError(f"{path} does not exist: not a side-car directory (write one with "
                        "python -m kd.extract_logits or python -m kd.reinforce)")
    try:
        with tf.io.gfile.GFile(path) as f:
            header = json.load(f)
    except (ValueError, OSError, tf.errors.OpError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if header.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{path}: format_version {header.get('format_version')!r}, this "
                        f"code reads {FORMAT_VERSION}")
    return header


def write_header(directory: str, header: dict) -> None:
    path = header_path(directory)
    tmp = path + ".tmp"
    with tf.io.gfile.GFile(tmp, "w") as f:
        json.dump(dict(header, format_version=FORMAT_VERSION), f, indent=1, sort_keys=True)
    tf.io.gfile.rename(tmp, path, overwrite=True)


def file_size(path: str) -> int:
    return int(tf.io.gfile.stat(path).length)


def first_keys(image_file: str, n: int = 3) -> list[str]:
    ds = tf.data.TFRecordDataset(image_file).take(n).map(
        lambda s: tf.io.parse_single_example(
            s, {KEY: tf.io.FixedLenFeature([], tf.string, default_value="")})[KEY])
    return [k.decode() for k in ds.as_numpy_iterator()]


def check_coverage(directory: str, image_files: list[str], kind: str,
                   expect: dict | None = None) -> dict:
    """The header, after checking that `directory` covers every image shard exactly.

    expect: header fields that must match (e.g. {"num_classes": 10, "num_samples": 20}).
    """
    header = read_header(directory)
    if header.get("kind") != kind:
        raise DataError(f"{header_path(directory)} holds {header.get('kind')!r} data, "
                        f"expected {kind!r}")
    for field, want in (expect or {}).items():
        if header.get(field) != want:
            raise DataError(f"{header_path(directory)}: {field} is {header.get(field)!r}, "
                            f"this run needs {want!r}")
    shards = header.get("shards", {})
    for image_file in image_files:
        name = os.path.basename(image_file)
        entry = shards.get(name)
        side_file = os.path.join(directory, name)
        if entry is None or not tf.io.gfile.exists(side_file):
            raise DataError(f"side-car {directory} does not cover {image_file} (no {name}); "
                            f"first missing keys: {', '.join(first_keys(image_file))}")
        if file_size(image_file) != entry["image_bytes"]:
            raise DataError(f"{image_file} changed since the side-car {side_file} was written "
                            f"({file_size(image_file)} bytes, header says "
                            f"{entry['image_bytes']}): regenerate it")
        if file_size(side_file) != entry["sidecar_bytes"]:
            raise DataError(f"side-car shard {side_file} is truncated or altered "
                            f"({file_size(side_file)} bytes, header says "
                            f"{entry['sidecar_bytes']}): regenerate it")
    return header


def sidecar_file(directory: str, image_file: tf.Tensor) -> tf.Tensor:
    """Graph-safe: the side-car path of an image shard path (a string tensor)."""
    base = tf.strings.regex_replace(image_file, r"^.*/", "")
    return tf.strings.join([directory.rstrip("/"), base], separator="/")


def zip_with_sidecar(image_file: tf.Tensor,
                     parse_image: Callable[[tf.Tensor], dict[str, tf.Tensor]], directory: str,
                     parse_sidecar: Callable[[tf.Tensor], dict[str, tf.Tensor]],
                     skip_corrupt: bool = False) -> tf.data.Dataset:
    """Records of one image shard merged with its side-car records; the side-car's key
    rides along as "sidecar_key" for `check_key` (which must run after the pipeline's
    ignore_errors(), so a mismatch stops the run instead of being skipped as a bad image).
    skip_corrupt: a read error ends that file instead of failing (--skip_corrupt_records);
    a reader stops at the damage, so the zip ends there too and the keys stay aligned."""
    images = tf.data.TFRecordDataset(image_file)
    side = tf.data.TFRecordDataset(sidecar_file(directory, image_file))
    if skip_corrupt:
        images, side = images.ignore_errors(), side.ignore_errors()
    images = images.map(parse_image)
    # parse_sidecar takes a vector of serialized records: parsing 256 at a time is several
    # times cheaper per record than one by one.
    side = side.batch(
        PARSE_BATCH).map(parse_sidecar).unbatch()

    def merge(record, extra):
        extra = dict(extra)
        return dict(record, sidecar_key=extra.pop("key"), **extra)

    return tf.data.Dataset.zip((images, side)).map(merge)


def check_key(example: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """tf.data map: asserts the image's and the side-car record's keys are equal."""
    if "sidecar_key" not in example:
        return example
    example = dict(example)
    key = example.pop("sidecar_key")
    check = tf.debugging.Assert(
        tf.equal(example["filename"], key),
        [f"{KEY_MISMATCH_MARK}: image", example["filename"], "side-car", key,
         "(the side-car shards are not aligned with the image shards: regenerate them)"])
    with tf.control_dependencies([check]):
        example["filename"] = tf.identity(example["filename"])
    return example
