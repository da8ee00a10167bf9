#!/usr/bin/env bash
# Fine-tune Assemble-ResNet-50 on one FGVC dataset with its preset
# configs/assemble_r50_<NAME>_finetune.yaml (the Food-101 recipe; see the preset headers).
#
# Usage: scripts/finetuning_assemble_on_fgvc.sh NAME [extra main_classification flags]
#   NAME: cars196 | fgvc_aircraft | oxford_iiit_pet | oxford_flowers102 | food101
# Environment:
#   DATA_DIR    TFRecords (default /data/NAME/tfrecord). Built first from RAW_DIR with
#               python -m datasets.build_fgvc when it holds no train-* shards, or when an
#               earlier build was interrupted (build_info.json without dataset_info.json:
#               the build resumes).
#   RAW_DIR     the unpacked official download (default /data/NAME/raw; layouts in
#               datasets/layouts.py). The build refuses a copy whose sizes differ from the
#               registry's (add BUILD_FLAGS=--nocheck_sizes to build it anyway).
#   PRETRAINED  Assemble-R50 run directory or checkpoint prefix (its tweak flags must match).
#   MODEL_DIR, NUM_GPUS, TRAIN_SHARDS (128), VALIDATION_SHARDS (16), BUILD_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=${1:-}
case "${NAME}" in
  cars196|fgvc_aircraft|oxford_iiit_pet|oxford_flowers102|food101) shift ;;
  *) echo "error: unknown dataset '${NAME}': give one of cars196, fgvc_aircraft," \
          "oxford_iiit_pet, oxford_flowers102, food101" >&2
     exit 2 ;;
esac

DATA_DIR=${DATA_DIR:-/data/${NAME}/tfrecord}
RAW_DIR=${RAW_DIR:-/data/${NAME}/raw}
PRETRAINED=${PRETRAINED:-runs/assemble_r50_imagenet}
MODEL_DIR=${MODEL_DIR:-runs/assemble_r50_${NAME}}
NUM_GPUS=${NUM_GPUS:-4}

if ! compgen -G "${DATA_DIR}/train-*" > /dev/null || \
   { [ -f "${DATA_DIR}/build_info.json" ] && [ ! -f "${DATA_DIR}/dataset_info.json" ]; }; then
  echo "building TFRecords of ${NAME} from ${RAW_DIR} into ${DATA_DIR}" >&2
  python -m datasets.build_fgvc \
    --dataset="${NAME}" \
    --raw_dir="${RAW_DIR}" \
    --output_dir="${DATA_DIR}" \
    --train_shards="${TRAIN_SHARDS:-128}" \
    --validation_shards="${VALIDATION_SHARDS:-16}" \
    ${BUILD_FLAGS:-}
fi

python main_classification.py \
  --config="configs/assemble_r50_${NAME}_finetune.yaml" \
  --data_dir="${DATA_DIR}" \
  --model_dir="${MODEL_DIR}" \
  --num_gpus="${NUM_GPUS}" \
  --pretrained_model_checkpoint_path="${PRETRAINED}" \
  --clean \
  "$@"
