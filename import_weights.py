"""Import published torchvision / timm / original assembled-cnn ResNet weights as a run directory.

    python import_weights.py --source=resnet50d.safetensors --arch=timm:resnet50d \
        --model_dir=/runs/r50d_timm
    python import_weights.py --source=/ckpts/assemble_r50/model.ckpt-xxx \
        --arch=original:assemble_r50 --model_dir=/runs/assemble_r50
    python main_classification.py --eval_only --model_dir=/runs/r50d_timm --data_dir=...

The run directory gets config.yaml (the settings that reproduce the source network,
``nets.convert.torch_resnet.ARCHITECTURES``, with ``input_standardization: imagenet`` so the
run's own preprocessing gives the source's logits; ``original:*`` = the TF1 checkpoints of
clovaai/assembled-cnn, ``nets.convert.original_tf1``: 1001 classes with background 0, the
original's mean subtraction and its evaluation preprocessing), labels.txt (with --labels) and the
checkpoint ``ckpt-0`` (the network only, no optimizer state), which --eval_only, fine-tuning
(--pretrained_model_checkpoint_path=RUN) and ``run:RUN`` teachers read. --num_classes other
than the source's head keeps the backbone and starts a fresh classifier.
Exit codes: 0 done; 2 bad input (one ``error:`` line on stderr, naming the tensor).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CHECKPOINT = "ckpt-0"


def _architectures() -> list[str]:
    from nets.convert import original_tf1, torch_resnet
    return list(torch_resnet.ARCHITECTURES) + list(original_tf1.ARCHITECTURES)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    archs = _architectures()
    from core.console import prog
    parser = argparse.ArgumentParser(prog=prog("import_weights.py"), description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="state dict: .safetensors (needs the "
                        "safetensors package) or .pth/.pt/.bin (needs torch; weights_only); "
                        "original:* archs: a TF1 checkpoint prefix (model.ckpt-N)")
    parser.add_argument("--arch", required=True, choices=sorted(archs),
                        metavar="ARCH", help="one of: " + ", ".join(archs))
    parser.add_argument("--model_dir", required=True, help="new run directory")
    parser.add_argument("--num_classes", type=int, default=0, help="0 = the source's head; "
                        "another count keeps the backbone and starts a fresh classifier")
    parser.add_argument("--labels", default=None, help="class names, one per line")
    parser.add_argument("--dataset_name", default="imagenet", help="the run's dataset_name")
    parser.add_argument("--preprocessing_type", default=None,
                        help="the run's evaluation preprocessing (default imagenet_224_256; "
                        "original:* archs: the original's, imagenet / imagenet_224_256 / "
                        "imagenet_224_256a)")
    return parser.parse_args(argv)


def import_weights(source: str, arch: str, model_dir: str, num_classes: int = 0,
                   labels: str | None = None, dataset_name: str = "imagenet",
                   preprocessing_type: str | None = None) -> str:
    """Writes the run directory; returns the checkpoint prefix. UserError on bad input."""
    from core import config as config_lib
    from core.errors import ConfigError, RunDirError
    from core.rundir import CONFIG_FILE, RunDir, checkpoint_prefixes
    from core.settings import defaults
    from nets.convert import original_tf1, torch_resnet
    from nets.convert.state_dict import ConversionError, read_state_dict

    converter = original_tf1 if arch in original_tf1.ARCHITECTURES else torch_resnet
    try:
        settings = converter.settings_of(arch)
        if converter is original_tf1:
            state = read_tf1_checkpoint(source)
            preprocessing_type = preprocessing_type or original_tf1.preprocessing_of(arch)
        else:
            state = read_state_dict(source)
        source_classes = converter.source_num_classes(state)
    except ConversionError as e:
        raise ConfigError(str(e)) from None
    preprocessing_type = preprocessing_type or "imagenet_224_256"
    num_classes = num_classes or source_classes
    head = num_classes == source_classes
    names = _read_labels(labels, num_classes)
    from core import fs
    if fs.exists(os.path.join(model_dir, CONFIG_FILE)) or checkpoint_prefixes(model_dir):
        raise RunDirError(f"--model_dir: {model_dir} already holds a run; give a new directory")
    cfg = defaults("original")
    cfg.update(settings, dataset_name=dataset_name, preprocessing_type=preprocessing_type)
    try:
        config_lib.validate(cfg)
    except ConfigError as e:
        raise ConfigError(f"the settings of {arch}: {e}") from None

    import keras
    import tensorflow as tf

    from engine.checkpoints import write_index
    from nets.factory import build_from_config
    keras.mixed_precision.set_global_policy("float32")
    model = build_from_config(cfg, num_classes)
    try:
        weights = converter.keras_weights(state, settings, arch, head=head)
        torch_resnet.assign(model, weights, arch)
    except ConversionError as e:
        raise ConfigError(f"--source {source}: {e}") from None
    fs.makedirs(model_dir)
    checkpoint = tf.train.Checkpoint(model=model)
    checkpoint.save_counter  # created now so that write() stores it, as save() would
    prefix = checkpoint.write(os.path.join(model_dir, CHECKPOINT))
    write_index(model_dir, [CHECKPOINT])
    facts = {"resolved_num_classes": num_classes,
             "resolved_preprocessing_type": preprocessing_type,
             "data_source": f"weights imported from {arch} ({os.path.abspath(source)})"
                            + ("" if head else f"; fresh {num_classes}-class classifier"),
             "defaults_profile": "original", "config": []}
    RunDir.create(model_dir, config_lib.settings_of(cfg), facts, names)
    return prefix


def read_tf1_checkpoint(prefix: str) -> dict:
    """{variable name: numpy array} of the TF1 (name-based) checkpoint at ``prefix``
    (``model.ckpt-N``, the directory holding it, or its ``.index`` file)."""
    import tensorflow as tf

    from nets.convert.state_dict import ConversionError
    if prefix.endswith(".index"):
        prefix = prefix[:-len(".index")]
    if os.path.isdir(prefix):
        found = tf.train.latest_checkpoint(prefix)
        if found is None:
            raise ConversionError(f"--source: {prefix} holds no TF1 checkpoint")
        prefix = found
    if not os.path.isfile(prefix + ".index"):
        raise ConversionError(f"--source: {prefix}.index is not a file (give a TF1 checkpoint "
                              "prefix such as model.ckpt-12345)")
    try:
        reader = tf.train.load_checkpoint(prefix)
        return {name: reader.get_tensor(name)
                for name in reader.get_variable_to_shape_map()}
    except (tf.errors.OpError, ValueError) as e:
        raise ConversionError(f"--source: {prefix} cannot be read as a TF1 checkpoint "
                              f"({' '.join(str(e).split())[:160]})") from None


def _read_labels(path: str | None, num_classes: int) -> list[str] | None:
    from core.errors import ConfigError
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            names = [line.rstrip("\n") for line in f if line.strip()]
    except (OSError, UnicodeError) as e:
        raise ConfigError(f"--labels: {path} cannot be read ({type(e).__name__})") from None
    if len(names) != num_classes:
        raise ConfigError(f"--labels: {path} has {len(names)} names, the head has "
                          f"{num_classes} classes")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from core.errors import UserError
    try:
        prefix = import_weights(args.source, args.arch, args.model_dir, args.num_classes,
                                args.labels, args.dataset_name, args.preprocessing_type)
    except UserError as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return e.exit_code
    print(f"wrote {prefix} and {os.path.join(args.model_dir, 'config.yaml')} ({args.arch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
