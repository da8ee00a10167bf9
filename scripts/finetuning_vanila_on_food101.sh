#!/usr/bin/env bash
# Fine-tune a vanilla ResNet-50 on Food-101 (assembled-cnn recipe: batch 256 on 4 GPUs,
# LR 0.01 cosine with 5 warmup epochs, 100 epochs, bn_momentum 0.966, wd 1e-3, evaluate
# every 10 epochs and every epoch after 90%). PRETRAINED is a run directory (or checkpoint
# prefix) of main_classification.py, e.g. the output of train_vanila_from_scratch.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR=${DATA_DIR:-/data/food101/tfrecord}
PRETRAINED=${PRETRAINED:-runs/vanilla_r50_imagenet}
MODEL_DIR=${MODEL_DIR:-runs/vanilla_r50_food101}
NUM_GPUS=${NUM_GPUS:-4}

python main_classification.py \
  --config=configs/vanilla_r50_food101_finetune.yaml \
  --data_dir="${DATA_DIR}" \
  --model_dir="${MODEL_DIR}" \
  --num_gpus="${NUM_GPUS}" \
  --pretrained_model_checkpoint_path="${PRETRAINED}" \
  --clean \
  "$@"
