"""Tests for datasets/layouts.py and datasets/build_fgvc.py against tiny fake copies of each
dataset's official on-disk layout (a few classes, tiny JPEGs, .mat files written with scipy
in the structure of the real ones). No network; everything lives in tmp dirs."""

import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from datasets import DATASETS, DataError
from datasets.build_fgvc import build_fgvc
from datasets.build_tfrecords import build_from_items
from datasets.layouts import LAYOUTS, check_sizes, parse_eurosat, parse_layout

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_seed = [0]


def jpeg(path, height=24, width=20):
    """A tiny random JPEG (directories created)."""
    _seed[0] += 1
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.random.default_rng(_seed[0]).integers(0, 256, (height, width, 3), np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)


def write(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("".join(line + "\n" for line in lines))


# ------------------------------------------------------------ fake official layouts
# Each maker writes the layout under `raw` and returns (class names, {split: Counter of
# (path relative to the dataset root, label)}, relative path of one annotation file, relative
# path of one listed image) -- the last two are deleted by the bad-input tests.


def fake_food101(raw):
    root, classes = os.path.join(raw, "food-101"), ["apple_pie", "baklava", "ramen"]
    write(os.path.join(root, "meta", "classes.txt"), classes)
    split_lines = {"train": [], "validation": []}
    for c in classes:
        for i in range(3):
            jpeg(os.path.join(root, "images", c, f"{100 + i}.jpg"))
            split_lines["train" if i < 2 else "validation"].append(f"{c}/{100 + i}")
    write(os.path.join(root, "meta", "train.txt"), split_lines["train"])
    write(os.path.join(root, "meta", "test.txt"), split_lines["validation"])
    want = {s: Counter((f"images/{line}.jpg", classes.index(line.split("/")[0])) for line in lines)
            for s, lines in split_lines.items()}
    return classes, want, "meta/test.txt", "images/baklava/101.jpg"


def _struct(rows, fields):
    """A MATLAB struct array (1 x N) as scipy.io.savemat writes it from a record array."""
    array = np.zeros((1, len(rows)), dtype=[(f, "O") for f in fields])
    for i, row in enumerate(rows):
        for f, v in zip(fields, row):
            array[0, i][f] = v
    return array


def fake_cars196(raw):
    classes = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "BMW M3 Coupe 2012",
               "Tesla Model S Sedan 2012"]
    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]
    meta = np.empty((1, len(classes)), dtype=object)
    meta[0, :] = classes
    os.makedirs(os.path.join(raw, "devkit"))
    savemat(os.path.join(raw, "devkit", "cars_meta.mat"), {"class_names": meta})
    want = {}
    for split, folder, mat in (("train", "cars_train", "devkit/cars_train_annos.mat"),
                               ("validation", "cars_test", "cars_test_annos_withlabels.mat")):
        rows = []
        for n in range(8):
            fname = "%05d.jpg" % (n + 1)
            jpeg(os.path.join(raw, folder, fname))
            rows.append((1, 2, 15, 20, n % 4 + 1, fname))
        savemat(os.path.join(raw, mat), {"annotations": _struct(rows, fields)})
        want[split] = Counter((f"{folder}/{r[5]}", r[4] - 1) for r in rows)
    return classes, want, "cars_test_annos_withlabels.mat", "cars_train/00003.jpg"


def fake_cars196_zeroshot(raw):
    classes, want, ann, image = fake_cars196(raw)
    both = want["train"] + want["validation"]
    return classes, {"train": Counter({k: v for k, v in both.items() if k[1] < 2}),
                     "validation": Counter({k: v for k, v in both.items() if k[1] >= 2})}, \
        ann, image


def fake_fgvc_aircraft(raw):
    root = os.path.join(raw, "fgvc-aircraft-2013b", "data")
    classes = ["707-320", "Cessna 172", "F/A-18"]
    write(os.path.join(root, "variants.txt"), classes)
    want, image_id = {}, 1000000
    for split, file in (("train", "images_variant_trainval.txt"),
                        ("validation", "images_variant_test.txt")):
        lines = []
        for label, c in enumerate(classes):
            for _ in range(2):
                image_id += 1
                jpeg(os.path.join(root, "images", f"{image_id}.jpg"), height=50)
                lines.append((f"{image_id}", c, label))
        write(os.path.join(root, file), [f"{i} {c}" for i, c, _ in lines])
        want[split] = Counter((f"images/{i}.jpg", label) for i, _, label in lines)
    return classes, want, "images_variant_test.txt", "images/1000002.jpg"


def fake_oxford_iiit_pet(raw):
    breeds = ["Abyssinian", "american_bulldog", "Bengal"]  # class ids 1..3
    want = {}
    for split, file, ids in (("train", "trainval.txt", (1, 2)), ("validation", "test.txt", (3,))):
        lines = ["#Image CLASS-ID SPECIES BREED ID"] if split == "validation" else []
        for c, breed in enumerate(breeds, 1):
            for i in ids:
                jpeg(os.path.join(raw, "images", f"{breed}_{i}.jpg"))
                lines.append(f"{breed}_{i} {c} {1 if breed[0].isupper() else 2} {i}")
        write(os.path.join(raw, "annotations", file), lines)
        want[split] = Counter((f"images/{b}_{i}.jpg", c) for c, b in enumerate(breeds)
                              for i in ids)
    return breeds, want, "annotations/test.txt", "images/Bengal_2.jpg"


def fake_oxford_flowers102(raw):
    labels = [1, 2, 3, 1, 2, 3, 1, 2, 3, 3]  # image i+1 has label labels[i]
    for i in range(len(labels)):
        jpeg(os.path.join(raw, "jpg", "image_%05d.jpg" % (i + 1)))
    savemat(os.path.join(raw, "imagelabels.mat"), {"labels": np.array([labels], np.uint8)})
    ids = {"trnid": [1, 2, 3], "valid": [4, 5, 6], "tstid": [7, 8, 9, 10]}
    savemat(os.path.join(raw, "setid.mat"),
            {k: np.array([v], np.uint16) for k, v in ids.items()})

    def of(image_ids):
        return Counter(("jpg/image_%05d.jpg" % i, labels[i - 1] - 1) for i in image_ids)

    return ["001", "002", "003"], {"train": of(ids["trnid"] + ids["valid"]),
                                   "validation": of(ids["tstid"])}, \
        "setid.mat", "jpg/image_00005.jpg"


def fake_cub_200_2011(raw):
    root = os.path.join(raw, "CUB_200_2011")
    classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross",
               "004.Groove_billed_Ani"]
    write(os.path.join(root, "classes.txt"), [f"{i} {c}" for i, c in enumerate(classes, 1)])
    images, labels, split_flags, want = [], [], [], {"train": Counter(), "validation": Counter()}
    image_id = 0
    for c, name in enumerate(classes, 1):
        for i in range(3):
            image_id += 1
            relative = f"{name}/{name.split('.')[1]}_{i}.jpg"
            jpeg(os.path.join(root, "images", relative))
            images.append(f"{image_id} {relative}")
            labels.append(f"{image_id} {c}")
            split_flags.append(f"{image_id} {1 if i < 2 else 0}")
            want["train" if i < 2 else "validation"][(f"images/{relative}", c - 1)] += 1
    write(os.path.join(root, "images.txt"), images)
    write(os.path.join(root, "image_class_labels.txt"), labels)
    write(os.path.join(root, "train_test_split.txt"), split_flags)
    return classes, want, "image_class_labels.txt", \
        "images/002.Laysan_Albatross/Laysan_Albatross_1.jpg"


def fake_cub_200_2011_zeroshot(raw):
    classes, want, ann, image = fake_cub_200_2011(raw)
    both = want["train"] + want["validation"]
    return classes[:2], {
        "train": Counter({k: v for k, v in both.items() if k[1] < 2}),
        "validation": Counter({(p, label - 2): v for (p, label), v in both.items()
                               if label >= 2})}, \
        ann, image


def fake_sop(raw):
    root = os.path.join(raw, "Stanford_Online_Products")
    want = {}
    for split, file, class_ids in (("train", "Ebay_train.txt", (1, 2, 3)),
                                   ("validation", "Ebay_test.txt", (4, 5))):
        lines, image_id = ["image_id class_id super_class_id path"], 0
        for k, class_id in enumerate(class_ids):
            folder = ("bicycle_final", "cabinet_final")[class_id % 2]
            for i in range(2):
                image_id += 1
                relative = f"{folder}/{1000 + class_id}_{i}.JPG"
                jpeg(os.path.join(root, relative))
                lines.append(f"{image_id} {class_id} {class_id % 2 + 1} {relative}")
        write(os.path.join(root, file), lines)
        want[split] = Counter((line.split()[3], class_ids.index(int(line.split()[1])))
                              for line in lines[1:])
    return ["cabinet_final/1", "bicycle_final/2", "cabinet_final/3"], want, "Ebay_test.txt", \
        "cabinet_final/1003_1.JPG"


def fake_dtd(raw):
    root, classes = os.path.join(raw, "dtd"), ["banded", "dotted", "zigzagged"]
    files = {"train1.txt": [], "val1.txt": [], "test1.txt": []}
    for c in classes:
        for i, file in enumerate(files):
            relative = f"{c}/{c}_{i:04d}.jpg"
            jpeg(os.path.join(root, "images", relative))
            files[file].append(relative)
    for file, lines in files.items():
        write(os.path.join(root, "labels", file), lines)
    want = {"train": Counter((f"images/{r}", classes.index(r.split("/")[0]))
                             for r in files["train1.txt"] + files["val1.txt"]),
            "validation": Counter((f"images/{r}", classes.index(r.split("/")[0]))
                                  for r in files["test1.txt"])}
    return classes, want, "labels/val1.txt", "images/dotted/dotted_0002.jpg"


def fake_eurosat(raw, per_class=5):
    classes = ["AnnualCrop", "Forest", "River"]
    for c in classes:
        for i in range(per_class):
            jpeg(os.path.join(raw, "2750", c, f"{c}_{i + 1}.jpg"), 16, 16)
    return classes


def fake_sun397(raw):
    classes = ["/a/abbey", "/b/bakery/shop", "/z/zoo"]
    partitions = os.path.join(raw, "Partitions")
    write(os.path.join(partitions, "ClassName.txt"), classes)
    want = {}
    for split, file, ids in (("train", "Training_01.txt", (0, 1)),
                             ("validation", "Testing_01.txt", (2,))):
        lines = [f"{c}/sun_{'abcd'[i]}{k}.jpg" for k, c in enumerate(classes) for i in ids]
        for line in lines:
            jpeg(os.path.join(raw, "SUN397", line.lstrip("/")))
        write(os.path.join(partitions, file), lines)
        want[split] = Counter((line.lstrip("/"), classes.index(os.path.dirname(line)))
                              for line in lines)
    return classes, want, "../Partitions/Testing_01.txt", "b/bakery/shop/sun_b1.jpg"


FAKES = {
    "food101": fake_food101, "cars196": fake_cars196,
    "cars196_zeroshot": fake_cars196_zeroshot, "fgvc_aircraft": fake_fgvc_aircraft,
    "oxford_iiit_pet": fake_oxford_iiit_pet, "oxford_flowers102": fake_oxford_flowers102,
    "cub_200_2011": fake_cub_200_2011, "cub_200_2011_zeroshot": fake_cub_200_2011_zeroshot,
    "sop": fake_sop, "dtd": fake_dtd, "sun397": fake_sun397,
}
LISTED = sorted(FAKES)  # every layout but EuroSAT (no annotation files; own tests)


def relative_items(layout):
    return {split: Counter((os.path.relpath(p, layout.root).replace(os.sep, "/"), label)
                           for p, label in items) for split, items in layout.splits.items()}


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    """{name: (raw_dir, classes, want, annotation, image)} for every non-EuroSAT layout."""
    out = {}
    for name in LISTED:
        raw = str(tmp_path_factory.mktemp(name))
        out[name] = (raw, *FAKES[name](raw))
    return out


def read_back(out_dir):
    """{split: Counter((filename, label))} and the DataSource of a built directory."""
    from datasets.source import resolve_source
    source = resolve_source(out_dir, None)
    got = {}
    for split, ds in (("train", source.train_records(seed=0)),
                      ("validation", source.eval_records())):
        got[split] = Counter((r["filename"].numpy().decode(), int(r["label"].numpy()))
                             for r in ds)
    return got, source


def basenames(want):
    """`want` keyed by file basename, as the records store it (counts add up)."""
    out = {}
    for split, counts in want.items():
        out[split] = Counter()
        for (path, label), n in counts.items():
            out[split][(os.path.basename(path), label)] += n
    return out


# ------------------------------------------------------------ registry


def test_every_layout_has_a_registry_entry_with_the_official_sizes():
    assert set(LAYOUTS) <= set(DATASETS)
    sizes = {"food101": (101, 75_750, 25_250), "cars196": (196, 8_144, 8_041),
             "cars196_zeroshot": (196, 8_054, 8_131), "fgvc_aircraft": (100, 6_667, 3_333),
             "oxford_iiit_pet": (37, 3_680, 3_669), "oxford_flowers102": (102, 2_040, 6_149),
             "cub_200_2011": (200, 5_994, 5_794), "cub_200_2011_zeroshot": (100, 5_864, 5_924),
             "sop": (11_318, 59_551, 60_502), "dtd": (47, 3_760, 1_880),
             "eurosat": (10, 18_900, 8_100), "sun397": (397, 19_850, 19_850)}
    assert set(sizes) == set(LAYOUTS)
    for name, want in sizes.items():
        e = DATASETS[name]
        assert (e.num_classes, e.train_size, e.eval_size) == want, name
    assert DATASETS["dtd"].tfds_name == "dtd"
    assert DATASETS["dtd"].train_split == "train+validation"
    assert DATASETS["sun397"].tfds_name == "sun397/standard-part1-120k"
    assert DATASETS["eurosat"].tfds_name is None


# ------------------------------------------------------------ parsers


@pytest.mark.parametrize("name", LISTED)
def test_parser_reads_the_official_layout(fakes, name):
    raw, classes, want, _, _ = fakes[name]
    layout = parse_layout(name, raw)
    assert layout.name == name and layout.class_names == classes
    assert relative_items(layout) == want
    for items in layout.splits.values():
        assert all(os.path.isabs(p) and isinstance(label, int) for p, label in items)
    with pytest.raises(DataError, match=f"{name} in .* registry says"):
        check_sizes(layout)  # a fake is never the full dataset


def test_zeroshot_labels_and_names(fakes):
    cars = parse_layout("cars196_zeroshot", fakes["cars196_zeroshot"][0])
    assert {label for _, label in cars.splits["validation"]} == {2, 3}
    assert not cars.split_class_names
    cub = parse_layout("cub_200_2011_zeroshot", fakes["cub_200_2011_zeroshot"][0])
    assert cub.split_class_names == {"validation": ["003.Sooty_Albatross",
                                                    "004.Groove_billed_Ani"]}
    sop = parse_layout("sop", fakes["sop"][0])
    assert sop.split_class_names == {"validation": ["bicycle_final/4", "cabinet_final/5"]}


def test_parser_accepts_the_dataset_folder_itself(fakes):
    raw = fakes["food101"][0]
    inner = parse_layout("food101", os.path.join(raw, "food-101"))
    assert relative_items(inner) == relative_items(parse_layout("food101", raw))


@pytest.mark.parametrize("name", LISTED)
def test_missing_annotation_file_is_named(fakes, tmp_path, name):
    raw = str(tmp_path / "raw")
    _, _, annotation, _ = FAKES[name](raw)
    layout_root = parse_layout(name, raw).root
    path = os.path.normpath(os.path.join(layout_root, annotation))
    os.remove(path)
    with pytest.raises(DataError, match=f"missing annotation file {path}$"):
        parse_layout(name, raw)


@pytest.mark.parametrize("name", LISTED)
def test_missing_listed_image_is_named(fakes, tmp_path, name):
    raw = str(tmp_path / "raw")
    _, _, _, image = FAKES[name](raw)
    path = os.path.join(parse_layout(name, raw).root, image)
    os.remove(path)
    with pytest.raises(DataError, match=f"image {path} listed in .* does not exist"):
        parse_layout(name, raw)


def test_unexpected_classes_are_errors(tmp_path):
    raw = str(tmp_path / "cub")
    fake_cub_200_2011(raw)
    write(os.path.join(raw, "CUB_200_2011", "image_class_labels.txt"),
          [f"{i} {9 if i == 2 else 1}" for i in range(1, 13)])
    with pytest.raises(DataError, match="image_class_labels.txt: class id 9 is outside "
                                        r"\[1, 4\]"):
        parse_layout("cub_200_2011", raw)
    raw = str(tmp_path / "food")
    fake_food101(raw)
    with open(os.path.join(raw, "food-101", "meta", "train.txt"), "a") as f:
        f.write("pizza/1\n")
    with pytest.raises(DataError, match="train.txt: unknown class 'pizza'"):
        parse_layout("food101", raw)
    raw = str(tmp_path / "pets")
    fake_oxford_iiit_pet(raw)
    write(os.path.join(raw, "annotations", "test.txt"), ["Bengal_3 1 1 3"])
    with pytest.raises(DataError, match="class id 1 is both 'Abyssinian' and 'Bengal'"):
        parse_layout("oxford_iiit_pet", raw)
    raw = str(tmp_path / "sop")
    fake_sop(raw)
    write(os.path.join(raw, "Stanford_Online_Products", "Ebay_test.txt"),
          ["image_id class_id super_class_id path", "1 3 2 cabinet_final/1003_0.JPG"])
    with pytest.raises(DataError, match="class id 3 is also in .*Ebay_train.txt"):
        parse_layout("sop", raw)
    raw = str(tmp_path / "cars")
    fake_cars196(raw)
    rows = [(1, 2, 15, 20, 7, "00001.jpg")]
    savemat(os.path.join(raw, "devkit", "cars_train_annos.mat"),
            {"annotations": _struct(rows, ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2",
                                           "class", "fname"])})
    with pytest.raises(DataError, match=r"cars_train_annos.mat: class id 7 is outside"):
        parse_layout("cars196", raw)


def test_bad_raw_dir_and_unknown_dataset(tmp_path):
    with pytest.raises(DataError, match=f"raw_dir {tmp_path}/nope does not exist"):
        parse_layout("dtd", str(tmp_path / "nope"))
    with pytest.raises(DataError, match=f"missing {tmp_path}/dtd/labels/train1.txt"):
        parse_layout("dtd", str(tmp_path))
    with pytest.raises(DataError, match="unknown dataset 'imagenet': known layouts are "):
        parse_layout("imagenet", str(tmp_path))


# ------------------------------------------------------------ EuroSAT seeded split


def test_eurosat_split_is_seeded_and_per_class(tmp_path):
    raw = str(tmp_path)
    classes = fake_eurosat(raw)

    def split(seed):
        layout = parse_eurosat(raw, seed=seed, test_per_class=2)
        assert layout.class_names == classes
        assert Counter(label for _, label in layout.splits["validation"]) == {0: 2, 1: 2, 2: 2}
        assert Counter(label for _, label in layout.splits["train"]) == {0: 3, 1: 3, 2: 3}
        test = sorted(p for p, _ in layout.splits["validation"])
        assert not set(test) & {p for p, _ in layout.splits["train"]}
        return test

    assert split(0) == split(0)
    assert split(0) != split(1)
    assert LAYOUTS["eurosat"] is parse_eurosat
    with pytest.raises(DataError, match="AnnualCrop has 5 images: not enough for 810 test"):
        parse_layout("eurosat", raw)  # the real rule needs > 810 images per class
    with pytest.raises(DataError, match=f"missing image folder {tmp_path}/x/2750"):
        os.makedirs(tmp_path / "x")
        parse_eurosat(str(tmp_path / "x"))


def test_eurosat_build_records_the_seed(tmp_path):
    raw = str(tmp_path / "raw")
    fake_eurosat(raw)
    out = str(tmp_path / "out")

    def build(seed):
        return build_fgvc(
            "eurosat", raw, out, train_shards=1, validation_shards=1, num_workers=1, seed=seed,
            layout=parse_eurosat(raw, seed=seed, test_per_class=2))

    info = build(5)
    assert info["splits"]["validation"]["num_examples"] == 6
    assert build(5) == info  # resumes: nothing to do
    with pytest.raises(DataError, match="records a different build"):
        build(6)


# ------------------------------------------------------------ building and reading back


@pytest.mark.parametrize("name", LISTED)
def test_build_and_read_back(fakes, tmp_path, name):
    raw, classes, want, _, _ = fakes[name]
    out = str(tmp_path / "records")
    info = build_fgvc(name, raw, out, train_shards=2, validation_shards=1, num_workers=2)
    assert info["class_names"] == classes and info["skipped"] == 0
    got, source = read_back(out)
    assert got == basenames(want)
    assert source.kind == "tfrecord" and source.num_classes == len(classes)
    assert (source.train_size, source.eval_size) == (sum(want["train"].values()),
                                                     sum(want["validation"].values()))
    with open(os.path.join(out, "labels.txt")) as f:
        assert f.read().splitlines() == classes


def test_aircraft_banner_is_cropped_unless_kept(fakes, tmp_path):
    import tensorflow as tf
    raw = fakes["fgvc_aircraft"][0]

    def heights(keep):
        out = str(tmp_path / f"keep{keep}")
        build_fgvc("fgvc_aircraft", raw, out, train_shards=1, validation_shards=1,
                   num_workers=1, keep_banner=keep)
        spec = {"image/height": tf.io.FixedLenFeature([], tf.int64),
                "image/encoded": tf.io.FixedLenFeature([], tf.string)}
        found = set()
        for raw_record in tf.data.TFRecordDataset(tf.io.gfile.glob(f"{out}/train-*")):
            ex = tf.io.parse_single_example(raw_record, spec)
            image = tf.io.decode_jpeg(ex["image/encoded"])
            assert image.shape[0] == int(ex["image/height"])
            found.add(int(ex["image/height"]))
        return found

    assert heights(False) == {30} and heights(True) == {50}


def test_zeroshot_text_of_eval_records_names_the_eval_class(fakes, tmp_path):
    import tensorflow as tf
    out = str(tmp_path / "cub")
    info = build_fgvc("cub_200_2011_zeroshot", fakes["cub_200_2011_zeroshot"][0], out,
                      train_shards=1, validation_shards=1, num_workers=1)
    assert info["num_classes"] == 2
    assert info["splits"]["validation"]["class_names"] == ["003.Sooty_Albatross",
                                                           "004.Groove_billed_Ani"]
    spec = {"image/class/label": tf.io.FixedLenFeature([], tf.int64),
            "image/class/text": tf.io.FixedLenFeature([], tf.string)}
    pairs = set()
    for raw_record in tf.data.TFRecordDataset(f"{out}/validation-00000-of-00001"):
        ex = tf.io.parse_single_example(raw_record, spec)
        pairs.add((int(ex["image/class/label"]), ex["image/class/text"].numpy().decode()))
    assert pairs == {(0, "003.Sooty_Albatross"), (1, "004.Groove_billed_Ani")}


def test_build_from_items_rejects_bad_labels_and_splits(fakes, tmp_path):
    raw, classes, _, _, _ = fakes["dtd"]
    image = os.path.join(raw, "dtd", "images", "banded", "banded_0000.jpg")
    with pytest.raises(DataError, match=r"label 3 of .*banded_0000.jpg is outside \[0, 3\)"):
        build_from_items({"train": [(image, 3)]}, classes, str(tmp_path), root=raw)
    with pytest.raises(DataError, match="no train images listed"):
        build_from_items({"validation": [(image, 0)]}, classes, str(tmp_path), root=raw)
    with pytest.raises(DataError, match="unknown split 'test'"):
        build_from_items({"train": [(image, 0)], "test": [(image, 0)]}, classes,
                         str(tmp_path), root=raw)


# ------------------------------------------------------------ CLI and script


def _cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "datasets.build_fgvc", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_cli_builds_a_fake_copy_with_nocheck_sizes(fakes, tmp_path):
    raw, classes, want, _, _ = fakes["oxford_iiit_pet"]
    out = str(tmp_path / "pets")
    proc = _cli("--dataset=oxford_iiit_pet", f"--raw_dir={raw}", f"--output_dir={out}",
                "--train_shards=2", "--validation_shards=1", "--num_workers=2", "--seed=4",
                "--nocheck_sizes")
    assert proc.returncode == 0, proc.stderr
    got, source = read_back(out)
    assert got == basenames(want) and source.class_names == classes


def test_cli_bad_input_exits_2_with_one_line(fakes, tmp_path):
    raw = fakes["oxford_iiit_pet"][0]
    cases = [(["--dataset=nope", f"--raw_dir={raw}", f"--output_dir={tmp_path}"],
              "unknown dataset 'nope'"),
             ([f"--raw_dir={raw}", f"--output_dir={tmp_path}"], "--dataset is required"),
             (["--dataset=dtd", f"--raw_dir={tmp_path}/missing", f"--output_dir={tmp_path}"],
              f"raw_dir {tmp_path}/missing does not exist"),
             (["--dataset=oxford_iiit_pet", f"--raw_dir={raw}", f"--output_dir={tmp_path}"],
              "oxford_iiit_pet in .* has 3 classes and 6 / 3 train / eval images, the "
              "registry says 37 and 3680 / 3669"),
             (["--train_shards=abc"], "")]
    for args, message in cases:
        proc = _cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert __import__("re").search(message, lines[0]), (message, lines[0])
    assert not [n for n in os.listdir(tmp_path) if n.startswith("train-")]


def test_fgvc_script_fails_clearly(fakes, tmp_path):
    script = os.path.join(ROOT, "scripts", "finetuning_assemble_on_fgvc.sh")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", DATA_DIR=str(tmp_path / "records"),
               RAW_DIR=fakes["cars196"][0], MODEL_DIR=str(tmp_path / "run"), NUM_GPUS="0")
    proc = subprocess.run(["bash", script, "sop"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode == 2 and "error: unknown dataset 'sop'" in proc.stderr
    proc = subprocess.run(["bash", script, "cars196"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 2  # the fake is refused by the size check before any training
    assert "error: cars196 in" in proc.stderr and "registry says 196" in proc.stderr
    for name in ("cars196", "fgvc_aircraft", "oxford_iiit_pet", "oxford_flowers102"):
        assert os.path.exists(os.path.join(ROOT, "configs",
                                           f"assemble_r50_{name}_finetune.yaml"))
