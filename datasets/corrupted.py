"""Corrupted evaluation sets for the robustness report, as `DataSource`s of one
(corruption, severity) each:

- ``tree:DIR``: the published ImageNet-C layout ``DIR/<corruption>/<severity>/<class>/<file>``
  (also what ``python -m datasets.build_corrupted`` writes). Class folders map to labels
  by the class names of the clean dataset (labels.txt / dataset_info.json / the folders),
  so a folder that is not one of its classes is an error.
- ``tfds:NAME[@DATA_DIR]``: TFDS ``imagenet2012_corrupted`` or ``cifar10_corrupted``, config
  ``<corruption>_<severity>``.

Images of both are already at their final size (the generator's centre crop), so the
evaluation only resizes when the size differs from the model's, and normalises.
"""

from __future__ import annotations

import os

from datasets.errors import DataError
from datasets.folders import read_image_folder, scan_split
from datasets.source import DataSource
from datasets.tfds_source import read_tfds

# TFDS corrupted sets: name -> split with the labels.
TFDS_SPLITS = {"imagenet2012_corrupted": "validation", "cifar10_corrupted": "test"}
KINDS = ("on_the_fly", "tree:DIR", "tfds:NAME[@DATA_DIR]")


def parse_flag(text: str) -> tuple[str, str | None, str | None]:
    """'on_the_fly' | 'tree:DIR' | 'tfds:NAME[@DATA_DIR]' -> (kind, location, data_dir)."""
    text = (text or "").strip()
    if text == "on_the_fly":
        return "on_the_fly", None, None
    kind, _, rest = text.partition(":")
    if kind == "tree" and rest:
        if not os.path.isdir(rest):
            raise DataError(f"--robustness tree:{rest}: directory does not exist")
        return "tree", rest, None
    if kind == "tfds" and rest:
        name, _, data_dir = rest.partition("@")
        if name not in TFDS_SPLITS:
            raise DataError(f"--robustness tfds:{name}: not a corrupted TFDS dataset "
                            f"({', '.join(TFDS_SPLITS)})")
        return "tfds", name, data_dir or None
    raise DataError(f"--robustness={text!r}: expected one of {', '.join(KINDS)}")


def tree_source(root: str, corruption: str, severity: int,
                class_names: list[str] | None, num_classes: int) -> DataSource:
    """One severity of one corruption of an ImageNet-C-layout tree."""
    split_dir = os.path.join(root, corruption, str(severity))
    if not os.path.isdir(split_dir):
        raise DataError(f"corruption tree {root} has no {corruption}/{severity}/ "
                        f"(missing {split_dir})")
    if not class_names:
        raise DataError(f"reading {root} needs the class names of the clean dataset "
                        "(labels.txt or class folders) to map its class folders to labels")
    paths, labels, _, _ = scan_split(split_dir, class_names)
    return DataSource(
        kind="folder", num_classes=num_classes, class_names=list(class_names),
        train_size=None, eval_size=len(paths), default_preprocessing="",
        description=f"{split_dir} ({len(paths)} images)", data_dir=split_dir,
        _train_fn=None,
        _eval_fn=lambda input_context: read_image_folder(
            paths, labels, training=False, seed=0, input_context=input_context))


def tfds_source(name: str, corruption: str, severity: int, data_dir: str | None,
                num_classes: int, label_offset: int = 0) -> DataSource:
    """One config of a TFDS corrupted set (labels + ``label_offset``, e.g. 1 for a
    1001-class ImageNet model)."""
    split = TFDS_SPLITS[name]
    full_name = f"{name}/{corruption}_{severity}"
    records, info = read_tfds(full_name, split, data_dir=data_dir, training=False, seed=0,
                              label_offset=label_offset)
    try:
        size = info.splits[split].num_examples
    except KeyError:  # no split metadata (a hand-made or mocked copy): count the records
        size = int(records.reduce(0, lambda n, _: n + 1))
    return DataSource(
        kind="tfds", num_classes=num_classes, class_names=None, train_size=None,
        eval_size=int(size), default_preprocessing="",
        description=f"TFDS {full_name} ({split}, {size} images)", data_dir=data_dir,
        _train_fn=None,
        _eval_fn=lambda input_context: _read(full_name, split, data_dir, label_offset,
                                             input_context))


def _read(full_name, split, data_dir, label_offset, input_context):
    records, _ = read_tfds(full_name, split, data_dir=data_dir, training=False, seed=0,
                           input_context=input_context, label_offset=label_offset)
    return records
