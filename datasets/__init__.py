"""Datasets: the registry, the TFRecord builders and the readers of undecoded records.

Official on-disk layouts of the transfer datasets are parsed by `datasets.layouts`
(`LAYOUTS`) and written as TFRecords by the `datasets.build_fgvc` CLI.

Every reader yields ``{"encoded": tf.string (JPEG/PNG bytes, not decoded), "label": tf.int32
(as stored, 0-based), "filename": tf.string (basename, may be '')}``; `resolve_source` turns
``--dataset_name``/``--data_dir`` into a `DataSource` with ``train_records`` and
``eval_records``. Importing this package does not import TensorFlow (the builder CLI and
its error path stay fast); the TensorFlow-based names below are loaded on first use.
"""

from datasets.errors import DataError
from datasets.registry import DATASETS, DatasetInfo, get_dataset_info

_LAZY = {
    "DataSource": "datasets.source",
    "resolve_source": "datasets.source",
    "check_labels": "datasets.source",
    "list_shards": "datasets.tfrecords",
    "parse_record": "datasets.tfrecords",
    "read_tfrecords": "datasets.tfrecords",
    "count_records": "datasets.tfrecords",
    "read_dataset_info": "datasets.tfrecords",
    "read_label_file": "datasets.tfrecords",
    "scan_image_folder": "datasets.folders",
    "read_image_folder": "datasets.folders",
    "read_tfds": "datasets.tfds_source",
    "load_digits_splits": "datasets.digits",
    "read_digits": "datasets.digits",
    "build_dataset": "datasets.build_tfrecords",
    "build_from_items": "datasets.build_tfrecords",
    "LAYOUTS": "datasets.layouts",
    "parse_layout": "datasets.layouts",
}

__all__ = ["DataError", "DATASETS", "DatasetInfo", "get_dataset_info", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'datasets' has no attribute {name!r}")
