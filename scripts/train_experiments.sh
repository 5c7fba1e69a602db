#!/usr/bin/env bash
# The runs behind docs/experiments/inference-free-training.md (CPU, 2 cores: ~90 min in all).
# Teacher scores are mined once per training set; every student starts from splade-tiny and is
# evaluated inference-free (corpus IDF queries) on scifact and nfcorpus test. Needs indexes/scifact
# and indexes/nfcorpus from scripts/results.sh (dense + BM25 for candidate mining).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
OUT=${OUT:-runs/train}
STEPS=${STEPS:-100}
export TANDEM_DATA_DIR=${TANDEM_DATA_DIR:-../shared/data}
mkdir -p "$OUT"

teachers() {  # out, dataset, split, extra args
  local out=$1 ds=$2 split=$3; shift 3
  [ -f "$out" ] || $BIN/tandem train teachers --dataset $ds --split $split --index indexes/$ds --teachers dense,sparse,bm25 --out "$out" "$@"
}
SCIFACT="$OUT/scifact-train.teachers.jsonl"
NFCORPUS="$OUT/nfcorpus-train.teachers.jsonl"
PSEUDO="$OUT/scifact-train+pseudo1000.teachers.jsonl"
teachers "$SCIFACT" scifact train
teachers "$NFCORPUS" nfcorpus train
teachers "$PSEUDO" scifact train --pseudo-queries 1000

# The recipe: student scores x0.2 in the KL (see "Why the first students collapsed"), lr 2e-5,
# 4 queries x 8 candidates per step, training max length 128, sparsity warmed up over 50 steps.
RECIPE="--batch-queries 4 --candidates 8 --max-length 128 --lr 2e-5 --student-scale 0.2 --warmup-steps 50"
train() {  # name, datasets to index, extra args
  local name=$1 datasets=$2; shift 2
  [ -f "$OUT/$name/tandem_training.json" ] || $BIN/tandem train sparse $RECIPE --out "$OUT/$name" "$@"
  for ds in $datasets; do
    [ -f "indexes/trained/$name-$ds/manifest.json" ] || $BIN/tandem index build --corpus $ds --sparse "$OUT/$name" --sparse-mode inference-free --dense none --out "indexes/trained/$name-$ds"
    [ -f "$OUT/eval/$name-$ds/metrics.json" ] || $BIN/tandem eval --dataset $ds --index "indexes/trained/$name-$ds" --latency-sample 0 --out "$OUT/eval/$name-$ds"
  done
}
SCI="--teacher-file $SCIFACT --corpus scifact --max-steps $STEPS"
# Plain vs IDF-aware FLOPS (single dense teacher), two lambdas each, for matched-FLOPS comparison.
train plain-1e-4 "scifact"          $SCI --teachers dense --sparsity plain     --lambda-d 1e-4
train plain-1e-3 "scifact nfcorpus" $SCI --teachers dense --sparsity plain     --lambda-d 1e-3
train idf-1e-3   "scifact"          $SCI --teachers dense --sparsity idf-aware --lambda-d 1e-3
train idf-1e-2   "scifact nfcorpus" $SCI --teachers dense --sparsity idf-aware --lambda-d 1e-2
# The heterogeneous ensemble teacher (dense + siamese sparse + BM25).
train idf-1e-2-ens "scifact nfcorpus" $SCI --sparsity idf-aware --lambda-d 1e-2
# nfcorpus train queries, checkpoint chosen by nfcorpus dev nDCG@10 (every 25 steps).
train nf-idf-1e-2-ens "nfcorpus" --teacher-file "$NFCORPUS" --corpus nfcorpus --max-steps 100 --sparsity idf-aware --lambda-d 1e-2 \
  --dev-dataset nfcorpus --dev-split dev --eval-every 25
# scifact train + 1000 pseudo-queries (document titles) from the scifact corpus.
train pq-idf-1e-2-ens "scifact" --teacher-file "$PSEUDO" --corpus scifact --max-steps $STEPS --sparsity idf-aware --lambda-d 1e-2

# Dense distillation from the same ensemble teacher file (minilm-l6 student); DENSE=1 to run it.
if [ "${DENSE:-0}" = 1 ]; then
  [ -f "$OUT/dense-ens/tandem_training.json" ] || $BIN/tandem train dense --teacher-file "$SCIFACT" --corpus scifact --max-steps 50 --batch-queries 8 --max-length 128 --out "$OUT/dense-ens"
  for ds in scifact nfcorpus; do
    [ -f "indexes/trained/dense-ens-$ds/manifest.json" ] || $BIN/tandem index build --corpus $ds --sparse none --dense "$OUT/dense-ens" --out "indexes/trained/dense-ens-$ds"
    [ -f "$OUT/eval/dense-ens-$ds/metrics.json" ] || $BIN/tandem eval --dataset $ds --index "indexes/trained/dense-ens-$ds" --latency-sample 0 --out "$OUT/eval/dense-ens-$ds"
  done
fi
