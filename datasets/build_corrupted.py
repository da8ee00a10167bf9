"""Write an ImageNet-C-style corrupted copy of an evaluation split (the original's
``CE_validation_generator``, after Hendrycks & Dietterich 2019).

    python -m datasets.build_corrupted --image_dir=/data/imagenet/val \\
        --output_dir=/data/imagenet-c [--corruptions=all --severities=1-5 \\
        --resize_size=256 --crop_size=224 --jpeg_quality=85 --seed=0]

Input: a class-folder split ``<image_dir>/<class>/<file>`` (ImageNet's val layout), or a
TFRecord directory with ``validation-*`` shards and labels.txt. Each image is decoded and
resized and cropped exactly as Hendrycks' ``make_imagenet_c.py`` does (torchvision
``Resize(--resize_size)`` + ``CenterCrop(--crop_size)`` on the PIL image: PIL's antialiased
bilinear resize, ``preprocessing.pil_resize``), corrupted with the same TensorFlow code and
per-image seed as ``main_classification.py --robustness=on_the_fly``
(``preprocessing/corruptions``), and JPEG-encoded at quality 85 to
``<output_dir>/<corruption>/<severity>/<class>/<file>`` (a non-JPEG name gets ``.jpg``).

Parallel: a tf.data map over all cores; ``--num_shards/--shard_index`` split the files over
processes or machines. Resumable: files are written to a temp name and renamed, and images
whose outputs all exist are skipped, so a killed run continues where it stopped.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from absl import app, flags

if TYPE_CHECKING:  # TensorFlow starts only when the work does
    import tensorflow as tf

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The CLI's flags (defined on demand: engine.config owns --seed in the main program)."""
    flags.DEFINE_string("image_dir", None, "Class-folder split or TFRecord dir (validation-*).")
    flags.DEFINE_string("output_dir", None, "Root of the corrupted tree to write.")
    flags.DEFINE_string("corruptions", "all", "all, standard, extra or a comma list of names.")
    flags.DEFINE_string("severities", "1-5", "e.g. 1-5 or 1,3,5.")
    flags.DEFINE_integer("resize_size", 256, "Shorter side before the centre crop.")
    flags.DEFINE_integer("crop_size", 224, "Centre crop size (the corrupted images' size).")
    flags.DEFINE_integer("jpeg_quality", 85, "JPEG quality of the written files.")
    flags.DEFINE_integer("seed", 0, "Corruption seed (as --corruption_seed of the evaluation).")
    flags.DEFINE_integer("num_shards", 1, "Processes sharing the files.")
    flags.DEFINE_integer("shard_index", 0, "This process's index in [0, num_shards).")


def list_inputs(image_dir: str) -> tuple[tf.data.Dataset, list[str]]:
    """(records dataset {"encoded", "label", "filename"}, class names) of the split."""
    import glob

    from datasets.errors import DataError
    from datasets.folders import read_image_folder, scan_split
    from datasets.tfrecords import read_label_file, read_tfrecords

    if not os.path.isdir(image_dir):
        raise DataError(f"--image_dir {image_dir} does not exist or is not a directory")
    shards = sorted(glob.glob(os.path.join(image_dir, "validation-*")))
    if shards:
        names = read_label_file(image_dir)
        if not names:
            raise DataError(f"{image_dir} has validation-* shards but no labels.txt to name "
                            "the class folders")
        records = read_tfrecords(shards, training=False, seed=0)
        return records, names
    paths, labels, names, _ = scan_split(image_dir)
    return read_image_folder(paths, labels, training=False, seed=0), names


def output_name(filename: str) -> str:
    stem, ext = os.path.splitext(filename)
    return filename if ext.lower() in (".jpg", ".jpeg") else stem + ".jpg"


def main(argv: list[str]) -> None:
    del argv
    from datasets.errors import DataError
    try:
        written = build(FLAGS.image_dir, FLAGS.output_dir, FLAGS.corruptions, FLAGS.severities,
                        FLAGS.resize_size, FLAGS.crop_size, FLAGS.jpeg_quality, FLAGS.seed,
                        FLAGS.num_shards, FLAGS.shard_index)
    except (DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"{written} file(s) written under {FLAGS.output_dir}")


def build(image_dir: str, output_dir: str, corruptions: str = "all", severities: str = "1-5",
          resize_size: int = 256, crop_size: int = 224, jpeg_quality: int = 85, seed: int = 0,
          num_shards: int = 1, shard_index: int = 0) -> int:
    """Writes the tree; returns the number of files written by this call."""
    import tensorflow as tf

    from preprocessing import pil_resize
    from preprocessing.corruptions import registry

    if not image_dir or not output_dir:
        raise ValueError("--image_dir and --output_dir are required")
    if not 1 <= crop_size <= resize_size:
        raise ValueError(f"--crop_size ({crop_size}) must be in 1..--resize_size "
                         f"({resize_size})")
    if crop_size < 32:
        raise ValueError(f"--crop_size must be >= 32 (the corruptions' minimum), got "
                         f"{crop_size}")
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"--jpeg_quality must be in 1..100, got {jpeg_quality}")
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"--shard_index must be in [0, --num_shards={num_shards})")
    names = registry.parse_corruptions(corruptions)
    levels = registry.parse_severities(severities)
    pairs = [(n, s) for n in names for s in levels]
    records, class_names = list_inputs(image_dir)

    def targets(label, filename):
        cls, name = class_names[label], output_name(filename)
        return [os.path.join(output_dir, n, str(s), cls, name) for n, s in pairs]

    def todo(index, record):
        if index % num_shards != shard_index:
            return False
        return not all(os.path.exists(p) for p in targets(int(record["label"]),
                                                          record["filename"].decode()))

    # Decide in Python which images still need work (resume), then corrupt those in tf.data.
    keep = [i for i, r in enumerate(records.as_numpy_iterator()) if todo(i, r)]
    if not keep:
        return 0
    keep_set = tf.constant(keep, tf.int64)

    def wanted(index, _):
        return tf.reduce_any(tf.equal(keep_set, index))

    def corrupt_all(index, record):
        image = pil_resize.imagenet_c_crop(record["encoded"], resize_size, crop_size)
        outputs = []
        for n, s in pairs:
            key = registry.image_seed(record["filename"], record["encoded"], n, s, seed)
            outputs.append(tf.io.encode_jpeg(registry.corrupt(image, n, s, key),
                                             quality=jpeg_quality))
        return {"label": record["label"], "filename": record["filename"],
                "jpegs": tf.stack(outputs)}

    ds = (records.enumerate().filter(wanted)
          .map(corrupt_all, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
          .prefetch(tf.data.AUTOTUNE))
    written = 0
    for item in ds.as_numpy_iterator():
        paths = targets(int(item["label"]), item["filename"].decode())
        for path, data in zip(paths, item["jpegs"]):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.tmp-{os.getpid()}"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            written += 1
    return written


def cli() -> None:
    """The ``assembled-build-corrupted`` console script (``python -m
    datasets.build_corrupted``)."""
    define_flags()
    app.run(main)


if __name__ == "__main__":
    cli()
