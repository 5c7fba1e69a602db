# Tandem: `make demo` (set-up + hybrid index of BEIR scifact + example queries), `make test`.
PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
DATA_DIR ?= $(abspath ../shared/data)
INDEXES  ?= indexes
export TANDEM_DATA_DIR ?= $(DATA_DIR)
export TOKENIZERS_PARALLELISM := false

.PHONY: install browser demo test test-fast bench bench-scale results clean-indexes

# A virtualenv with Tandem and its test tools. torch is pinned to the CPU build first so that
# no dependency resolves a multi-GB CUDA build.
$(BIN)/.tandem-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(BIN)/.tandem-installed

# Headless Chromium + driver for the browser tests (Debian packages; needs root or sudo): only what
# they require (no recommends), no upgrades outside CI (ALLOW_UPGRADES=1 to accept), and says what it installed.
browser:
	@bash scripts/install-browser.sh

$(INDEXES)/scifact/manifest.json: | install
	$(BIN)/tandem index build --corpus scifact --out $(INDEXES)/scifact --sparse splade-tiny --dense minilm-l6 --bm25 --overwrite

demo: install $(INDEXES)/scifact/manifest.json
	$(BIN)/tandem index info $(INDEXES)/scifact
	$(BIN)/tandem search --index $(INDEXES)/scifact "Vitamin D deficiency increases the risk of bone fractures" -k 5
	$(BIN)/tandem search --index $(INDEXES)/scifact "0-dimensional biomaterials show inductive properties" -k 5 --mode sparse --explain
	$(BIN)/tandem search --index $(INDEXES)/scifact "statins lower LDL cholesterol" -k 5 --fusion wsum --weights sparse=0.3,dense=0.4,bm25=0.3

test: install browser
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

bench: install
	$(BIN)/python bench/bench_core.py --out bench/results/core.json
	$(BIN)/python bench/bench_service.py --out bench/results/service.json

# Scaling benchmark (issue 11 §4; hours on 2 cores, not part of `make test`): pkgsum prefixes and synthetic long
# documents, every engine side by side -> bench/results/scale.{json,png}. pkgsum is encoded once with `tandem encode`
# (two shards side by side, bf16) into SCALE_ENCODED unless its shards are there; indexes go to SCALE_WORK.
SCALE_WORK    ?= /tmp/tandem-bench-scale
SCALE_ENCODED ?= $(SCALE_WORK)/pkgsum-encoded
bench-scale: install
	test -f $(SCALE_ENCODED)/shard-00000-of-00002/shard.json -a -f $(SCALE_ENCODED)/shard-00001-of-00002/shard.json || { for i in 0 1; do \
	  OMP_NUM_THREADS=1 nice -n 10 $(BIN)/tandem encode --corpus $(DATA_DIR)/scale/pkgsum/corpus.jsonl.gz --sparse splade-tiny \
	    --dense none --precision bf16 --batch-size 32 --out $(SCALE_ENCODED) --shard $$i/2 & done; wait; }
	nice -n 10 $(BIN)/python bench/bench_scale.py --encoded $(SCALE_ENCODED) --work $(SCALE_WORK) \
	  --out bench/results/scale.json --plot bench/results/scale.png

results: install
	bash scripts/results.sh

clean-indexes:
	rm -rf $(INDEXES)
