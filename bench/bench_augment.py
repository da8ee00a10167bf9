"""tf.data throughput of the training augmentations on Imagenette 224 px, per CPU core.

Command (repository root, venv active; ../shared/data beside the repository):

    python bench/bench_augment.py --threads 1 --num_images 400 --repeats 3 \
        --json_out results/bench_augment.json

Pipelines (all: JPEG bytes in memory -> `imagenet` preprocessing, i.e. fused decode + random-
resized crop + flip + resize to 224, -> the augmentation -> normalised float32, batched 64;
RandAugment and RandomErasing run on whole batches as in training, train_augment.
make_train_stages; bench_augment_vs_torchvision.py also times the per-image path):
  base           decode + RRC + flip
  autoaugment    + AutoAugment `imagenet` policy (preprocessing/autoaugment.py)
  randaugment    + RandAugment(2, 9) (DR's 14 ops, preprocessing/randaugment.py)
  ra+erasing     + RandAugment(2, 9) + RandomErasing(p=0.25)
  aa+erasing     + AutoAugment imagenet + RandomErasing(p=0.25): the heaviest chain we ship
  keras_ra       base uint8 + keras.layers.RandAugment(value_range (0, 255), num_ops 2,
                 factor 0.9) per image (Keras 3 core; a different op set and scale)
Each pipeline keeps one iterator across its passes (steady state, as the trainer keeps one
per epoch); the CPU seconds a fresh iterator costs before its first batch are reported apart
(start_up_cpu_s).  No prefetch, and with --threads 1 sequential maps: no pipeline computes
ahead while another is timed (with --threads N, parallel maps run up to N elements ahead).
Every pipeline runs in one process, interleaved over `--repeats` rounds so machine noise hits
all alike; the median img/s is reported. `--threads` bounds tf.data's private thread pool
and intra-op parallelism, so img/s / threads is the per-core rate.

The goal of issue #4: the heaviest chain delivers >= 2x what one core's share of a ResNet-50
training step consumes. Two consumers are reported: (a) measured here, the CPU-only
ResNet-50 train step of results/bench_resnet50.json (float32, 2 cores); (b) a GPU host given by
--gpu_img_s (R50 train img/s of one GPU, an input you state) and --cores_per_gpu; the script
also prints how many cores of this CPU one such GPU needs with 2x headroom.
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import tarfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import environment  # noqa: E402
from preprocessing import get_preprocessing  # noqa: E402
from preprocessing.common import normalize  # noqa: E402
from preprocessing.train_augment import AugmentConfig, make_train_stages  # noqa: E402

DEFAULT_TAR = ROOT.parent / "shared" / "data" / "imagenette2-224.tar.gz"
AUGMENTS = {
    "base": AugmentConfig(),
    "autoaugment": AugmentConfig(autoaugment_type="imagenet"),
    "randaugment": AugmentConfig(randaugment=(2, 9, 0.0)),
    "ra+erasing": AugmentConfig(randaugment=(2, 9, 0.0), random_erasing=0.25),
    "aa+erasing": AugmentConfig(autoaugment_type="imagenet", random_erasing=0.25),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(DEFAULT_TAR),
                   help="Imagenette tar.gz (or a folder of JPEGs, searched recursively)")
    p.add_argument("--num_images", type=int, default=400, help="training JPEGs held in memory")
    p.add_argument("--threads", type=int, default=1, help="tf.data + intra-op threads")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds; median reported")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--gpu_img_s", type=float, default=2500.0,
                   help="assumed ResNet-50 train img/s of one GPU (state your GPU's figure)")
    p.add_argument("--cores_per_gpu", type=float, default=16.0,
                   help="host cores per GPU of that host (e.g. 128 cores / 8 GPUs)")
    p.add_argument("--json_out", default=None)
    return p.parse_args(argv)


def load_jpegs(path: str, n: int) -> list[bytes]:
    """The first n training JPEGs of the archive (or folder), as bytes."""
    if not os.path.exists(path):
        raise SystemExit(f"error: --data {path} does not exist (Imagenette tar from "
                         "../shared/data, see its README)")
    out = []
    if os.path.isdir(path):
        root = pathlib.Path(path)
        for f in sorted(root.rglob("*.JPEG")) + sorted(root.rglob("*.jpg")):
            out.append(f.read_bytes())
            if len(out) == n:
                break
    else:
        with tarfile.open(path) as tar:
            for member in tar:
                name = member.name.lower()
                in_train = "/train/" in name or name.startswith("train/")
                if member.isfile() and in_train and name.endswith((".jpeg", ".jpg")):
                    out.append(tar.extractfile(member).read())
                    if len(out) == n:
                        break
    if len(out) < n:
        raise SystemExit(f"error: --data {path} holds {len(out)} training JPEGs, need "
                         f"--num_images {n}")
    return out


def keras_randaugment_fn(prep):
    layer = keras.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=0.9, seed=0)

    def fn(encoded, seed):
        image = tf.cast(prep.train_uint8(encoded, seed), tf.float32)
        return normalize(layer(image, training=True))
    return fn


def make_dataset(jpegs, fn, threads: int, batch: int, batch_fn=None):
    ds = tf.data.Dataset.from_tensor_slices(jpegs).enumerate()
    parallel = threads if threads > 1 else None  # 1: computed on demand, nothing ahead
    ds = ds.map(lambda i, e: fn(e, tf.stack([tf.constant(0, tf.int64), i])),
                num_parallel_calls=parallel, deterministic=False if parallel else None)
    ds = ds.batch(batch, drop_remainder=batch_fn is not None)  # static, as in training
    if batch_fn is not None:
        ds = ds.map(batch_fn, num_parallel_calls=parallel,
                    deterministic=False if parallel else None)
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    return ds.with_options(options)


class Steady:
    """One iterator over ``ds.repeat()`` kept across passes, as training keeps one per
    epoch: a pass takes ``batches`` batches from it.  A fresh iterator first optimises and
    instantiates the pipeline's functions (the batched stage is a graph of ~1,600 ops:
    ~0.8 s of CPU); that start-up is timed apart (:func:`start_up_s`), not spread over a
    400-image pass as if it were paid per batch."""

    def __init__(self, ds, batches: int):
        self.batches = batches
        self.iterator = iter(ds.repeat())

    def __call__(self, *unused) -> float:
        """Images per wall-clock second over one pass (arguments ignored: called like the
        torchvision loops, which take the images)."""
        start, count = time.perf_counter(), 0
        for _ in range(self.batches):
            count += int(tf.nest.flatten(next(self.iterator))[0].shape[0])
        return count / (time.perf_counter() - start)


def start_up_s(ds) -> float:
    """CPU seconds (process) of a fresh iterator and its first batch, functions already
    traced and XLA kernels already compiled (what each later epoch pays)."""
    cpu = time.process_time()
    next(iter(ds))
    return time.process_time() - cpu


def consumer_rate_cpu() -> float | None:
    """Images/s/core of the CPU ResNet-50 float32 train step measured by bench_resnet50."""
    path = ROOT / "results" / "bench_resnet50.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    for row in data["results"]:
        if row["mode"] == "train" and row["precision"] == "float32":
            return row["ours_img_s"] / data["machine"]["cpu_count"]
    return None


def main(argv=None):
    args = parse_args(argv)
    try:
        tf.config.threading.set_inter_op_parallelism_threads(max(args.threads, 1))
        tf.config.threading.set_intra_op_parallelism_threads(max(args.threads, 1))
    except RuntimeError:  # TensorFlow already initialised (called from tests): the pipeline
        pass              # options below still bound tf.data's own threads
    jpegs = load_jpegs(args.data, args.num_images)
    prep = get_preprocessing("imagenet")
    fns = {name: make_train_stages(prep, aug) for name, aug in AUGMENTS.items()}
    fns["keras_ra"] = (keras_randaugment_fn(prep), None)
    datasets = {name: make_dataset(jpegs, fn, args.threads, args.batch_size, batch_fn)
                for name, (fn, batch_fn) in fns.items()}
    batches = {name: (args.num_images // args.batch_size if batch_fn is not None
                      else -(-args.num_images // args.batch_size))  # one pass = one epoch
               for name, (fn, batch_fn) in fns.items()}
    runs = {name: Steady(ds, batches[name]) for name, ds in datasets.items()}
    for run in runs.values():  # trace, compile and warm every pipeline: one pass
        run()
    start_up = {name: start_up_s(ds) for name, ds in datasets.items()}
    samples = {name: [] for name in datasets}
    for _ in range(args.repeats):
        for name, run in runs.items():
            samples[name].append(run())
    rows = []
    for name, rates in samples.items():
        img_s = statistics.median(rates)
        rows.append({"pipeline": name, "img_s": img_s, "img_s_per_core": img_s / args.threads,
                     "start_up_cpu_s": start_up[name], "samples": rates})
    heaviest = min(r["img_s_per_core"] for r in rows if r["pipeline"] != "keras_ra")
    cpu_consumer = consumer_rate_cpu()
    gpu_share = args.gpu_img_s / args.cores_per_gpu
    goal = {
        "heaviest_chain_img_s_per_core": heaviest,
        "cpu_r50_train_img_s_per_core": cpu_consumer,
        "ratio_vs_cpu_r50": heaviest / cpu_consumer if cpu_consumer else None,
        "assumed_gpu_img_s": args.gpu_img_s, "assumed_cores_per_gpu": args.cores_per_gpu,
        "gpu_r50_img_s_per_core": gpu_share, "ratio_vs_gpu_host": heaviest / gpu_share,
        "cores_per_gpu_for_2x": 2 * args.gpu_img_s / heaviest,
    }
    report = {"config": vars(args), "results": rows, "goal": goal,
              **environment.describe()}
    print(f"{'pipeline':<12} {'img/s':>8} {'img/s/core':>11}   ({args.threads} thread(s), "
          f"{args.num_images} Imagenette JPEGs, median of {args.repeats})")
    for r in rows:
        print(f"{r['pipeline']:<12} {r['img_s']:>8.1f} {r['img_s_per_core']:>11.1f}")
    print(f"heaviest chain {heaviest:.1f} img/s/core; CPU R50 train step consumes "
          f"{cpu_consumer or float('nan'):.2f} img/s/core (ratio "
          f"{goal['ratio_vs_cpu_r50'] or float('nan'):.0f}x); a GPU at {args.gpu_img_s:.0f} "
          f"img/s with {args.cores_per_gpu:.0f} cores/GPU needs {gpu_share:.0f} img/s/core "
          f"(ratio {goal['ratio_vs_gpu_host']:.2f}x; {goal['cores_per_gpu_for_2x']:.1f} cores of "
          "this CPU per GPU give 2x headroom)")
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
