"""Parsers of the official on-disk layouts of the fine-grained / transfer datasets.

Each parser reads a dataset as its authors distribute it (after unpacking the archives) and
returns a `Layout`: the class names and, per split, a list of (absolute image path, 0-based
label), with ``train`` = the split to train on and ``validation`` = the split to evaluate on
(the official test split). `LAYOUTS` is the explicit registry name -> parser; every name is
also a key of `datasets.registry.DATASETS`. No image is decoded here (the builder does that).

``raw_dir`` may be the dataset's own top folder (``food-101/``) or the folder that holds it.
Every parser checks what it reads: a missing annotation file or a listed image that does not
exist -> DataError naming it; a class id or name that is not one of the classes -> DataError.
Sizes are not checked by the parsers (tests use tiny fakes): `check_sizes` compares a layout
with the registry and raises a DataError on a mismatch; the CLI (`datasets.build_fgvc`) calls
it by default (``--nocheck_sizes`` to build a partial copy anyway).

Decisions (the official layouts leave them open):
- Zero-shot / retrieval sets. ``cars196_zeroshot`` keeps the 196 global labels (classes 0-97
  train, 98-195 eval: the original's config, 196 classes). ``cub_200_2011_zeroshot`` and
  ``sop`` number the labels 0-based *within each split* (classes sorted by official id), as
  their registry entries count only the train classes (100 and 11,318): the eval labels are
  retrieval labels (only equality matters) and their class names are kept per split
  (`Layout.split_class_names`). The zero-shot splits take the first half of the classes for
  training and the second half for eval, with all images of each class (official train and
  test together).
- FGVC-Aircraft: the bottom 20 rows of every image are the authors' copyright banner; the
  layout asks the builder to crop it (`Layout.crop_bottom`; ``--keep_banner`` in the CLI
  keeps it). Labels are the 100 variants in the order of variants.txt; train = trainval.
- Oxford-IIIT Pet: class names are the breed part of the image names (``Abyssinian``),
  labels the official class id - 1. Flowers-102 has no names file: classes are ``001``..
  ``102`` (official label, 1-based); train = trnid + valid, eval = tstid.
- SUN397: labels are the line numbers of Partitions/ClassName.txt (``/a/abbey``); split 01.
- DTD: split 1, train = train1 + val1, eval = test1; classes are the sorted folders of images/.
- EuroSAT (RGB, ``2750/<class>/*.jpg``): no official split. As t-ReX (810 test images per
  class, the rest trainval) but *seeded*: each class's sorted file list is shuffled with
  ``random.Random(f"eurosat:{seed}:{class}")``, and its first ``test_per_class`` files are eval.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Callable

from datasets.errors import DataError
from datasets.registry import get_dataset_info

Items = list[tuple[str, int]]


@dataclass
class Layout:
    name: str  # registry key
    root: str  # the dataset's top folder (file paths are recorded relative to it)
    class_names: list[str]  # classes of the classifier (labels.txt)
    splits: dict[str, Items]  # "train" / "validation" -> [(absolute path, label)]
    split_class_names: dict[str, list[str]] = field(default_factory=dict)
    crop_bottom: int = 0  # rows the builder cuts at the bottom of every image


# ---------------------------------------------------------------- helpers


def _find_root(raw_dir: str, marker: str, *subdirs: str) -> str:
    """The first of raw_dir/<subdir>... and raw_dir that holds `marker`; DataError otherwise."""
    if not raw_dir or not os.path.isdir(raw_dir):
        raise DataError(f"raw_dir {raw_dir} does not exist or is not a directory")
    raw_dir = os.path.abspath(raw_dir)
    candidates = [os.path.join(raw_dir, d) for d in subdirs] + [raw_dir]
    for root in candidates:
        if os.path.exists(os.path.join(root, marker)):
            return root
    raise DataError(f"missing {os.path.join(candidates[0], marker)}: is {raw_dir} an unpacked "
                    f"copy of the official dataset?")


def _read_lines(path: str) -> list[str]:
    """Non-empty, stripped lines of a text file; DataError naming a missing file."""
    if not os.path.isfile(path):
        raise DataError(f"missing annotation file {path}")
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def _fields(path: str, count: int, skip_comments: bool = False) -> list[list[str]]:
    """Lines of `path` split on whitespace into `count` fields (the last keeps its spaces)."""
    rows = []
    for number, line in enumerate(_read_lines(path), 1):
        if skip_comments and line.startswith("#"):
            continue
        parts = line.split(None, count - 1)
        if len(parts) != count:
            raise DataError(f"{path} line {number}: expected {count} fields, got {line!r}")
        rows.append(parts)
    return rows


def _int(value, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {value!r} is not an integer") from None


def _image(root: str, relative: str, listed_in: str) -> str:
    path = os.path.join(root, relative)
    if not os.path.isfile(path):
        raise DataError(f"image {path} listed in {listed_in} does not exist")
    return path


def _label_of(names: list[str], where: str) -> dict[str, int]:
    if not names:
        raise DataError(f"no class in {where}")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DataError(f"{where}: class {dup!r} is listed twice")
    return {name: i for i, name in enumerate(names)}


def _class_index(value: str, label_of: dict[str, int], where: str) -> int:
    if value not in label_of:
        raise DataError(f"{where}: unknown class {value!r} (not one of the "
                        f"{len(label_of)} classes)")
    return label_of[value]


def _class_id(value, num_classes: int, where: str) -> int:
    """0-based label of an official 1-based class id in [1, num_classes]."""
    class_id = _int(value, where)
    if not 1 <= class_id <= num_classes:
        raise DataError(f"{where}: class id {class_id} is outside [1, {num_classes}]")
    return class_id - 1


def _loadmat(path: str) -> dict:
    """A MATLAB file as scipy reads it (squeezed); DataError for a missing or bad file."""
    if not os.path.isfile(path):
        raise DataError(f"missing annotation file {path}")
    from scipy.io import loadmat
    try:
        return loadmat(path, squeeze_me=True)
    except Exception as e:  # scipy raises ValueError, TypeError, MatReadError ...
        raise DataError(f"cannot read {path}: {type(e).__name__}: {e}") from None


def _mat_key(mat: dict, key: str, path: str):
    import numpy as np
    if key not in mat:
        raise DataError(f"{path} has no variable {key!r}")
    return np.atleast_1d(mat[key])


def _zeroshot(layout: Layout, name: str, per_split_labels: bool) -> Layout:
    """First half of the classes -> train, second half -> eval, all images of each class."""
    everything = [item for items in layout.splits.values() for item in items]
    names = layout.class_names
    half = len(names) // 2
    train = [(p, label) for p, label in everything if label < half]
    evaluation = [(p, label) for p, label in everything if label >= half]
    if not per_split_labels:
        return Layout(name, layout.root, names, {"train": train, "validation": evaluation})
    return Layout(name, layout.root, names[:half],
                  {"train": train,
                   "validation": [(p, label - half) for p, label in evaluation]},
                  {"validation": names[half:]})


# ---------------------------------------------------------------- the datasets


def parse_food101(raw_dir: str, seed: int = 0) -> Layout:
    """food-101/meta/{classes,train,test}.txt (lines ``<class>/<id>``), images/<class>/<id>.jpg."""
    root = _find_root(raw_dir, os.path.join("meta", "classes.txt"), "food-101")
    classes_file = os.path.join(root, "meta", "classes.txt")
    names = _read_lines(classes_file)
    label_of = _label_of(names, classes_file)
    splits = {}
    for split, file in (("train", "train.txt"), ("validation", "test.txt")):
        path = os.path.join(root, "meta", file)
        items = []
        for line in _read_lines(path):
            label = _class_index(line.split("/")[0], label_of, path)
            items.append((_image(root, os.path.join("images", line + ".jpg"), path), label))
        splits[split] = items
    return Layout("food101", root, names, splits)


def _cars_annotations(root: str, path: str, images: str, num_classes: int) -> Items:
    mat = _loadmat(path)
    items = []
    for record in _mat_key(mat, "annotations", path):
        try:
            fname, class_id = str(record["fname"]), record["class"]
        except (IndexError, ValueError, TypeError, KeyError):
            raise DataError(f"{path}: 'annotations' records lack the fields fname/class") \
                from None
        items.append((_image(root, os.path.join(images, fname), path),
                      _class_id(class_id, num_classes, path)))
    return items


def parse_cars196(raw_dir: str, seed: int = 0) -> Layout:
    """Stanford Cars: devkit/{cars_meta,cars_train_annos}.mat, cars_test_annos_withlabels.mat
    (in the top folder or devkit/), cars_train/*.jpg, cars_test/*.jpg; labels = class - 1."""
    root = _find_root(raw_dir, os.path.join("devkit", "cars_meta.mat"), "stanford_cars")
    meta = os.path.join(root, "devkit", "cars_meta.mat")
    names = [str(n) for n in _mat_key(_loadmat(meta), "class_names", meta)]
    _label_of(names, meta)
    test_annos = os.path.join(root, "cars_test_annos_withlabels.mat")
    if not os.path.isfile(test_annos) and os.path.isfile(
            os.path.join(root, "devkit", os.path.basename(test_annos))):
        test_annos = os.path.join(root, "devkit", os.path.basename(test_annos))
    splits = {
        "train": _cars_annotations(root, os.path.join(root, "devkit", "cars_train_annos.mat"),
                                   "cars_train", len(names)),
        "validation": _cars_annotations(root, test_annos, "cars_test", len(names))}
    return Layout("cars196", root, names, splits)


def parse_cars196_zeroshot(raw_dir: str, seed: int = 0) -> Layout:
    """Stanford Cars, classes 0-97 train / 98-195 eval, global labels (196 classes)."""
    return _zeroshot(parse_cars196(raw_dir), "cars196_zeroshot", per_split_labels=False)


def parse_fgvc_aircraft(raw_dir: str, seed: int = 0) -> Layout:
    """fgvc-aircraft-2013b/data/{variants.txt, images_variant_{trainval,test}.txt
    (``<id> <variant>``), images/<id>.jpg}; the 20-px banner is cropped by the builder."""
    root = _find_root(raw_dir, "variants.txt", os.path.join("fgvc-aircraft-2013b", "data"),
                      "data")
    variants_file = os.path.join(root, "variants.txt")
    names = _read_lines(variants_file)
    label_of = _label_of(names, variants_file)
    splits = {}
    for split, file in (("train", "images_variant_trainval.txt"),
                        ("validation", "images_variant_test.txt")):
        path = os.path.join(root, file)
        splits[split] = [(_image(root, os.path.join("images", image_id + ".jpg"), path),
                          _class_index(variant, label_of, path))
                         for image_id, variant in _fields(path, 2)]
    return Layout("fgvc_aircraft", root, names, splits, crop_bottom=20)


def parse_oxford_iiit_pet(raw_dir: str, seed: int = 0) -> Layout:
    """annotations/{trainval,test}.txt (``<name> <class 1..37> <species> <breed>``),
    images/<name>.jpg; class names = breed part of the image names."""
    root = _find_root(raw_dir, os.path.join("annotations", "trainval.txt"), "oxford-iiit-pet")
    rows, names = {}, {}
    for split, file in (("train", "trainval.txt"), ("validation", "test.txt")):
        path = os.path.join(root, "annotations", file)
        rows[split] = [(name, _int(class_id, path), path)
                       for name, class_id, _, _ in _fields(path, 4, skip_comments=True)]
        for name, class_id, _ in rows[split]:
            breed = name.rsplit("_", 1)[0]
            if names.setdefault(class_id, breed) != breed:
                raise DataError(f"{path}: class id {class_id} is both {names[class_id]!r} "
                                f"and {breed!r}")
    if sorted(names) != list(range(1, len(names) + 1)):
        raise DataError(f"class ids in {root}/annotations are {sorted(names)[:5]}..., not "
                        f"1..{len(names)} without gaps")
    splits = {split: [(_image(root, os.path.join("images", name + ".jpg"), path),
                       class_id - 1) for name, class_id, path in split_rows]
              for split, split_rows in rows.items()}
    return Layout("oxford_iiit_pet", root, [names[i] for i in sorted(names)], splits)


def parse_oxford_flowers102(raw_dir: str, seed: int = 0) -> Layout:
    """jpg/image_XXXXX.jpg, imagelabels.mat ("labels" 1..102 per image), setid.mat
    ("trnid", "valid", "tstid": 1-based image ids); train = trnid + valid, eval = tstid."""
    root = _find_root(raw_dir, "imagelabels.mat", "flowers-102", "flowers102")
    labels_file = os.path.join(root, "imagelabels.mat")
    labels = [_int(v, labels_file) for v in _mat_key(_loadmat(labels_file), "labels",
                                                     labels_file)]
    num_classes = max(labels)
    if min(labels) < 1 or sorted(set(labels)) != list(range(1, num_classes + 1)):
        raise DataError(f"{labels_file}: labels are not 1..{num_classes} without gaps")
    setid_file = os.path.join(root, "setid.mat")
    setid = _loadmat(setid_file)

    def items(keys):
        out = []
        for key in keys:
            for image_id in _mat_key(setid, key, setid_file):
                image_id = _int(image_id, setid_file)
                if not 1 <= image_id <= len(labels):
                    raise DataError(f"{setid_file}: image id {image_id} in {key!r} is outside "
                                    f"[1, {len(labels)}] (the images of {labels_file})")
                out.append((_image(root, os.path.join("jpg", "image_%05d.jpg" % image_id),
                                   setid_file), labels[image_id - 1] - 1))
        return out

    return Layout("oxford_flowers102", root, ["%03d" % i for i in range(1, num_classes + 1)],
                  {"train": items(("trnid", "valid")), "validation": items(("tstid",))})


def parse_cub_200_2011(raw_dir: str, seed: int = 0) -> Layout:
    """CUB_200_2011/{classes,images,image_class_labels,train_test_split}.txt (``<id> <value>``),
    images/<class folder>/<name>.jpg; labels = class id - 1; split flag 1 = train."""
    root = _find_root(raw_dir, "images.txt", "CUB_200_2011")
    classes_file = os.path.join(root, "classes.txt")
    class_rows = _fields(classes_file, 2)
    if [_int(i, classes_file) for i, _ in class_rows] != list(range(1, len(class_rows) + 1)):
        raise DataError(f"{classes_file}: class ids are not 1..{len(class_rows)} in order")
    names = [name for _, name in class_rows]
    _label_of(names, classes_file)

    def table(file):
        path = os.path.join(root, file)
        return path, {image_id: value for image_id, value in _fields(path, 2)}

    images_file, images = table("images.txt")
    labels_file, labels = table("image_class_labels.txt")
    split_file, is_train = table("train_test_split.txt")
    splits = {"train": [], "validation": []}
    for image_id, relative in images.items():
        for path, mapping in ((labels_file, labels), (split_file, is_train)):
            if image_id not in mapping:
                raise DataError(f"{path} has no line for image id {image_id} of {images_file}")
        if is_train[image_id] not in ("0", "1"):
            raise DataError(f"{split_file}: image {image_id} has split flag "
                            f"{is_train[image_id]!r}, not 0 or 1")
        split = "train" if is_train[image_id] == "1" else "validation"
        splits[split].append((_image(root, os.path.join("images", relative), images_file),
                              _class_id(labels[image_id], len(names), labels_file)))
    return Layout("cub_200_2011", root, names, splits)


def parse_cub_200_2011_zeroshot(raw_dir: str, seed: int = 0) -> Layout:
    """CUB, classes 0-99 train / 100-199 eval; labels 0-based per split (100 classes)."""
    return _zeroshot(parse_cub_200_2011(raw_dir), "cub_200_2011_zeroshot",
                     per_split_labels=True)


def parse_sop(raw_dir: str, seed: int = 0) -> Layout:
    """Stanford_Online_Products/Ebay_{train,test}.txt (header; ``image_id class_id
    super_class_id path``); disjoint train/test classes, labels 0-based per split in order
    of class id; class names ``<super-class folder>/<class id>``."""
    root = _find_root(raw_dir, "Ebay_train.txt", "Stanford_Online_Products")
    splits, split_names, seen = {}, {}, {}
    for split, file in (("train", "Ebay_train.txt"), ("validation", "Ebay_test.txt")):
        path = os.path.join(root, file)
        rows = _fields(path, 4)
        if rows and rows[0][0] == "image_id":
            rows = rows[1:]
        if not rows:
            raise DataError(f"{path} lists no image")
        class_of = {}
        for _, class_id, _, relative in rows:
            class_of.setdefault(_int(class_id, path), relative.split("/")[0])
        for class_id in class_of:
            if class_id in seen:
                raise DataError(f"{path}: class id {class_id} is also in {seen[class_id]} "
                                f"(train and test classes must be disjoint)")
        seen.update({class_id: path for class_id in class_of})
        order = sorted(class_of)
        label_of = {class_id: i for i, class_id in enumerate(order)}
        split_names[split] = [f"{class_of[c]}/{c}" for c in order]
        splits[split] = [(_image(root, relative, path), label_of[int(class_id)])
                         for _, class_id, _, relative in rows]
    return Layout("sop", root, split_names["train"], splits,
                  {"validation": split_names["validation"]})


def parse_dtd(raw_dir: str, seed: int = 0) -> Layout:
    """dtd/images/<class>/*.jpg, dtd/labels/{train1,val1,test1}.txt (``<class>/<file>``)."""
    root = _find_root(raw_dir, os.path.join("labels", "train1.txt"), "dtd")
    image_dir = os.path.join(root, "images")
    if not os.path.isdir(image_dir):
        raise DataError(f"missing image folder {image_dir}")
    names = sorted(n for n in os.listdir(image_dir)
                   if not n.startswith(".") and os.path.isdir(os.path.join(image_dir, n)))
    label_of = _label_of(names, image_dir)
    splits = {"train": [], "validation": []}
    for split, file in (("train", "train1.txt"), ("train", "val1.txt"),
                        ("validation", "test1.txt")):
        path = os.path.join(root, "labels", file)
        splits[split] += [(_image(image_dir, line, path),
                           _class_index(line.split("/")[0], label_of, path))
                          for line in _read_lines(path)]
    return Layout("dtd", root, names, splits)


EUROSAT_TEST_PER_CLASS = 810  # t-ReX (after Feng 2022): 810 test images per class


def parse_eurosat(raw_dir: str, seed: int = 0,
                  test_per_class: int = EUROSAT_TEST_PER_CLASS) -> Layout:
    """EuroSAT RGB 2750/<class>/*.jpg; per class, `test_per_class` seeded random files are
    eval, the rest train (module docstring)."""
    if not raw_dir or not os.path.isdir(raw_dir):
        raise DataError(f"raw_dir {raw_dir} does not exist or is not a directory")
    candidates = [os.path.join(raw_dir, "2750"), os.path.join(raw_dir, "EuroSAT", "2750"),
                  os.path.join(raw_dir, "EuroSAT_RGB")]
    root = next((c for c in candidates if os.path.isdir(c)), None)
    if root is None:
        raise DataError(f"missing image folder {candidates[0]} (EuroSAT RGB: "
                        f"2750/<class>/*.jpg)")
    root = os.path.abspath(root)
    names = sorted(n for n in os.listdir(root)
                   if not n.startswith(".") and os.path.isdir(os.path.join(root, n)))
    if not names:
        raise DataError(f"no class folder in {root}")
    if test_per_class < 1:
        raise DataError(f"test_per_class must be >= 1, got {test_per_class}")
    splits = {"train": [], "validation": []}
    for label, name in enumerate(names):
        folder = os.path.join(root, name)
        files = sorted(f for f in os.listdir(folder)
                       if not f.startswith(".") and f.lower().endswith((".jpg", ".jpeg")))
        if len(files) <= test_per_class:
            raise DataError(f"{folder} has {len(files)} images: not enough for "
                            f"{test_per_class} test images and a train split")
        random.Random(f"eurosat:{seed}:{name}").shuffle(files)
        splits["validation"] += [(os.path.join(folder, f), label) for f in files[:test_per_class]]
        splits["train"] += [(os.path.join(folder, f), label) for f in files[test_per_class:]]
    return Layout("eurosat", root, names, splits)


def parse_sun397(raw_dir: str, seed: int = 0) -> Layout:
    """SUN397/<letter>/<class path>/*.jpg with Partitions/{ClassName,Training_01,
    Testing_01}.txt (lines ``/a/abbey`` and ``/a/abbey/sun_x.jpg``; Partitions/ next to
    SUN397/ or inside it); labels = line of ClassName.txt."""
    partitions = _find_root(raw_dir, "ClassName.txt", "Partitions",
                            os.path.join("SUN397", "Partitions"))
    raw_dir = os.path.abspath(raw_dir)
    root = os.path.join(raw_dir, "SUN397") if os.path.isdir(
        os.path.join(raw_dir, "SUN397")) else raw_dir
    classes_file = os.path.join(partitions, "ClassName.txt")
    names = _read_lines(classes_file)
    label_of = _label_of(names, classes_file)
    splits = {}
    for split, file in (("train", "Training_01.txt"), ("validation", "Testing_01.txt")):
        path = os.path.join(partitions, file)
        splits[split] = [(_image(root, line.lstrip("/"), path),
                          _class_index(os.path.dirname(line), label_of, path))
                         for line in _read_lines(path)]
    return Layout("sun397", root, names, splits)


LAYOUTS: dict[str, Callable[..., Layout]] = {
    "food101": parse_food101,
    "cars196": parse_cars196,
    "cars196_zeroshot": parse_cars196_zeroshot,
    "fgvc_aircraft": parse_fgvc_aircraft,
    "oxford_iiit_pet": parse_oxford_iiit_pet,
    "oxford_flowers102": parse_oxford_flowers102,
    "cub_200_2011": parse_cub_200_2011,
    "cub_200_2011_zeroshot": parse_cub_200_2011_zeroshot,
    "sop": parse_sop,
    "dtd": parse_dtd,
    "eurosat": parse_eurosat,
    "sun397": parse_sun397,
}


def parse_layout(name: str, raw_dir: str, seed: int = 0) -> Layout:
    """The layout of dataset `name` in `raw_dir`; DataError for an unknown name."""
    if name not in LAYOUTS:
        raise DataError(f"unknown dataset {name!r}: known layouts are "
                        f"{', '.join(sorted(LAYOUTS))}")
    return LAYOUTS[name](raw_dir, seed=seed)


def check_sizes(layout: Layout) -> None:
    """DataError unless class count and split sizes equal the registry's (a full copy)."""
    entry = get_dataset_info(layout.name)
    found = (len(layout.class_names), len(layout.splits.get("train", ())),
             len(layout.splits.get("validation", ())))
    wanted = (entry.num_classes, entry.train_size, entry.eval_size)
    if found != wanted:
        raise DataError(f"{layout.name} in {layout.root} has {found[0]} classes and "
                        f"{found[1]} / {found[2]} train / eval images, the registry says "
                        f"{wanted[0]} and {wanted[1]} / {wanted[2]}: incomplete or different "
                        f"copy (--nocheck_sizes builds it anyway)")
