#!/usr/bin/env bash
# Teacher-target comparison on CIFAR-10 JPEG (README, Distil and reinforce). One teacher, four
# students at equal epochs, all ResNet-18 width 16 with the DR presets' augmentation (RandAugment
# 2,9 + RandomErasing 0.25; mixup/CutMix per batch where the preset mixes):
#   erm         configs/dr_erm_r18_cifar10.yaml   ground truth only (label smoothing 0.1)
#   kd_offline  configs/dr_kd_r18_cifar10.yaml    + center-crop logits stored once (the
#                                                 original Assemble-ResNet way, --kd_logits_path)
#   plus        configs/dr_plus_r18_cifar10.yaml  + replayed reinforcement (NS=20, K=10)
#   kd_online   configs/dr_kd_r18_cifar10.yaml    + the teacher run inside the train step
# The side-cars (logits, reinforcement) are written first unless they exist (both writers
# resume from their .done marks). Each step's output goes to $OUT/<name>.log; the last line of
# each student log is its final evaluation.
# Usage: TFR=/tmp/data/cifar10_tfr TEACHER=run:/tmp/runs/cifar10_r18_small EPOCHS=2 \
#            scripts/cifar10_kd_comparison.sh [erm kd_offline plus kd_online]
set -euo pipefail
cd "$(dirname "$0")/.."

TFR=${TFR:-/tmp/data/cifar10_tfr}
OUT=${OUT:-/tmp/runs/cifar10_kd}
EPOCHS=${EPOCHS:-2}
TEACHER=${TEACHER:?set TEACHER, e.g. run:/tmp/runs/cifar10_r18_small}
LOGITS=${LOGITS:-${TFR}/logits}
REINFORCED=${REINFORCED:-${TFR}/reinforced}
mkdir -p "${OUT}"

quiet() { grep -v "^W0000\|^I0000\|^WARNING: All log messages"; }

timed() {  # name, command...: run, log, print wall time and the log's last line
  local name=$1; shift
  local start; start=$(date +%s)
  "$@" 2>&1 | quiet > "${OUT}/${name}.log"
  echo "${name}: $(( $(date +%s) - start )) s wall | $(tail -n 1 "${OUT}/${name}.log")"
}

declare -A CONFIG=(
  [erm]="configs/dr_erm_r18_cifar10.yaml"
  [kd_offline]="configs/dr_kd_r18_cifar10.yaml"
  [plus]="configs/dr_plus_r18_cifar10.yaml"
  [kd_online]="configs/dr_kd_r18_cifar10.yaml"
)
declare -A EXTRA=(
  [erm]=""
  [kd_offline]="--kd_logits_path=${LOGITS}"
  [plus]="--reinforce_data_path=${REINFORCED}"
  [kd_online]="--teacher=${TEACHER}"
)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(erm kd_offline plus kd_online)
for name in "${names[@]}"; do
  [ -n "${CONFIG[$name]+x}" ] || { echo "error: unknown run '${name}' (erm kd_offline plus kd_online)" >&2; exit 2; }
done

if [[ " ${names[*]} " == *" kd_offline "* ]]; then
  timed extract_logits python -m kd.extract_logits --teacher="${TEACHER}" \
    --data_dir="${TFR}" --output_dir="${LOGITS}"
fi
if [[ " ${names[*]} " == *" plus "* ]]; then
  timed reinforce python -m kd.reinforce --teacher="${TEACHER}" --data_dir="${TFR}" \
    --output_dir="${REINFORCED}" --num_samples=20 --top_k=10 --preprocessing_type=small_32 \
    --randaugment=2,9 --random_erasing=0.25
fi
for name in "${names[@]}"; do
  # shellcheck disable=SC2086
  timed "${name}" python main_classification.py --config="${CONFIG[$name]}" \
    --dataset_name="${TFR}" --model_dir="${OUT}/${name}" --clean \
    --train_epochs="${EPOCHS}" ${EXTRA[$name]}
done
