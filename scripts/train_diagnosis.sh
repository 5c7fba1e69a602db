#!/usr/bin/env bash
# Why the first students collapsed: 50-step runs with NO sparsity penalty (λ = 0), dense teacher,
# lr 5e-5, student scores x1 (the first recipe), x0.2 fixed, and a learned scale starting at 1.
# Prints the rank loss / doc nonzeros trajectories (~15 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
OUT=${OUT:-runs/train/diag}
export TANDEM_DATA_DIR=${TANDEM_DATA_DIR:-../shared/data}
TEACHERS=runs/train/scifact-train.teachers.jsonl
[ -f "$TEACHERS" ] || $BIN/tandem train teachers --dataset scifact --split train --index indexes/scifact --teachers dense,sparse,bm25 --out "$TEACHERS"
COMMON="--teacher-file $TEACHERS --corpus scifact --max-steps 50 --batch-queries 4 --candidates 8 --max-length 128 --lr 5e-5 --warmup-steps 20 --teachers dense --sparsity none"
run() { local name=$1; shift; [ -f "$OUT/$name/tandem_training.json" ] || $BIN/tandem train sparse $COMMON --out "$OUT/$name" "$@"; }
run none --student-scale 1
run none-scale0.2 --student-scale 0.2
run none-learned --student-scale 1 --learn-scale --scale-lr 0.05
$BIN/python scripts/training_report.py --trajectories "$OUT"
