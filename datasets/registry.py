"""Known datasets: class counts, split sizes and defaults (after the original `data_config.py`).

`DATASETS` is an explicit dict name -> `DatasetInfo`. Sizes are those of the original repo's
config (or of the TFDS split for TFDS-only entries); a dataset read from a directory takes
its real sizes from the files (`dataset_info.json`, folder scan or a record count).

Split names (`train_split`, `eval_split`) are TFDS split expressions and are only used for the
TFDS source; TFRecord directories always use the `train-*` / `validation-*` shards. They were
checked against tensorflow-datasets 4.9.10: food101 has train/validation; cifar10/100,
oxford_iiit_pet, cars196 and caltech_birds2011 have train/test; oxford_flowers102 has
train (1,020), validation (1,020) and test (6,149); imagenet2012 has train/validation
(test has no labels); dtd has train/validation/test (1,880 each, split 1); the SUN397 config
``sun397/standard-part1-120k`` has train/test of partition 01 (images resized to at most
120,000 pixels by TFDS); eurosat has a single train split (27,000), so the seeded per-class
split of ``eurosat`` exists only as TFRecords.

The transfer sets (Food-101, Cars, Aircraft, Pets, Flowers, CUB, SOP, DTD, EuroSAT, SUN397)
are built from their official on-disk layouts with ``python -m datasets.build_fgvc``
(`datasets/layouts.py`), which checks the class count and split sizes against this table.
DTD, EuroSAT and SUN397 follow the t-ReX transfer protocol (trainval / test).

ImageNet: the original's TFRecords have 1001 classes (label 0 = background, 1..1000 the
synsets), while TFDS `imagenet2012` has labels 0..999. Two entries model this:
``imagenet`` (1001 classes; TFRecords read as stored; when read from TFDS its labels are
shifted by ``label_offset=1`` so that they match the 1001-class layout and the released
checkpoints) and ``imagenet2012`` (1000 classes, TFDS labels as they are).
``label_offset`` is applied to TFDS labels only.
"""

from __future__ import annotations

from dataclasses import dataclass

from datasets.errors import DataError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    train_size: int
    eval_size: int
    train_split: str = "train"
    eval_split: str = "validation"
    default_preprocessing: str = "imagenet"
    tfds_name: str | None = None
    label_offset: int = 0
    notes: str = ""


_ENTRIES = [
    DatasetInfo("imagenet", 1001, 1_281_167, 50_000, "train", "validation", "imagenet",
                tfds_name="imagenet2012", label_offset=1,
                notes="original 1001-class layout (0 = background); TFRecords store labels "
                      "1..1000; TFDS imagenet2012 labels are shifted by +1"),
    DatasetInfo("imagenet2012", 1000, 1_281_167, 50_000, "train", "validation", "imagenet",
                tfds_name="imagenet2012",
                notes="TFDS imagenet2012 as it is: 1000 classes, labels 0..999 "
                      "(manual download of the ILSVRC2012 tars needed)"),
    DatasetInfo("food101", 101, 75_750, 25_250, "train", "validation", "imagenet",
                tfds_name="food101"),
    DatasetInfo("cifar10", 10, 50_000, 10_000, "train", "test", "small_32",
                tfds_name="cifar10"),
    DatasetInfo("cifar100", 100, 50_000, 10_000, "train", "test", "small_32",
                tfds_name="cifar100"),
    DatasetInfo("oxford_flowers102", 102, 2_040, 6_149, "train+validation", "test",
                "imagenet", tfds_name="oxford_flowers102",
                notes="train = TFDS train (1,020) + validation (1,020); eval = test"),
    DatasetInfo("oxford_iiit_pet", 37, 3_680, 3_669, "train", "test", "imagenet",
                tfds_name="oxford_iiit_pet"),
    DatasetInfo("cars196", 196, 8_144, 8_041, "train", "test", "imagenet",
                tfds_name="cars196"),
    DatasetInfo("cars196_zeroshot", 196, 8_054, 8_131, "train", "validation", "imagenet",
                notes="original zero-shot split: classes 0-97 train, 98-195 eval; "
                      "TFRecords/folders only"),
    DatasetInfo("cub_200_2011", 200, 5_994, 5_794, "train", "test", "imagenet",
                tfds_name="caltech_birds2011",
                notes="full 200-class classification (TFDS caltech_birds2011); the "
                      "original's 100-class zero-shot config is cub_200_2011_zeroshot"),
    DatasetInfo("cub_200_2011_zeroshot", 100, 5_864, 5_924, "train", "validation",
                "imagenet",
                notes="original zero-shot split (classes 0-99 train / 100-199 eval, "
                      "num_classes 100); TFRecords/folders only"),
    DatasetInfo("fgvc_aircraft", 100, 6_667, 3_333, "train", "validation", "imagenet",
                notes="train = train + val variants; not in the stock TFDS catalogue: "
                      "TFRecords/folders only"),
    DatasetInfo("ifood2019", 251, 118_475, 11_994, "train", "validation", "imagenet",
                notes="iFood2019; TFRecords/folders only (no builder in the original)"),
    DatasetInfo("sop", 11_318, 59_551, 60_502, "train", "validation", "imagenet",
                notes="Stanford Online Products; TFRecords/folders only; 11,318 train classes, "
                      "the 11,316 eval classes are disjoint (retrieval): labels are 0-based "
                      "per split"),
    DatasetInfo("dtd", 47, 3_760, 1_880, "train+validation", "test", "imagenet",
                tfds_name="dtd",
                notes="Describable Textures, split 1: train = train1 + val1, eval = test1"),
    DatasetInfo("eurosat", 10, 18_900, 8_100, "train", "validation", "imagenet",
                notes="EuroSAT RGB (64x64): 810 test images per class, the rest trainval "
                      "(t-ReX), drawn with the builder's --seed; TFRecords only (TFDS eurosat "
                      "has one 27,000-image train split)"),
    DatasetInfo("sun397", 397, 19_850, 19_850, "train", "test", "imagenet",
                tfds_name="sun397/standard-part1-120k",
                notes="SUN397 partition 01 (Training_01 / Testing_01); TFDS resizes images to "
                      "at most 120,000 pixels, the TFRecords keep the originals"),
    DatasetInfo("digits", 10, 1_437, 360, "train", "validation", "small_32",
                notes="embedded: scikit-learn load_digits (1,797 real 8x8 digits) upscaled "
                      "to 32x32 RGB PNG; stratified 80/20 split"),
]

DATASETS: dict[str, DatasetInfo] = {entry.name: entry for entry in _ENTRIES}


def get_dataset_info(name: str) -> DatasetInfo:
    """The registry entry of `name`; DataError listing the known names otherwise."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise DataError(f"unknown dataset_name {name!r}: known datasets are "
                        f"{', '.join(sorted(DATASETS))} (or pass a directory path)") from None
