#!/usr/bin/env bash
# t-ReX (OCM-3) ResNet-50 on ImageNet from scratch (naver/trex recipe: 100 epochs, batch 256,
# LR 0.1 cosine after 10 warmup epochs, wd 1e-4, multi-crop 1 x 224 + 8 x 96, projector,
# cosine classifier, 8192-entry OCM memory filled by an EMA network); see
# configs/trex_r50_imagenet.yaml. For t-ReX* add --pr_hidden_layers=1
# --multicrop_global_scale=0.40,1.0 --multicrop_local_scale=0.05,0.40. Set the paths below or
# pass them in the environment; extra arguments are forwarded as flags. Then measure
# transfer with scripts/eval_transfer_suite.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR=${DATA_DIR:-/data/imagenet/tfrecord}
MODEL_DIR=${MODEL_DIR:-runs/trex_r50_imagenet}
NUM_GPUS=${NUM_GPUS:-4}

python main_classification.py \
  --config=configs/trex_r50_imagenet.yaml \
  --data_dir="${DATA_DIR}" \
  --model_dir="${MODEL_DIR}" \
  --num_gpus="${NUM_GPUS}" \
  "$@"
