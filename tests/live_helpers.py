"""Helpers shared by the live-index tests (test_live_index.py, test_crash_recovery.py).

Small self-written corpora, building indexes quietly, and comparing rankings: the same ids in
the same order and scores equal within a tolerance.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from tandem.index.commits import COMMITS, SEGMENTS, STAGING
from tandem.index.corpus import Document
from tandem.index.manifest import read_manifest
from tandem.index.merge_area import MERGING

from conftest import REPO, write_jsonl

TOLERANCE = 1e-5  # relative (for scores above 1): float32 sums of the same ~10-30 terms in another order differ by ~10 ulps (seen: 1.3e-6)

BASE = [
    Document("b00", "Vitamin D", "Vitamin D deficiency is associated with low bone density in older adults."),
    Document("b01", "Bone health", "Calcium and vitamin supplements reduce fracture risk in women."),
    Document("b02", "Sleep", "Poor sleep quality raises the risk of heart disease and obesity."),
    Document("b03", "Exercise", "Regular exercise improves heart health and lowers blood pressure."),
    Document("b04", "Diabetes", "Insulin resistance is an early sign of type 2 diabetes."),
    Document("b05", "Coffee", "Moderate coffee drinking is linked to lower risk of liver disease."),
    Document("b06", "Smoking", "Smoking damages lung tissue and causes most lung cancer cases."),
    Document("b07", "Gut", "Gut bacteria influence immune responses and inflammation."),
    Document("b08", "Antibiotics", "Overuse of antibiotics drives bacterial resistance in hospitals."),
    Document("b09", "Salt", "High salt intake raises blood pressure in sensitive people."),
    Document("b10", "Stress", "Chronic stress elevates cortisol and weakens immune defence."),
    Document("b11", "Fish oil", "Omega-3 fatty acids from fish oil may protect the heart."),
]
POOL = [
    Document("p0", "Statins", "Statins lower cholesterol and reduce heart attack risk."),
    Document("p1", "Vaccines", "Vaccines train the immune system against infection."),
    Document("p2", "Sunlight", "Sunlight exposure lets the skin produce vitamin D."),
    Document("p3", "Alcohol", "Heavy alcohol use damages the liver and raises cancer risk."),
    Document("p4", "Obesity", "Obesity increases the risk of diabetes and heart disease."),
    Document("p5", "Asthma", "Air pollution triggers asthma attacks in children."),
    Document("p6", "Aspirin", "Low dose aspirin thins the blood after a heart attack."),
    Document("p7", "Probiotics", "Probiotics may restore gut bacteria after antibiotics."),
]
ORIGINAL = {d.doc_id: d for d in BASE + POOL}
VARIANTS = ["a revised trial reports new findings", "an erratum corrects the dosage", "retracted after peer review"]
QUERIES = ["vitamin d and bone density", "heart disease risk", "immune system bacteria", "blood pressure salt", "cancer liver damage", "revised dosage findings"]


def replacement(doc_id: str, variant: int) -> Document:
    """A new version of a document: its original text plus a variant sentence (unique per id and variant)."""
    doc = ORIGINAL[doc_id]
    return Document(doc_id, doc.title, f"{doc.text} {VARIANTS[variant]}")


def write_docs(path: Path, docs: Sequence[Document]) -> Path:
    """A BEIR-style corpus.jsonl of ``docs``, in this order."""
    return write_jsonl(path, [{"_id": d.doc_id, "title": d.title, "text": d.text} for d in docs])


def build(corpus: Path, out: Path, dense: str | None = None, **settings) -> Path:
    """An inference-free index of ``corpus`` at ``out`` (sparse; ``dense`` and Lucene components on request).

    Sparse weights are float32 unless ``sparse_weights`` says otherwise: a live index equals a fresh
    build only with exact weights (quantised, each segment has its own scale; the bound is tested in
    ``test_live_index.py::test_a_quantised_live_index_stays_within_its_bound``)."""
    from tandem.retrieval.build import BuildConfig, build_index

    settings.setdefault("sparse_weights", "float32")
    config = BuildConfig(corpus=str(corpus), sparse_mode="inference-free", dense=dense, **settings)
    build_index(config, out, corpus, log=lambda _: None, show_progress=False)
    return out


def assert_same_rankings(actual: list[dict[str, float]], expected: list[dict[str, float]], queries: Sequence[str], what: str) -> None:
    """Per query: identical ids in identical order, scores within ``TOLERANCE`` (relative above 1)."""
    assert len(actual) == len(expected) == len(queries)
    for query, got, want in zip(queries, actual, expected):
        assert list(got) == list(want), f"{what}, query {query!r}: ids {list(got)} != {list(want)}"
        want_scores = np.array(list(want.values()), dtype=np.float64)
        diff = np.abs(np.array(list(got.values()), dtype=np.float64) - want_scores) / np.maximum(1.0, np.abs(want_scores))
        assert diff.size == 0 or diff.max() <= TOLERANCE, f"{what}, query {query!r}: scores differ by {diff.max():.3g} (relative)"


def on_disk_garbage(root: Path) -> list[str]:
    """What a finished writer must not leave in an index: segments no commit names, old commits, staging, merge areas."""
    manifest = read_manifest(root)
    named = {s.name for s in manifest.segments}
    leftovers = [f"{SEGMENTS}/{p.name}" for p in sorted((root / SEGMENTS).iterdir()) if p.name not in named] if (root / SEGMENTS).is_dir() else []
    leftovers += [f"{COMMITS}/{p.name}" for p in sorted((root / COMMITS).glob("*.json")) if int(p.stem) != manifest.generation]
    if (root / STAGING).exists():
        leftovers.append(STAGING)
    if (root / MERGING).exists():
        leftovers.append(MERGING)
    return leftovers


def run_tandem(args: Sequence[str], crash_at: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m tandem.cli ARGS`` in a real subprocess, SIGKILLed at ``crash_at`` if given."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    env.pop("TANDEM_CRASH_AT", None)
    if crash_at:
        env["TANDEM_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "tandem.cli", *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
