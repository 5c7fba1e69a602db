#!/usr/bin/env bash
# The runs behind docs/experiments/inference-free-training.md (CPU, 2 cores: ~45 min in all).
# Teacher scores are mined once on scifact train; every student starts from splade-tiny and is
# trained on scifact train only, then evaluated (inference-free, corpus IDF) on scifact and
# nfcorpus test. Needs indexes/scifact from scripts/results.sh (dense + BM25 for candidates).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
OUT=${OUT:-runs/train}
STEPS=${STEPS:-50}
export TANDEM_DATA_DIR=${TANDEM_DATA_DIR:-../shared/data}
mkdir -p "$OUT"

TEACHERS="$OUT/scifact-train.teachers.jsonl"
[ -f "$TEACHERS" ] || $BIN/tandem train teachers --dataset scifact --split train --index indexes/scifact --teachers dense,sparse,bm25 --out "$TEACHERS"

COMMON="--teacher-file $TEACHERS --corpus scifact --max-steps $STEPS --batch-queries 4 --candidates 8 --max-length 128 --lr 5e-5 --warmup-steps 20"
train() {  # name, extra args
  local name=$1; shift
  [ -f "$OUT/$name/tandem_training.json" ] || $BIN/tandem train sparse $COMMON --out "$OUT/$name" "$@"
  for ds in scifact nfcorpus; do
    [ -f "indexes/trained/$name-$ds/manifest.json" ] || $BIN/tandem index build --corpus $ds --sparse "$OUT/$name" --sparse-mode inference-free --dense none --out "indexes/trained/$name-$ds"
  done
}
train plain-1e-3   --sparsity plain     --lambda-d 1e-3 --teachers dense
train plain-5e-3   --sparsity plain     --lambda-d 5e-3 --teachers dense
train idf-1e-2     --sparsity idf-aware --lambda-d 1e-2 --teachers dense
train idf-5e-2     --sparsity idf-aware --lambda-d 5e-2 --teachers dense
train idf-5e-2-ens --sparsity idf-aware --lambda-d 5e-2 --teachers dense,sparse,bm25

[ -f "$OUT/dense-ens/tandem_training.json" ] || $BIN/tandem train dense --teacher-file "$TEACHERS" --corpus scifact --max-steps $STEPS --batch-queries 8 --max-length 128 --out "$OUT/dense-ens"
for ds in scifact nfcorpus; do
  [ -f "indexes/trained/dense-ens-$ds/manifest.json" ] || $BIN/tandem index build --corpus $ds --sparse none --dense "$OUT/dense-ens" --out "indexes/trained/dense-ens-$ds"
done

for ds in scifact nfcorpus; do
  for name in plain-1e-3 plain-5e-3 idf-1e-2 idf-5e-2 idf-5e-2-ens; do
    $BIN/tandem eval --dataset $ds --index "indexes/trained/$name-$ds" --modes sparse --latency-sample 0 --out "$OUT/eval/$name-$ds"
  done
  $BIN/tandem eval --dataset $ds --index "indexes/trained/dense-ens-$ds" --modes dense --latency-sample 0 --out "$OUT/eval/dense-ens-$ds"
done
