#!/usr/bin/env bash
# Equal-budget augmentation comparison on CIFAR-10 JPEG (README, Results): the preset
# configs/cifar10_r18_small.yaml (ResNet-18 width 16, mixed bf16) trained EPOCHS epochs with
#   none     crop+flip only
#   aa       + AutoAugment (cifar policy; relative magnitudes, the default)
#   aa_original  + AutoAugment (cifar) with the original's 250/100 px magnitudes, which leave
#            only the fill on ~16 % of 32-px images (bench/bench_autoaugment_blank.py)
#   mixup    + mixup (alpha 0.2, the original's)
#   cutmix   + CutMix (alpha 1.0)
#   rmix     + R-Mix (alpha 1.0, the official CIFAR setting)
# Each run's stdout goes to $OUT/<name>.log; the last line of each is the final evaluation.
# Usage: TFR=/tmp/data/cifar10_tfr scripts/cifar10_augment_comparison.sh [names...]
set -euo pipefail
cd "$(dirname "$0")/.."

TFR=${TFR:-/tmp/data/cifar10_tfr}
OUT=${OUT:-/tmp/runs/cifar10_augment}
EPOCHS=${EPOCHS:-3}
mkdir -p "${OUT}"

declare -A EXTRA=(
  [none]=""
  [aa]="--autoaugment_type=cifar"
  [aa_original]="--autoaugment_type=cifar --autoaugment_magnitudes=original"
  [mixup]="--mixup_type=mixup --mixup_alpha=0.2"
  [cutmix]="--mixup_type=cutmix --cutmix_alpha=1.0"
  [rmix]="--mixup_type=rmix --rmix_alpha=1.0"
)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(none aa aa_original mixup cutmix rmix)

for name in "${names[@]}"; do
  [ -n "${EXTRA[$name]+x}" ] || { echo "error: unknown run '${name}' (none aa aa_original mixup cutmix rmix)" >&2; exit 2; }
  start=$(date +%s)
  # shellcheck disable=SC2086
  python main_classification.py --config=configs/cifar10_r18_small.yaml \
    --dataset_name="${TFR}" --model_dir="${OUT}/${name}" --clean \
    --train_epochs="${EPOCHS}" ${EXTRA[$name]} 2>&1 | grep -v "^W0000\|^I0000" > "${OUT}/${name}.log"
  echo "${name}: $(( $(date +%s) - start )) s wall | $(tail -n 1 "${OUT}/${name}.log")"
done
