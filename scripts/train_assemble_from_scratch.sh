#!/usr/bin/env bash
# Assemble-ResNet-50 (or -152 with PRESET=configs/assemble_r152_imagenet.yaml) on ImageNet
# from scratch: BL + SK + blur-pool sconv f=3 + DropBlock 1.0->0.9 + zero-gamma; LS 0.1,
# mixup 1, AutoAugment imagenet, KD T=1; cosine LR 0.4 at batch 1024, 5 warmup, 600 epochs.
# Set the paths below or pass them in the environment; extra arguments become flags.
set -euo pipefail
cd "$(dirname "$0")/.."

PRESET=${PRESET:-configs/assemble_r50_imagenet.yaml}
DATA_DIR=${DATA_DIR:-/data/imagenet/tfrecord}
MODEL_DIR=${MODEL_DIR:-runs/assemble_r50_imagenet}
NUM_GPUS=${NUM_GPUS:-8}

python main_classification.py \
  --config="${PRESET}" \
  --data_dir="${DATA_DIR}" \
  --model_dir="${MODEL_DIR}" \
  --num_gpus="${NUM_GPUS}" \
  "$@"
