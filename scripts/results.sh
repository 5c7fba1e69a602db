#!/usr/bin/env bash
# Produces the numbers in docs/results.md: BM25, splade-tiny (inference-free and siamese),
# minilm-l6 and their hybrids (RRF and tuned wsum) on every full collection in the data dir.
# Fusion is tuned on scifact train and nfcorpus dev, never on test. ~60 min on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
ROOT=${ROOT:-indexes}
OUT=${OUT:-runs/results}
export TANDEM_DATA_DIR=${TANDEM_DATA_DIR:-../shared/data}

for ds in scifact nfcorpus; do
  [ -f "$ROOT/$ds/manifest.json" ] || $BIN/tandem index build --corpus $ds --out "$ROOT/$ds" --sparse splade-tiny --sparse-mode inference-free --dense minilm-l6 --bm25
  [ -f "$ROOT/siamese/$ds/manifest.json" ] || $BIN/tandem index build --corpus $ds --out "$ROOT/siamese/$ds" --sparse splade-tiny --sparse-mode siamese --dense none
done

for combo in sparse,dense bm25,dense bm25,sparse,dense; do
  $BIN/tandem tune-fusion --dataset scifact --split train --index "$ROOT/scifact" --retrievers $combo
  $BIN/tandem tune-fusion --dataset nfcorpus --split dev --index "$ROOT/nfcorpus" --retrievers $combo
done

MODES=bm25,sparse,dense
for combo in sparse+dense bm25+dense bm25+sparse+dense; do
  MODES=$MODES,hybrid-rrf:$combo,hybrid-tuned:$combo
done
$BIN/tandem eval --datasets scifact,nfcorpus --index-root "$ROOT" --modes "$MODES" --out "$OUT/main"
$BIN/tandem eval --datasets scifact,nfcorpus --index-root "$ROOT/siamese" --modes sparse --out "$OUT/siamese"

# The other full collections in the data dir (classic test collections, the DL19 5k smoke set):
# BM25, splade-tiny (inference-free and siamese), minilm-l6 and the hybrids. They have no train or
# dev queries, so `hybrid-tuned` uses the fusion tuned on nfcorpus dev (transfer; never tuned on test).
CLASSIC=adi,cacm,cisi,cranfield,lisa,med,time,vaswani,dl19-subset5k
$BIN/tandem eval --datasets $CLASSIC --index-root "$ROOT/classic" --build --sparse splade-tiny --sparse-mode inference-free \
  --dense minilm-l6 --bm25 --modes "$MODES" --tuned-fusion-from "$ROOT/nfcorpus" --latency-sample 0 --out "$OUT/classic"
$BIN/tandem eval --datasets $CLASSIC --index-root "$ROOT/classic-siamese" --build --sparse splade-tiny --sparse-mode siamese \
  --dense none --modes sparse --latency-sample 0 --out "$OUT/classic-siamese"
