#!/usr/bin/env bash
# The runs behind docs/experiments/inference-free-training.md (CPU, 2 cores: ~30 min in all).
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
train() {  # name, datasets to index ("scifact" or "scifact nfcorpus"), extra args
  local name=$1 datasets=$2; shift 2
  [ -f "$OUT/$name/tandem_training.json" ] || $BIN/tandem train sparse $COMMON --out "$OUT/$name" "$@"
  for ds in $datasets; do
    [ -f "indexes/trained/$name-$ds/manifest.json" ] || $BIN/tandem index build --corpus $ds --sparse "$OUT/$name" --sparse-mode inference-free --dense none --out "indexes/trained/$name-$ds"
  done
}
# The lambda sweep is evaluated on scifact (in-domain); the final models on nfcorpus too.
train plain-1e-3   "scifact nfcorpus" --sparsity plain     --lambda-d 1e-3 --teachers dense
train plain-5e-3   "scifact"          --sparsity plain     --lambda-d 5e-3 --teachers dense
train idf-1e-2     "scifact"          --sparsity idf-aware --lambda-d 1e-2 --teachers dense
train idf-5e-2     "scifact"          --sparsity idf-aware --lambda-d 5e-2 --teachers dense
train idf-5e-2-ens "scifact nfcorpus" --sparsity idf-aware --lambda-d 5e-2 --teachers dense,sparse,bm25

[ -f "$OUT/dense-ens/tandem_training.json" ] || $BIN/tandem train dense --teacher-file "$TEACHERS" --corpus scifact --max-steps $STEPS --batch-queries 8 --max-length 128 --out "$OUT/dense-ens"
for ds in scifact nfcorpus; do
  [ -f "indexes/trained/dense-ens-$ds/manifest.json" ] || $BIN/tandem index build --corpus $ds --sparse none --dense "$OUT/dense-ens" --out "indexes/trained/dense-ens-$ds"
done

for index in indexes/trained/*/; do
  name=$(basename "$index"); ds=${name##*-}
  [ -f "$OUT/eval/$name/metrics.json" ] || $BIN/tandem eval --dataset $ds --index "$index" --latency-sample 0 --out "$OUT/eval/$name"
done
