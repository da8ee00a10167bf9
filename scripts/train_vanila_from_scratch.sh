#!/usr/bin/env bash
# Vanilla ResNet-50 on ImageNet from scratch (assembled-cnn E0 recipe: 120 epochs, batch
# 1024, LR 0.4 cosine with 5 warmup epochs, wd 1e-4, zero-gamma). Set the paths below or
# pass them in the environment; extra arguments are forwarded as flags.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR=${DATA_DIR:-/data/imagenet/tfrecord}
MODEL_DIR=${MODEL_DIR:-runs/vanilla_r50_imagenet}
NUM_GPUS=${NUM_GPUS:-8}

python main_classification.py \
  --config=configs/vanilla_r50_imagenet.yaml \
  --data_dir="${DATA_DIR}" \
  --model_dir="${MODEL_DIR}" \
  --num_gpus="${NUM_GPUS}" \
  "$@"
