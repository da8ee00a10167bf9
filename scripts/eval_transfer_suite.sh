#!/usr/bin/env bash
# The t-ReX linear-probe transfer suite (spec trex.md §5) on a trained run: frozen pooled
# features of every target (cached under $MODEL_DIR/transfer/features), logistic-regression
# probes with C searched on a per-class 20 % validation split, the table and the mean
# log-odds in $MODEL_DIR/transfer/transfer.{md,json}; Recall@k on the retrieval sets.
# TARGETS: comma-separated name=TFRecord-dir (build them with python -m datasets.build_fgvc);
# the default lists the eight small t-ReX sets under /data/<name>/tfrecord. Extra arguments
# are forwarded to python -m engine.transfer_suite (e.g. --probe=tf, --seed=1).
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL_DIR=${MODEL_DIR:-runs/trex_r50_imagenet}
OUT_DIR=${OUT_DIR:-${MODEL_DIR}/transfer}
if [ -z "${TARGETS:-}" ]; then
  TARGETS=""
  for name in fgvc_aircraft cars196 dtd eurosat oxford_flowers102 oxford_iiit_pet food101 sun397; do
    TARGETS="${TARGETS:+${TARGETS},}${name}=/data/${name}/tfrecord"
  done
fi
RETRIEVAL=${RETRIEVAL:-}

python -m engine.transfer_suite \
  --pretrained="${MODEL_DIR}" \
  --targets="${TARGETS}" \
  --out_dir="${OUT_DIR}" \
  --cache_dir="${OUT_DIR}/features" \
  ${RETRIEVAL:+--retrieval_targets="${RETRIEVAL}"} \
  "$@"
