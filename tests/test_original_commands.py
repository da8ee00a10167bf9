"""The original's command lines, run unchanged (issue 14).

Every shell script of clovaai/assembled-cnn's ``scripts/`` and the two evaluation commands of
its README are written out below as they are in the original (commit of the fetched mirror),
with only DATA_DIR / MODEL_DIR / PRETRAINED_PATH swapped for tiny TFRecords made here. Each
chain trains, fine-tunes, evaluates and runs mCE on the networks the original would build:
the parameter count of vanilla ResNet-50 is torchvision's resnet50 (25,557,032 for 1000
classes) with the head resized (1001 classes: +2,049; Food-101: 23,714,981).

To fit CI, every command gets the same few overrides after the original's flags (absl takes
the last value): batch sizes of 2, one epoch of one step, no GPU, no warm-up, fp32 (float16
on a CPU is emulated: one ResNet-50 step took 114 s; runs trained in fp16 and evaluated
without --dtype are tested in test_rundir.py), and for mCE one corruption at one severity.
The vanilla training and fine-tuning and the Assemble-R50 training + README evaluation run in
every test run; the three mCE scripts, the Assemble-R50 fine-tuning and the Assemble-R152
chain (5 commands, several CPU-minutes and up to 10 GB of memory, too much beside the rest
of the suite on CI's 2 cores) run with ``ORIGINAL_COMMANDS=all`` in the environment (use
one worker: -n 1).

The tiny TFRecords carry a dataset_info.json with their record counts (without it the
``imagenet`` entry's 1,281,167 images set the epoch length, as in the original).
"""

import io
import json
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import yaml
from conftest import ROOT
from PIL import Image

from datasets.build_tfrecords import make_example

TRAIN_VANILA_FROM_SCRATCH = r"""
CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 python main_classification.py \
--dataset_name=imagenet \
--data_dir=${DATA_DIR} \
--model_dir=${MODEL_DIR} \
--preprocessing_type=imagenet \
--batch_size=1024 \
--resnet_version=1 \
--resnet_size=50 \
--num_gpus=8 \
--learning_rate_decay_type=cosine \
--weight_decay=1e-4 \
--base_learning_rate=0.4 \
--momentum=0.9 \
--lr_warmup_epochs=5 \
--zero_gamma=True \
--dtype=fp16 \
--epochs_between_evals=5 \
--train_epochs=120
"""

TRAIN_ASSEMBLE_FROM_SCRATCH = r"""
CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 python main_classification.py \
--dataset_name=imagenet \
--data_dir=${DATA_DIR} \
--model_dir=${MODEL_DIR} \
--preprocessing_type=imagenet_224_256 \
--batch_size=1024 \
--mixup_type=1 \
--autoaugment_type=imagenet \
--resnet_version=2 \
--resnet_size=50 \
--use_sk_block=True \
--anti_alias_type=sconv \
--anti_alias_filter_size=3 \
--use_dropblock=True \
--num_gpus=8 \
--learning_rate_decay_type=cosine \
--weight_decay=1e-4 \
--base_learning_rate=0.4 \
--momentum=0.9 \
--lr_warmup_epochs=5 \
--zero_gamma=True \
--label_smoothing=0.1 \
--kd_temp=1 \
--dtype=fp16 \
--epochs_between_evals=10 \
--train_epochs=600
"""

FINETUNING_VANILA_ON_FOOD101 = r"""
CUDA_VISIBLE_DEVICES=0,1,2,3 python main_classification.py \
--preprocessing_type=imagenet \
--dataset_name=food101 \
--data_dir=${DATA_DIR} \
--model_dir=${MODEL_DIR} \
--pretrained_model_checkpoint_path=${PRETRAINED_PATH} \
--num_gpus=4 \
--resnet_version=1 \
--resnet_size=50 \
--batch_size=256 \
--base_learning_rate=0.01 \
--learning_rate_decay_type=cosine \
--lr_warmup_epochs=5 \
--train_epochs=100 \
--bn_momentum=0.966 \
--weight_decay=0.001 \
--keep_checkpoint_max=0 \
--ratio_fine_eval=0.9 \
--epochs_between_evals=10
"""

FINETUNING_ASSEMBLE_ON_FOOD101 = r"""
CUDA_VISIBLE_DEVICES=0,1,2,3 python main_classification.py \
--dataset_name=food101 \
--data_dir=${DATA_DIR} \
--model_dir=${MODEL_DIR} \
--pretrained_model_checkpoint_path=${PRETRAINED_PATH} \
--num_gpus=4 \
--mixup_type=1 \
--autoaugment_type=good \
--label_smoothing=0.1 \
--resnet_version=2 \
--resnet_size=50 \
--anti_alias_filter_size=3 \
--anti_alias_type=sconv \
--use_sk_block=True \
--use_dropblock=True \
--dropblock_kp="0.9,0.7" \
--batch_size=256 \
--base_learning_rate=0.01 \
--learning_rate_decay_type=cosine \
--lr_warmup_epochs=5 \
--train_epochs=100 \
--bn_momentum=0.966 \
--weight_decay=0.001 \
--keep_checkpoint_max=0 \
--ratio_fine_eval=0.9 \
--epochs_between_evals=10 \
--clean
"""

EVAL_VANILA_MCE_ON_IMAGENET = r"""
python mce/eval_robustness.py \
--robustness_type=ce \
--gpu_index=4,5,6,7 \
--num_classes=1001 \
--batch_size=1024 \
--image_size=224 \
--resnet_size=50 \
--resnet_version=1 \
--data_format=channels_first \
--label_file=datasets/imagenet_lsvrc_2015_synsets.txt \
--data_dir=${DATA_DIR} \
--model_dir=${MODEL_DIR}
"""

EVAL_ASSEMBLE_MCE_ON_IMAGENET = r"""
python mce/eval_robustness.py \
--robustness_type=ce \
--gpu_index=0,1,2,3,4,5,6,7 \
--num_classes=1001 \
--batch_size=1024 \
--resnet_size=50 \
--image_size=256 \
--resnet_version=2 \
--anti_alias_type=sconv \
--anti_alias_filter_size=3 \
--data_format=channels_first \
--use_sk_block=True \
--label_file=datasets/imagenet_lsvrc_2015_synsets.txt \
--data_dir=${DATA_DIR} \
--model_dir=${MODEL_DIR}
"""

EVAL_ASSEMBLE152_MCE_ON_IMAGENET = r"""
python mce/eval_robustness.py \
--robustness_type=ce \
--gpu_index=0,1,2,3,4,5,6,7 \
--num_classes=1001 \
--batch_size=256 \
--resnet_size=152 \
--image_size=256 \
--bl_alpha=1 \
--bl_beta=2 \
--resnet_version=2 \
--anti_alias_type=sconv \
--anti_alias_filter_size=3 \
--data_format=channels_first \
--use_sk_block=True \
--label_file=datasets/imagenet_lsvrc_2015_synsets.txt \
--data_dir=${DATA_DIR} \
--model_dir=${MODEL_DIR}
"""

# README.md, "Evaluation" (Assemble-ResNet50; note the original's '==' typo, kept).
README_EVAL_ASSEMBLE_R50 = r"""
CUDA_VISIBLE_DEVICES=1 python main_classification.py \
--eval_only=True \
--dataset_name=imagenet \
--data_dir=${DATA_DIR} \
--model_dir=${MODEL_DIR} \
--preprocessing_type=imagenet_224_256 \
--resnet_version=2 \
--resnet_size=50 \
--use_sk_block=True \
--use_resnet_d==False \
--anti_alias_type=sconv \
--anti_alias_filter_size=3
"""

README_EVAL_ASSEMBLE_R152 = r"""
CUDA_VISIBLE_DEVICES=1 python main_classification.py \
--eval_only=True \
--dataset_name=imagenet \
--data_dir=${DATA_DIR} \
--model_dir=${MODEL_DIR} \
--preprocessing_type=imagenet_224_256a \
--resnet_version=2 \
--resnet_size=152 \
--bl_alpha=1 \
--bl_beta=2 \
--use_sk_block=True \
--anti_alias_type=sconv \
--anti_alias_filter_size=3
"""

TINY_TRAIN = ["--batch_size=2", "--val_batch_size=2", "--train_epochs=1",
              "--max_train_steps=1", "--num_gpus=0", "--lr_warmup_epochs=0", "--dtype=fp32"]
TINY_EVAL = ["--num_gpus=0", "--val_batch_size=2"]
TINY_MCE = ["--corruptions=gaussian_noise", "--severities=1"]

# torchvision resnet50 (1000 classes) has 25,557,032 parameters; the head is 2048*C + C.
R50_1001 = 25_557_032 + 2048 + 1
R50_FOOD101 = 25_557_032 - 2048 * 1000 - 1000 + 2048 * 101 + 101
SYNSETS = [f"n{i:08d}" for i in range(1000)]
ALL = os.environ.get("ORIGINAL_COMMANDS") == "all"
heavy = pytest.mark.skipif(not ALL, reason="ORIGINAL_COMMANDS=all runs the heavy commands")


def command(script: str, **paths) -> list[str]:
    """The python command of a script: continuation lines joined, ${VAR} replaced, the
    leading environment assignments dropped; [entrypoint, flags...]."""
    text = script.replace("\\\n", " ")
    for name, value in paths.items():
        text = text.replace("${" + name + "}", value)
    words = shlex.split(text)
    start = words.index("python")
    return words[start + 1:]


def run(args: list[str], timeout=600) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def jpeg(seed: int, size: int = 48) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def write_split(folder, split, labels, num_logits=0, seed=0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    with tf.io.TFRecordWriter(os.path.join(folder, f"{split}-00000-of-00001")) as w:
        for i, label in enumerate(labels):
            ex = make_example(jpeg(seed * 100 + i), int(label), str(label), f"{split}{i}.JPEG",
                              48, 48, "jpeg")
            if num_logits:  # the original's in-record teacher logits ('image/logit')
                ex.features.feature["image/logit"].float_list.value.extend(
                    rng.normal(size=num_logits).astype(np.float32).tolist())
            w.write(ex.SerializeToString())
    info_path = os.path.join(folder, "dataset_info.json")
    info = json.load(open(info_path)) if os.path.isfile(info_path) else {"splits": {}}
    info["splits"][split] = {"num_examples": len(labels)}
    with open(info_path, "w") as f:
        json.dump(info, f)
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("original")
    imagenet = str(root / "imagenet_kd_amoebanet")
    write_split(imagenet, "train", [1, 2, 3, 4], num_logits=1001, seed=1)
    write_split(imagenet, "validation", [1, 2], seed=2)
    food = str(root / "ETHZ-food-101")
    write_split(food, "train", [0, 1, 2, 3], seed=3)
    write_split(food, "validation", [0, 100], seed=4)
    # ImageNet-C layout: <corruption>/<severity>/<synset>/<file>; label = synset index + 1.
    tree = root / "imagenet-C"
    for k, synset in enumerate(SYNSETS[:2]):
        folder = tree / "gaussian_noise" / "1" / synset
        folder.mkdir(parents=True)
        (folder / f"img{k}.JPEG").write_bytes(jpeg(50 + k))
    synsets = root / "imagenet_lsvrc_2015_synsets.txt"
    synsets.write_text("".join(f"{s}\n" for s in SYNSETS))
    return {"imagenet": imagenet, "food": food, "tree": str(tree), "root": root,
            "synsets": str(synsets)}


def mce(script: str, data, model_dir: str) -> dict:
    args = command(script, DATA_DIR=data["tree"], MODEL_DIR=model_dir)
    args = [a.replace("datasets/imagenet_lsvrc_2015_synsets.txt", data["synsets"])
            for a in args]
    proc = run(args + TINY_MCE)
    assert "running: " in proc.stderr and "--robustness=tree:" in proc.stderr
    with open(os.path.join(model_dir, "robustness", "tree", "report.json")) as f:
        report = json.load(f)
    assert 0.0 <= report["corruptions"]["gaussian_noise"]["error"] <= 1.0
    assert report["clean"]["count"] == 2
    return report


def network_of(model_dir: str):
    from core.rundir import RunDir
    return RunDir.open(model_dir).build_model()


def parameters(model) -> int:
    """Trainable parameters, as torchvision counts them (BN moving statistics and
    DropBlock's keep-probability variables are state, not parameters)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def stored(model_dir: str) -> dict:
    with open(os.path.join(model_dir, "config.yaml")) as f:
        return yaml.safe_load(f)


def test_vanilla_r50_scratch_food101_finetune_and_mce(data):
    run_dir = str(data["root"] / "Vanila-R50")
    run(command(TRAIN_VANILA_FROM_SCRATCH, DATA_DIR=data["imagenet"], MODEL_DIR=run_dir)
        + TINY_TRAIN)
    cfg = stored(run_dir)
    # The original's defaults the script relies on: ResNet-50, width 64, 7x7 stem, BN 0.997.
    assert (cfg["resnet_size"], cfg["base_width"], cfg["stem_type"], cfg["bn_momentum"],
            cfg["resolved_num_classes"]) == (50, 64, "default", 0.997, 1001)
    assert parameters(network_of(run_dir)) == R50_1001

    food_dir = str(data["root"] / "Vanila-R50-food101")
    proc = run(command(FINETUNING_VANILA_ON_FOOD101, DATA_DIR=data["food"],
                       MODEL_DIR=food_dir, PRETRAINED_PATH=run_dir) + TINY_TRAIN)
    assert "fine-tuning from" in proc.stdout + proc.stderr
    assert stored(food_dir)["keep_checkpoint_max"] == 0  # the original's "keep all"
    assert parameters(network_of(food_dir)) == R50_FOOD101

    if ALL:  # (module doc)
        mce(EVAL_VANILA_MCE_ON_IMAGENET, data, run_dir)


def test_assemble_r50_scratch_readme_eval_food101_finetune_and_mce(data):
    run_dir = str(data["root"] / "Assemble-R50")
    run(command(TRAIN_ASSEMBLE_FROM_SCRATCH, DATA_DIR=data["imagenet"], MODEL_DIR=run_dir)
        + TINY_TRAIN)
    cfg = stored(run_dir)
    assert (cfg["resnet_version"], cfg["resnet_size"], cfg["use_sk_block"],
            cfg["anti_alias_type"], cfg["bl_alpha"], cfg["bl_beta"], cfg["base_width"],
            cfg["stem_type"]) == (2, 50, True, "sconv", 2, 4, 64, "default")
    from nets.resnet import build_resnet
    original = build_resnet(50, 1001, resnet_version=2, use_sk_block=True,
                            anti_alias_type="sconv", anti_alias_filter_size=3, bl_alpha=2,
                            bl_beta=4, base_width=64, stem_type="default")
    assert parameters(network_of(run_dir)) == parameters(original)

    # The README's eval command, '==' typo included: no fp16 / DropBlock flags needed.
    metrics_before = open(os.path.join(run_dir, "metrics.jsonl")).read()
    proc = run(command(README_EVAL_ASSEMBLE_R50, DATA_DIR=data["imagenet"], MODEL_DIR=run_dir)
               + TINY_EVAL)
    assert "read '--use_resnet_d==False' as '--use_resnet_d=False'" in proc.stderr
    assert "final: top-1" in proc.stdout
    assert open(os.path.join(run_dir, "metrics.jsonl")).read() == metrics_before
    assert os.path.isfile(os.path.join(run_dir, "eval_only", "imagenet", "metrics.jsonl"))

    if not ALL:  # the rest: ORIGINAL_COMMANDS=all (module doc)
        return
    food_dir = str(data["root"] / "Assemble-R50-food101")
    run(command(FINETUNING_ASSEMBLE_ON_FOOD101, DATA_DIR=data["food"], MODEL_DIR=food_dir,
                PRETRAINED_PATH=run_dir) + TINY_TRAIN)
    food = network_of(food_dir)
    assert parameters(food) == parameters(original) - 2049 * (1001 - 101)

    mce(EVAL_ASSEMBLE_MCE_ON_IMAGENET, data, run_dir)


@heavy
def test_assemble_r152_readme_eval_and_mce(data):
    # The original trained Assemble-R152 with its assemble script plus these flags (README).
    run_dir = str(data["root"] / "Assemble-R152")
    run(command(TRAIN_ASSEMBLE_FROM_SCRATCH, DATA_DIR=data["imagenet"], MODEL_DIR=run_dir)
        + ["--resnet_size=152", "--bl_alpha=1", "--bl_beta=2",
           "--preprocessing_type=imagenet_224_256a"] + TINY_TRAIN)
    proc = run(command(README_EVAL_ASSEMBLE_R152, DATA_DIR=data["imagenet"], MODEL_DIR=run_dir)
               + TINY_EVAL)
    assert "final: top-1" in proc.stdout
    from nets.resnet import build_resnet
    original = build_resnet(152, 1001, resnet_version=2, use_sk_block=True,
                            anti_alias_type="sconv", anti_alias_filter_size=3, bl_alpha=1,
                            bl_beta=2, base_width=64, stem_type="default")
    assert parameters(network_of(run_dir)) == parameters(original)
    mce(EVAL_ASSEMBLE152_MCE_ON_IMAGENET, data, run_dir)


@pytest.mark.parametrize("args, message", [
    (["--robustness_type=fr"], "--robustness_type=fr: only 'ce'"),
    (["--model_dir=/nonexistent/run"], "--model_dir /nonexistent/run: neither a run "
                                       "directory nor a checkpoint prefix"),
])
def test_mce_entrypoint_bad_input_is_one_line(args, message):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "mce/eval_robustness.py", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2 and len(errors) == 1 and message in errors[0], proc.stderr
