#!/usr/bin/env bash
# Robustness comparison (README, Corruption robustness): corruption robustness of a vanilla and an
# assembled ResNet-18 (width 16, 64 px) trained on Imagenette at an equal budget, the validation
# images corrupted on the fly (19 corruptions x 5 severities). The vanilla run's report is the
# baseline the assembled run's CE is normalised by (AlexNet's constants are for ImageNet only).
#   runs:     vanilla, assembled   (configs/imagenette_r18_{vanilla,assembled}.yaml)
# Logs go to $OUT/<name>.log and $OUT/<name>_robustness.log; reports to
# $OUT/<name>/robustness/on_the_fly/.
# Usage: TFR=/tmp/data/imagenette_tfr OUT=/tmp/runs/imagenette EPOCHS=12 \
#            scripts/imagenette_robustness.sh
set -euo pipefail
cd "$(dirname "$0")/.."

TFR=${TFR:-/tmp/data/imagenette_tfr}
OUT=${OUT:-/tmp/runs/imagenette}
EPOCHS=${EPOCHS:-12}
mkdir -p "${OUT}"

quiet() { grep -v "^W0000\|^I0000\|^WARNING: All log messages"; }

for name in vanilla assembled; do
  start=$(date +%s)
  # no --clean: a killed run resumes from its last checkpoint
  python main_classification.py --config="configs/imagenette_r18_${name}.yaml" \
    --dataset_name="${TFR}" --model_dir="${OUT}/${name}" --train_epochs="${EPOCHS}" \
    2>&1 | quiet > "${OUT}/${name}.log"
  echo "${name}: $(( $(date +%s) - start )) s wall | $(tail -n 1 "${OUT}/${name}.log")"
done

baseline=""
for name in vanilla assembled; do
  start=$(date +%s)
  python main_classification.py --config="configs/imagenette_r18_${name}.yaml" \
    --dataset_name="${TFR}" --model_dir="${OUT}/${name}" --robustness=on_the_fly \
    ${baseline:+--robustness_baseline="${baseline}"} 2>&1 | quiet > "${OUT}/${name}_robustness.log"
  echo "${name} robustness: $(( $(date +%s) - start )) s wall | $(tail -n 1 "${OUT}/${name}_robustness.log")"
  baseline="${OUT}/vanilla/robustness/on_the_fly/report.json"
done
