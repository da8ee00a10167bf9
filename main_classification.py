r"""Train, evaluate, fine-tune and export a ResNet image classifier.

    python main_classification.py                       # embedded default: digits, minutes on CPU
    python main_classification.py --config configs/vanilla_r50_imagenet.yaml \
        --data_dir /data/imagenet-tfrecords --model_dir /runs/r50
    python main_classification.py --dataset_name /data/cifar10 --preprocessing_type small_32
    python main_classification.py --config configs/vanilla_r50_imagenet.yaml \
        --data_dir /data/imagenet-tfrecords --model_dir /runs/r50 \
        --robustness on_the_fly                          # ImageNet-C mCE, corrupted in-graph

Flags keep the names and meanings of clovaai/assembled-cnn (listed below by topic;
`core/settings.py` defines them); `--config` takes YAML presets, and flags on the command
line win.
Exit codes: 0 done; 2 bad input or an unusable run directory (one `error:` line on stderr);
3 the loss diverged (the last good checkpoint is kept); 75 preempted by SIGTERM/SIGINT (a
checkpoint was saved at the next step boundary: run the same command again to resume).
"""

import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from core import config  # noqa: E402

config.define_flags()


def _repair_double_equals(argv):
    """The original README writes `--model_dir==/path` (a typo its absl version read as the
    value "=/path"). Read it as `--model_dir=/path` and say so, rather than writing into a
    directory named "=/path"."""
    out = []
    for arg in argv:
        if arg.startswith("--") and "==" in arg and "=" not in arg.split("==", 1)[0]:
            name, value = arg.split("==", 1)
            print(f"warning: read {arg!r} as '{name}={value}' (the original README's '==')",
                  file=sys.stderr)
            arg = f"{name}={value}"
        out.append(arg)
    return out


HELP_FLAGS = ("--help", "-help", "-h", "--helpshort", "-?")


def _usage() -> str:
    """The module doc; under a console script (assembled-train, assembled-export) its
    examples name that script."""
    from core.console import running_script
    script = running_script()
    if script == "assembled-export":
        return ("Export a run's checkpoint and check the reloaded artifacts.\n\n"
                "    assembled-export --model_dir=RUN --export_dir=DIR "
                "[--export_format=savedmodel,keras,litert,onnx] [--eval_checkpoint=best]\n\n"
                "assembled-export is `python main_classification.py --export_only`; the flags "
                "below are main_classification.py's:\n\n" + __doc__)
    if script:
        return __doc__.replace("python main_classification.py", script)
    return __doc__


def _parse_flags(argv):
    if any(arg in HELP_FLAGS for arg in argv[1:]):  # ours, grouped by topic (core/help.py)
        from core.help import format_help
        sys.stdout.write(format_help(_usage()))
        sys.exit(0)
    try:
        return flags.FLAGS(_repair_double_equals(argv))
    except flags.Error as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        sys.exit(2)


def _out_of_memory(error: BaseException) -> str:
    """What ran out, when ``error`` is TensorFlow's ResourceExhaustedError or a MemoryError
    (sizes are checked before allocation; this is the last line of defence), else ''."""
    if isinstance(error, MemoryError):
        return "MemoryError"
    if type(error).__name__ != "ResourceExhaustedError":
        return ""
    text = " ".join(str(error).split())
    found = re.search(r"OOM when allocating tensor with shape\[[^\]]*\]", text)
    return found.group(0) if found else text[:200] or "ResourceExhaustedError"


def main(argv: list[str]) -> None:
    logging.set_verbosity(logging.WARNING)  # keep TF's checkpoint INFO lines off the console
    if len(argv) > 1:
        print(f"error: unexpected argument {argv[1]!r} (flags look like --name=value)",
              file=sys.stderr)
        sys.exit(2)
    from core.errors import Preempted, UserError
    from datasets.errors import DataError
    try:
        cfg = config.resolve()
        from engine import trainer  # imported late: TensorFlow starts here
        result = trainer.run(cfg)
    except Preempted as e:  # not an error: the run stopped cleanly and resumes when rerun
        print(f"preempted: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except Exception as e:  # noqa: BLE001 -- only running out of memory is turned into a line
        if not _out_of_memory(e):
            raise
        print(f"error: out of memory ({_out_of_memory(e)}): lower --batch_size, "
              "--val_batch_size, the image size (--preprocessing_type) or the network's size",
              file=sys.stderr)
        sys.exit(2)
    if "robustness" in result:
        report = result["robustness"]
        mce = "  ".join(f"{k} {report[k]:.4f}" for k in ("mce_15", "mce_19", "mce_evaluated")
                        if report[k] is not None)
        print(f"final: clean error {report['clean']['error']:.4f} | {mce} | normalised by "
              f"{report['normaliser']} | {result['out_dir']}")
        return
    if "top1" not in result:  # --export_only
        export = result["export"]
        checks = export.get("formats") or {"savedmodel": export}
        print(f"final: exported {result['checkpoint']} to {cfg['export_dir']} | " + " | ".join(
            f"{fmt} top-1 {c['exported_top1']:.4f} (agreement {c['prediction_agreement']:.4f})"
            for fmt, c in checks.items()) + f" on {export['num_images']} images")
        return
    print(f"final: top-1 {result['top1']:.4f} | top-5 {result['top5']:.4f} | "
          f"ECE {result['ece']:.4f} | loss {result['loss']:.4f} | "
          f"{result['count']} eval images | model_dir {cfg['model_dir']}")


def cli() -> None:
    """The ``assembled-train`` console script: ``python main_classification.py``."""
    app.run(main, flags_parser=_parse_flags)


def export_cli() -> None:
    """The ``assembled-export`` console script: ``python main_classification.py
    --export_only`` (export a run's checkpoint to --export_dir, check the reloads)."""
    if not any(a in HELP_FLAGS for a in sys.argv[1:]):
        sys.argv[1:1] = ["--export_only"]
    app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
    cli()
