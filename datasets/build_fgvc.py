"""Build sharded TFRecords of a transfer dataset from its official on-disk layout.

``python -m datasets.build_fgvc --dataset=NAME --raw_dir=DIR --output_dir=OUT
[--train_shards=128] [--validation_shards=16] [--num_workers=N] [--seed=0] [--nocheck_sizes]
[--keep_banner]``

NAME is a key of `datasets.layouts.LAYOUTS` (food101, cars196, cars196_zeroshot,
fgvc_aircraft, oxford_iiit_pet, oxford_flowers102, cub_200_2011, cub_200_2011_zeroshot, sop,
dtd, eurosat, sun397); DIR is the unpacked official download (layouts in
`datasets/layouts.py`). The output is what `datasets/build_tfrecords.py` writes (train-* and
validation-* shards, labels.txt, dataset_info.json, ...), so ``--dataset_name=OUT`` (or
``--dataset_name=NAME --data_dir=OUT``) reads it back. ``--seed`` seeds the file-to-shard
shuffle and, for EuroSAT, the train/test split (so it is part of the build's identity).

``--check_sizes`` (default on here, off in the library) refuses a copy whose class count or
split sizes differ from the registry's: a partial download would otherwise train silently on
less data. Bad input prints one ``error: ...`` line on stderr and exits with code 2.
"""

from __future__ import annotations

import logging
import sys

from datasets.build_tfrecords import build_from_items, run_cli
from datasets.errors import DataError
from datasets.layouts import LAYOUTS, Layout, check_sizes, parse_layout

log = logging.getLogger(__name__)


def build_fgvc(dataset: str, raw_dir: str, output_dir: str, *, train_shards: int = 128,
               validation_shards: int = 16, num_workers: int | None = None, seed: int = 0,
               check: bool = False, keep_banner: bool = False,
               layout: Layout | None = None) -> dict:
    """Parse `raw_dir` as `dataset` (or take a parsed `layout`) and write its TFRecords.

    Returns the dataset_info dict. check: DataError unless sizes equal the registry's.
    """
    if not dataset:
        raise DataError(f"--dataset is required: one of {', '.join(sorted(LAYOUTS))}")
    if not output_dir:
        raise DataError("--output_dir is required")
    if layout is None:
        if not raw_dir:
            raise DataError("--raw_dir is required (the unpacked official dataset)")
        layout = parse_layout(dataset, raw_dir, seed=seed)
    if check:
        check_sizes(layout)
    crop = 0 if keep_banner else layout.crop_bottom
    log.info("%s in %s: %d classes, %s", layout.name, layout.root, len(layout.class_names),
             ", ".join(f"{s}: {len(v)} images" for s, v in layout.splits.items()))
    return build_from_items(
        layout.splits, layout.class_names, output_dir, root=layout.root,
        train_shards=train_shards, validation_shards=validation_shards,
        num_workers=num_workers, seed=seed, crop_bottom=crop,
        split_class_names=layout.split_class_names, extra_config={"dataset": layout.name})


def _define_flags():
    from absl import flags
    flags.DEFINE_string("dataset", None, f"One of {', '.join(sorted(LAYOUTS))}.")
    flags.DEFINE_string("raw_dir", None, "The unpacked official dataset (or its parent).")
    flags.DEFINE_string("output_dir", None, "Where the TFRecord shards and metadata go.")
    flags.DEFINE_integer("train_shards", 128, "Number of train shards.")
    flags.DEFINE_integer("validation_shards", 16, "Number of validation shards (0: none).")
    flags.DEFINE_integer("num_workers", None, "Shards built in parallel (default: CPUs).")
    flags.DEFINE_integer("seed", 0, "Seed of the file-to-shard shuffle and of the EuroSAT "
                         "train/test split.")
    flags.DEFINE_bool("check_sizes", True, "Refuse a copy whose class count or split sizes "
                      "differ from the registry's.")
    flags.DEFINE_bool("keep_banner", False, "FGVC-Aircraft: keep the 20-px copyright banner "
                      "(cropped by default).")
    return flags.FLAGS


def main(argv: list[str]) -> int:
    from absl import flags
    f = flags.FLAGS
    return run_cli(argv, lambda: build_fgvc(
        f.dataset, f.raw_dir, f.output_dir, train_shards=f.train_shards,
        validation_shards=f.validation_shards, num_workers=f.num_workers, seed=f.seed,
        check=f.check_sizes, keep_banner=f.keep_banner))


def cli() -> None:
    """The ``assembled-build-fgvc`` console script (``python -m datasets.build_fgvc``)."""
    from absl import app

    from datasets.build_tfrecords import _parse_flags
    _define_flags()
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=_parse_flags)


if __name__ == "__main__":
    cli()
