#!/usr/bin/env bash
# Transfer comparison (README, Transfer): transfer from Imagenette (source, 64 px, ResNet-18 width 16, 12 epochs)
# to CIFAR-10 JPEG (target, upsampled to 64 px).
#   pre-training (source):  vanilla    configs/imagenette_r18_vanilla.yaml    supervised
#                           multicrop  configs/imagenette_r18_multicrop.yaml  + multi-crop 1+4
#                           trex       configs/imagenette_r18_trex.yaml       t-ReX (OCM) + same crops
#   transfer (target):      probe_<src>  linear probe on frozen pooled features of CIFAR-10
#                                        and of the embedded digits (upsampled to 64 px)
#                                        (python -m engine.transfer_suite, t-ReX protocol)
#                           ft_<src>     fine-tuning, 2 epochs (configs/cifar10_r18_64px_finetune.yaml)
#                           scratch      same network and 2 epochs from random init
#                                        (configs/cifar10_r18_64px_scratch.yaml)
# Runs resume where they stopped (no --clean); existing finished runs are re-evaluated only.
# SOURCES="vanilla trex" limits the pre-trained runs used (default: all three).
# Each step's log is $OUT/<name>.log; the probe tables are $OUT/probe_<src>/transfer.md.
# Usage: SRC_TFR=/tmp/data/imagenette_tfr CIFAR_TFR=/tmp/data/cifar10_tfr OUT=/tmp/runs/trex \
#            scripts/trex_transfer_comparison.sh [steps...]   (default: all, in order)
#   TFRecords: python -m datasets.build_tfrecords --image_dir=<imagenette2 tree> \
#                  --output_dir=$SRC_TFR --train_shards=16 --validation_shards=4
#              python -m datasets.build_tfrecords --image_dir=<cifar10 JPEG tree> \
#                  --output_dir=$CIFAR_TFR --train_shards=16 --validation_shards=4
set -euo pipefail
cd "$(dirname "$0")/.."

SRC_TFR=${SRC_TFR:-/tmp/data/imagenette_tfr}
CIFAR_TFR=${CIFAR_TFR:-/tmp/data/cifar10_tfr}
OUT=${OUT:-/tmp/runs/trex}
SOURCES=${SOURCES:-vanilla multicrop trex}
mkdir -p "${OUT}"

quiet() { grep --line-buffered -v "^W0000\|^I0000\|^WARNING: All log messages"; }

timed() {  # name, command...: run, log, print wall time and the log's last line
  local name=$1; shift
  local start; start=$(date +%s)
  "$@" 2>&1 | quiet > "${OUT}/${name}.log"
  echo "${name}: $(( $(date +%s) - start )) s wall | $(tail -n 1 "${OUT}/${name}.log")"
}

steps=("$@")
if [ ${#steps[@]} -eq 0 ]; then
  steps=(pretrain probe finetune scratch)
fi
for step in "${steps[@]}"; do
  case "${step}" in
    pretrain)
      for src in ${SOURCES}; do
        timed "${src}" python main_classification.py \
          --config="configs/imagenette_r18_${src}.yaml" --dataset_name="${SRC_TFR}" \
          --model_dir="${OUT}/${src}"
      done ;;
    probe)
      for src in ${SOURCES}; do
        timed "probe_${src}" python -m engine.transfer_suite --pretrained="${OUT}/${src}" \
          --targets="cifar10=${CIFAR_TFR},digits" --out_dir="${OUT}/probe_${src}" \
          --cache_dir="${OUT}/features_${src}"
      done ;;
    finetune)
      for src in ${SOURCES}; do
        timed "ft_${src}" python main_classification.py \
          --config=configs/cifar10_r18_64px_finetune.yaml --dataset_name="${CIFAR_TFR}" \
          --model_dir="${OUT}/ft_${src}" --pretrained_model_checkpoint_path="${OUT}/${src}"
      done ;;
    scratch)
      timed scratch python main_classification.py \
        --config=configs/cifar10_r18_64px_scratch.yaml --dataset_name="${CIFAR_TFR}" \
        --model_dir="${OUT}/scratch" ;;
    *) echo "error: unknown step '${step}' (pretrain, probe, finetune, scratch)" >&2; exit 2 ;;
  esac
done
