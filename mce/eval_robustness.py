"""clovaai/assembled-cnn's ``mce/eval_robustness.py`` command line, run by this framework.

The original's mCE scripts (``scripts/eval_*_mCE_on_imagenet.sh``) call this file with its own
flags. It is translated, flag by flag, into ``main_classification.py --robustness=tree:DIR``
on the run in --model_dir and that command is run in this process's place (printed first):

  --robustness_type=ce         -> --robustness=tree:<--data_dir> --corruptions=all
                                  --severities=1-5 (the original's 19 corruptions x 5)
  --data_dir                   -> the ImageNet-C tree <corruption>/<severity>/<synset>/*
  --model_dir=DIR | DIR/ckpt-N -> --model_dir=DIR [--eval_checkpoint=DIR/ckpt-N]
                                  (a directory: its latest checkpoint, as the original)
  --gpu_index=0,1,...          -> CUDA_VISIBLE_DEVICES=0,1,... and --num_gpus=-1 (mirrored
                                  over those GPUs; none on a CPU-only host)
  --batch_size                 -> --val_batch_size
  --label_file, --label_offset -> --label_file: the synset of each class folder, in label
                                  order; 1000 synsets for a 1001-class run is label_offset 1
  --num_classes and the network flags (resnet_size, resnet_version, use_sk_block, ...)
                               -> passed on; the run's stored network must agree (a
                                  contradiction is an error naming both values)
  --image_size                 -> checked against the run's eval size
  --data_format                -> the original's tensor layout; Keras computes NHWC here
                                  with the same weights, so both values give the same numbers

``--robustness_type=fr`` (flip rate) was never implemented by the original and is refused.
Flags of main_classification.py after the original's (e.g. ``--severities=1``) are passed on.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from absl import app, flags

HERE = os.path.dirname(os.path.abspath(__file__))
MAIN = os.path.join(os.path.dirname(HERE), "main_classification.py")

flags.DEFINE_string("robustness_type", "ce", "[ce|fr]")
flags.DEFINE_string("gpu_index", "0", "The indices of the GPUs.")
flags.DEFINE_integer("label_offset", 1, "Added to the synset index of --label_file.")
flags.DEFINE_integer("num_classes", 1001, "The number of classes.")
flags.DEFINE_integer("batch_size", 128, "Images per batch.")
flags.DEFINE_integer("image_size", 224, "Input size (must be the run's eval size).")
flags.DEFINE_integer("resnet_size", 50, "ResNet depth.")
flags.DEFINE_integer("resnet_version", 1, "1: ResNet, 2: Big-Little Net.")
flags.DEFINE_enum("data_format", "channels_first", ["channels_first", "channels_last"],
                  "The original's tensor layout.")
flags.DEFINE_boolean("use_resnet_d", False, "")
flags.DEFINE_boolean("use_se_block", False, "")
flags.DEFINE_boolean("use_sk_block", False, "")
flags.DEFINE_boolean("zero_gamma", True, "")
flags.DEFINE_boolean("no_downsample", False, "")
flags.DEFINE_integer("anti_alias_filter_size", 0, "")
flags.DEFINE_string("anti_alias_type", "", "")
flags.DEFINE_integer("bl_alpha", 2, "")
flags.DEFINE_integer("bl_beta", 4, "")
flags.DEFINE_integer("embedding_size", 0, "")
flags.DEFINE_string("pool_type", "gap", "")
flags.DEFINE_string("data_dir", "./imagenet-C", "Root of the ImageNet-C tree.")
flags.DEFINE_string("label_file", "./label.txt", "Synsets, one per line, in label order.")
flags.DEFINE_string("model_dir", "tmp/tfmodel/", "Run directory or checkpoint prefix.")
FLAGS = flags.FLAGS

# The original's network flags, given to main_classification.py only when set explicitly
# (its defaults are not ours; the run's stored network decides).
NETWORK_FLAGS = ("resnet_size", "resnet_version", "use_resnet_d", "use_se_block",
                 "use_sk_block", "no_downsample", "anti_alias_filter_size", "anti_alias_type",
                 "bl_alpha", "bl_beta", "embedding_size", "pool_type", "num_classes")


class TranslationError(Exception):
    pass


def _run_dir_and_checkpoint(model_dir: str) -> tuple[str, str | None]:
    from core import fs
    if fs.isdir(model_dir):
        return model_dir, None
    # normpath would turn gs://bucket into gs:/bucket
    norm = os.path.normpath if fs.is_local(model_dir) else (lambda p: p.rstrip("/"))
    parent = os.path.dirname(model_dir)
    if os.path.basename(norm(parent)) == "best":
        parent = os.path.dirname(norm(parent))
    if not fs.isfile(model_dir + ".index"):
        raise TranslationError(f"--model_dir {model_dir}: neither a run directory nor a "
                               "checkpoint prefix (no .index file)")
    return parent, model_dir


def _eval_size(run_dir: str) -> int | None:
    from core.errors import UserError
    from core.rundir import RunDir
    try:
        run = RunDir.open(run_dir, "--model_dir")
    except UserError as e:
        raise TranslationError(str(e)) from None
    import preprocessing
    try:
        return preprocessing.get_preprocessing(run.preprocessing_type).eval_size
    except ValueError:
        return None


def translate(passthrough: list[str]) -> tuple[list[str], dict[str, str]]:
    """(main_classification.py arguments, environment changes) of the parsed flags."""
    if FLAGS.robustness_type != "ce":
        raise TranslationError(f"--robustness_type={FLAGS.robustness_type}: only 'ce' "
                               "(corruption error); the original never implemented 'fr'")
    run_dir, checkpoint = _run_dir_and_checkpoint(FLAGS.model_dir)
    size = _eval_size(run_dir)
    if FLAGS["image_size"].present and size is not None and FLAGS.image_size != size:
        raise TranslationError(f"--image_size={FLAGS.image_size} but the run in {run_dir} "
                               f"evaluates at {size} (its preprocessing)")
    args = [f"--model_dir={run_dir}", f"--robustness=tree:{FLAGS.data_dir}",
            "--corruptions=all", "--severities=1-5", f"--val_batch_size={FLAGS.batch_size}",
            "--num_gpus=-1"]
    if checkpoint:
        args.append(f"--eval_checkpoint={checkpoint}")
    for name in NETWORK_FLAGS:
        if FLAGS[name].present:
            value = FLAGS[name].value
            args.append(f"--{name}={str(value).lower() if isinstance(value, bool) else value}")
    if FLAGS["label_file"].present or os.path.isfile(FLAGS.label_file):
        if not os.path.isfile(FLAGS.label_file):
            raise TranslationError(f"--label_file: file not found: {FLAGS.label_file}")
        with open(FLAGS.label_file) as f:
            count = sum(1 for line in f if line.strip())
        offset = FLAGS.num_classes - count
        if FLAGS["label_offset"].present and FLAGS.label_offset != offset:
            raise TranslationError(f"--label_offset={FLAGS.label_offset} but --label_file "
                                   f"has {count} synsets for {FLAGS.num_classes} classes "
                                   f"(offset {offset})")
        args.append(f"--label_file={FLAGS.label_file}")
    env = {"CUDA_VISIBLE_DEVICES": FLAGS.gpu_index}
    return args + passthrough, env


def main(argv: list[str]) -> NoReturn:
    passthrough = argv[1:]
    bad = [a for a in passthrough if not a.startswith("--")]
    if bad:
        print(f"error: unexpected argument {bad[0]!r}", file=sys.stderr)
        sys.exit(2)
    try:
        args, env = translate(passthrough)
    except TranslationError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    if FLAGS.data_format == "channels_first":
        print("note: --data_format=channels_first is the original's layout; Keras computes "
              "NHWC here with the same weights (same numbers)", file=sys.stderr)
    os.environ.update(env)
    command = [sys.executable, MAIN] + args
    print("running: " + " ".join(command[1:]), file=sys.stderr, flush=True)
    os.execv(sys.executable, command)


def _parse(argv):
    try:
        return FLAGS(argv, known_only=True)
    except flags.Error as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))
    app.run(main, flags_parser=_parse)
