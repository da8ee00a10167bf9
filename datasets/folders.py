"""Class-per-folder image trees: ``<root>/<split>/<class>/<image>.{jpg,jpeg,png}``.

`scan_image_folder` lists one split (no TensorFlow needed; the TFRecord builder uses it too)
and `read_image_folder` turns the list into the reader's records
``{"encoded": undecoded file bytes, "label": int32, "filename": basename}``.
Images are not decoded here; files that turn out not to be images fail later, in the
decoding step of the training pipeline (build TFRecords to have them validated up front).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from datasets.errors import DataError

if TYPE_CHECKING:  # TensorFlow starts only when the work does
    import tensorflow as tf

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")  # compared case-insensitively
EVAL_SPLIT_DIRS = ("validation", "val", "test")  # first one that exists is the eval split


def is_image_file(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def list_class_dirs(split_dir: str) -> list[str]:
    """Sorted names of the non-hidden subdirectories of `split_dir`."""
    return sorted(name for name in os.listdir(split_dir)
                  if not name.startswith(".") and os.path.isdir(os.path.join(split_dir, name)))


def find_split_dirs(root: str) -> dict[str, str]:
    """{"train": <root>/train, "validation": first of <root>/{validation,val,test}} (existing)."""
    splits = {}
    if os.path.isdir(os.path.join(root, "train")):
        splits["train"] = os.path.join(root, "train")
    for name in EVAL_SPLIT_DIRS:
        if os.path.isdir(os.path.join(root, name)):
            splits["validation"] = os.path.join(root, name)
            break
    return splits


def scan_split(split_dir: str, class_names: list[str] | None = None
               ) -> tuple[list[str], list[int], list[str], list[str]]:
    """Like `scan_image_folder`, plus the list of ignored non-image files."""
    if not os.path.isdir(split_dir):
        raise DataError(f"image folder {split_dir} does not exist or is not a directory")
    folders = list_class_dirs(split_dir)
    if not folders:
        raise DataError(f"no class folder in {split_dir} (expected {split_dir}/<class>/*.jpg)")
    if class_names is None:
        class_names = folders
    else:
        class_names = list(class_names)
        index = set(class_names)
        for folder in folders:
            if folder not in index:
                raise DataError(f"class folder {os.path.join(split_dir, folder)} is not one of "
                                f"the {len(class_names)} classes of the train split")
    label_of = {name: i for i, name in enumerate(class_names)}
    paths, labels, ignored = [], [], []
    for folder in folders:
        class_dir = os.path.join(split_dir, folder)
        for name in sorted(os.listdir(class_dir)):
            path = os.path.join(class_dir, name)
            if not os.path.isfile(path):
                continue
            if is_image_file(name):
                paths.append(path)
                labels.append(label_of[folder])
            else:
                ignored.append(path)
    if not paths:
        raise DataError(f"no image files ({', '.join('*' + e for e in IMAGE_EXTENSIONS)}) "
                        f"in {split_dir}/<class>/")
    return paths, labels, class_names, ignored


def scan_image_folder(split_dir: str, class_names: list[str] | None = None
                      ) -> tuple[list[str], list[int], list[str]]:
    """(paths, 0-based labels, class_names) of one split directory.

    Classes are the sorted subfolder names, or `class_names` (those of the train split) for
    an eval split, where a folder that is not a known class is an error. Files are kept by
    extension (.jpg/.jpeg/.png, any case), sorted by class then file name.
    """
    paths, labels, class_names, _ = scan_split(split_dir, class_names)
    return paths, labels, class_names


def read_image_folder(paths: Sequence[str], labels: Sequence[int], *, training: bool, seed: int,
                      input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """tf.data records of the given files: {"encoded", "label" int32, "filename"}.

    Sharded by record across input pipelines (each file seen by one pipeline); when
    training the file list of the pipeline is shuffled (full buffer) with `seed`.
    """
    import tensorflow as tf

    paths = [str(p) for p in paths]
    if len(paths) != len(labels):
        raise DataError(f"{len(paths)} image paths but {len(labels)} labels")
    ds = tf.data.Dataset.from_tensor_slices({
        "path": tf.constant(paths, tf.string),
        "label": tf.constant(list(labels), tf.int32),
        "filename": tf.constant([os.path.basename(p) for p in paths], tf.string)})
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if training:
        ds = ds.shuffle(max(1, len(paths)), seed=seed, reshuffle_each_iteration=True)

    def load(item):
        return {"encoded": tf.io.read_file(item["path"]), "label": item["label"],
                "filename": item["filename"]}

    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
