"""Reading a TensorFlow Datasets split as undecoded records.

`read_tfds` loads with ``decoders={"image": tfds.decode.SkipDecoding()}`` so the "image"
feature stays the stored JPEG/PNG bytes, and maps each example to
``{"encoded", "label" (int32, + label_offset), "filename" (basename of "file_name" /
"image/filename" when the builder has one, else '')}``.

Sharding: training with several input pipelines passes the `InputContext` to TFDS (file
sharding) when the split has enough files, and shards records otherwise; evaluation never
shards files: all pipelines read the split in order and keep every n-th record, so each
example is seen exactly once.

Tested offline with `tfds.testing.mock_data`: with SkipDecoding the mock yields real
encoded PNG bytes for the image feature (random pixels), so the records decode like real
ones. Should a builder or mock yield decoded uint8 pixels instead, they are re-encoded to
PNG here, so the record contract holds either way. (The mock cannot generate
caltech_birds2011 examples: its random bboxes fail TFDS's own min <= max check.)
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from datasets.errors import DataError

AUTOTUNE = tf.data.AUTOTUNE
_FILENAME_KEYS = ("file_name", "image/filename")


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"


def read_tfds(name: str, split: str, *, data_dir: str | None = None, training: bool,
              seed: int, input_context: tf.distribute.InputContext | None = None,
              label_offset: int = 0, download: bool = True) -> tuple[tf.data.Dataset, Any]:
    """(records, tfds.core.DatasetInfo) of split `split` of TFDS dataset `name`. Without
    tensorflow-datasets (an optional extra), a DataError naming it."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        # core.extras.missing's wording, spelled out: datasets/ sits below core/
        raise DataError(f"TFDS dataset {name!r} needs tensorflow-datasets, which is not "
                        "installed: pip install tensorflow-datasets (the package's [tfds] "
                        "extra)") from None

    num_pipelines = input_context.num_input_pipelines if input_context is not None else 1
    pipeline_id = input_context.input_pipeline_id if input_context is not None else 0

    def load(context):
        return tfds.load(
            name, split=split, data_dir=data_dir, with_info=True, download=download,
            decoders={"image": tfds.decode.SkipDecoding()}, shuffle_files=training,
            read_config=tfds.ReadConfig(shuffle_seed=seed, input_context=context))

    shard_records = num_pipelines > 1
    try:
        if training and num_pipelines > 1:
            try:
                ds, info = load(input_context)
                shard_records = False
            except ValueError as e:
                if "Cannot shard the pipeline" not in str(e):
                    raise
                ds, info = load(None)  # fewer files than pipelines: shard records
        else:
            ds, info = load(None)
    except DataError:
        raise
    except Exception as e:  # not found, not prepared, download failed, bad split, ...
        where = f" (data_dir {data_dir})" if data_dir else ""
        raise DataError(f"cannot load TFDS dataset {name!r} split {split!r}{where}: "
                        f"{_one_line(e)}") from None

    spec = ds.element_spec
    if "image" not in spec or "label" not in spec:
        raise DataError(f"TFDS dataset {name!r} has no 'image'/'label' features "
                        f"(features: {', '.join(sorted(spec))})")
    filename_key = next((k for k in _FILENAME_KEYS if k in spec), None)
    image_is_encoded = spec["image"].dtype == tf.string

    if shard_records:
        ds = ds.shard(num_pipelines, pipeline_id)

    def to_record(example):
        image = example["image"]
        if not image_is_encoded:  # decoded pixels: re-encode losslessly
            image = tf.io.encode_png(tf.cast(image, tf.uint8))
        if filename_key is not None:
            filename = tf.strings.regex_replace(example[filename_key], r"^.*[/\\]", "")
        else:
            filename = tf.constant("", tf.string)
        return {"encoded": image,
                "label": tf.cast(example["label"], tf.int32) + label_offset,
                "filename": filename}

    return ds.map(to_record, num_parallel_calls=AUTOTUNE, deterministic=True), info
