#!/usr/bin/env bash
# Fine-tune Assemble-ResNet-50 on Food-101 (the original recipe: batch 256 on 4 GPUs, LR 0.01
# cosine, 5 warmup, 100 epochs, bn_momentum 0.966, wd 1e-3, mixup 1, AutoAugment good, LS 0.1,
# DropBlock 0.9->0.7). PRETRAINED is a run directory (or checkpoint prefix) of an Assemble-R50
# run, e.g. the output of train_assemble_from_scratch.sh; its tweak flags must match.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR=${DATA_DIR:-/data/food101/tfrecord}
PRETRAINED=${PRETRAINED:-runs/assemble_r50_imagenet}
MODEL_DIR=${MODEL_DIR:-runs/assemble_r50_food101}
NUM_GPUS=${NUM_GPUS:-4}

python main_classification.py \
  --config=configs/assemble_r50_food101_finetune.yaml \
  --data_dir="${DATA_DIR}" \
  --model_dir="${MODEL_DIR}" \
  --num_gpus="${NUM_GPUS}" \
  --pretrained_model_checkpoint_path="${PRETRAINED}" \
  --clean \
  "$@"
