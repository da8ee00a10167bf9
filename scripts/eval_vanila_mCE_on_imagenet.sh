#!/usr/bin/env bash
# ImageNet-C mCE of a trained vanilla ResNet-50 (the run of train_vanila_from_scratch.sh).
# SOURCE picks the corrupted data:
#   on_the_fly (default)         corrupt ImageNet val inside the input pipeline (no files)
#   tree:/data/imagenet-c        the published ImageNet-C tree (or datasets.build_corrupted's)
#   tfds:imagenet2012_corrupted  TFDS (prepared beforehand; TFDS_DIR with @, e.g. ...@/tfds)
# Prints the table (per-severity errors, CE, relative CE; mCE over the 15 standard
# corruptions and over all 19 as the original) and writes report.json, table.txt and PNG
# figures to MODEL_DIR/robustness/<kind>. Extra flags pass through (e.g.
# --corruptions=standard --severities=1-5 --eval_checkpoint=best).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR=${DATA_DIR:-/data/imagenet/tfrecord}
MODEL_DIR=${MODEL_DIR:-runs/vanilla_r50_imagenet}
SOURCE=${SOURCE:-on_the_fly}
NUM_GPUS=${NUM_GPUS:-1}

python main_classification.py \
  --config=configs/vanilla_r50_imagenet.yaml \
  --data_dir="${DATA_DIR}" \
  --model_dir="${MODEL_DIR}" \
  --num_gpus="${NUM_GPUS}" \
  --robustness="${SOURCE}" \
  "$@"
