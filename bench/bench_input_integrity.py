"""Throughput of the training input pipeline with the decode-only error scope (issue 15.5).

Command (repository root, venv active):

    python bench/bench_input_integrity.py --image_size 32 --num_images 4000 --repeats 5

Writes `--num_images` random JPEGs of `--image_size` px into 8 TFRecord shards (a temporary
folder) and times `engine.inputs.train_dataset` (files interleaved, shuffle, the run's
training preprocessing -- small_32 for <= 64 px, else imagenet -- batch 128) with three
ways of skipping undecodable images, swapped in for `engine.inputs._decode`:
  map+ignore     the former pipeline: parallel map, then ignore_errors() on its output,
                 which also swallowed the record readers' DataLossError (the silent loss)
  window         the shipped one: windows of DECODE_WINDOW elements, each decoded and
                 ignore_errors()'d in its own sub-dataset (parallel, deterministic)
  per-element    one sub-dataset per element (the simplest decode-only scope)
All three give the same elements in the same order (checked). Variants are interleaved over
`--repeats` rounds and the median img/s is printed.
"""

import argparse
import io
import os
import pathlib
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from datasets.source import resolve_source  # noqa: E402
from engine import inputs  # noqa: E402
from preprocessing import get_preprocessing  # noqa: E402

AUTOTUNE = tf.data.AUTOTUNE
SHIPPED = inputs._decode


def map_then_ignore(ds, decode, strict, first_index=0):
    ds = ds.map(decode, num_parallel_calls=AUTOTUNE)
    ds = ds if strict else ds.ignore_errors()
    return ds.scan(tf.constant(first_index - 1, tf.int64), inputs._count_gaps)


def per_element(ds, decode, strict, first_index=0):
    ds = ds.interleave(lambda i, r: tf.data.Dataset.from_tensors((i, r)).map(
        decode).ignore_errors(), block_length=1, num_parallel_calls=AUTOTUNE,
        deterministic=True)
    return ds.scan(tf.constant(first_index - 1, tf.int64), inputs._count_gaps)


VARIANTS = {"map+ignore": map_then_ignore, "window": SHIPPED, "per-element": per_element}


def write_shards(folder: str, n: int, size: int) -> None:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, size)[None, :, None]
    for s in range(8):
        with tf.io.TFRecordWriter(os.path.join(folder, f"train-{s:05d}-of-00008")) as w:
            for i in range(n // 8):
                pixels = (rng.random((size, size, 3)) * 40 + ramp).astype(np.uint8)
                buf = io.BytesIO()
                Image.fromarray(pixels).save(buf, "JPEG", quality=90)
                feature = {
                    "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[buf.getvalue()])),
                    "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(
                        value=[i % 10]))}
                w.write(tf.train.Example(features=tf.train.Features(
                    feature=feature)).SerializeToString())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--image_size", type=int, default=32)
    p.add_argument("--num_images", type=int, default=4000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=40, help="batches timed per round")
    args = p.parse_args(argv)
    batch = 128
    with tempfile.TemporaryDirectory() as folder:
        write_shards(folder, args.num_images, args.image_size)
        source = resolve_source(folder, None, num_classes=10)
        prep = get_preprocessing("small_32" if args.image_size <= 64 else "imagenet")
        cfg = inputs.PipelineConfig(10, batch, 1000, 0, False)
        ctx = tf.distribute.InputContext()

        def pipeline(variant):
            inputs._decode = VARIANTS[variant]
            try:
                return inputs.train_dataset(source, prep.train, cfg, 0, 0, 10_000, ctx)
            finally:
                inputs._decode = SHIPPED

        reference = [b["label"].numpy() for b in pipeline("map+ignore").take(3)]
        for name in VARIANTS:
            got = [b["label"].numpy() for b in pipeline(name).take(3)]
            assert all(np.array_equal(a, b) for a, b in zip(reference, got)), name
        rates = {name: [] for name in VARIANTS}
        for _ in range(args.repeats):
            for name in VARIANTS:
                it = iter(pipeline(name))
                next(it), next(it)  # warm-up
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    next(it)
                rates[name].append(args.steps * batch / (time.perf_counter() - t0))
    base = statistics.median(rates["map+ignore"])
    print(f"{args.image_size} px, {prep.name} preprocessing, {os.cpu_count()} CPUs, "
          f"median of {args.repeats} rounds:")
    for name, xs in rates.items():
        med = statistics.median(xs)
        print(f"  {name:12s} {med:8.0f} img/s ({med / base - 1:+.0%})  rounds "
              f"{[round(x) for x in xs]}")


if __name__ == "__main__":
    main()
