"""Heterogeneous ensemble teacher: candidates, per-teacher scores, min-max ensemble, score file.

For each training query, candidates are the union of BM25 and dense top-k (plus the judged
positives). Each teacher scores every candidate; per query, each teacher's scores are min-max
normalised over the candidates, averaged (optionally weighted) and multiplied by ``scale``
(default 30), as in arXiv 2411.04403. The result is saved once as a JSONL teacher-score file
(header line, then one line per query) so that training runs can be repeated and compared.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from index.errors import InputError

FORMAT = "tandem-teacher-scores/1"


def minmax_normalize(scores: Sequence[float]) -> np.ndarray:
    """Per-query min-max to [0, 1]; a constant list maps to 0 (it carries no preference)."""
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        return values
    low, high = values.min(), values.max()
    if high == low:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def ensemble(teacher_scores: dict[str, Sequence[float | None]], weights: dict[str, float] | None = None, scale: float = 30.0) -> np.ndarray:
    """Ensemble score per candidate: weighted mean of per-teacher min-max scores, times ``scale``.

    ``None`` marks a candidate a teacher did not score; it gets that teacher's minimum (0 after
    normalisation).
    """
    weights = weights or {}
    total = 0.0
    combined = None
    for name, raw in teacher_scores.items():
        raw = list(raw)
        present = [s for s in raw if s is not None]
        floor = min(present) if present else 0.0
        normalized = minmax_normalize([floor if s is None else s for s in raw])
        weight = weights.get(name, 1.0)
        combined = normalized * weight if combined is None else combined + normalized * weight
        total += weight
    if combined is None:
        return np.zeros(0)
    return combined / total * scale


@dataclass
class TeacherRecord:
    qid: str
    query: str
    doc_ids: list[str]
    scores: dict[str, list[float | None]]
    ensemble: list[float]
    positives: list[str] = field(default_factory=list)


@dataclass
class TeacherFile:
    header: dict
    records: list[TeacherRecord]


def write_teacher_file(path: Path, header: dict, records: Sequence[TeacherRecord]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.write(json.dumps({"format": FORMAT, **header}) + "\n")
        for r in records:
            out.write(json.dumps({"qid": r.qid, "query": r.query, "doc_ids": r.doc_ids, "scores": r.scores, "ensemble": r.ensemble, "positives": r.positives}) + "\n")
    tmp.replace(path)


def read_teacher_file(path: Path) -> TeacherFile:
    path = Path(path)
    if not path.is_file():
        raise InputError("teacher-score file not found", str(path))
    records = []
    header = None
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            where = f"{path}:{line_no}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"malformed JSON: {exc.msg}", where) from None
            if line_no == 1:
                if data.get("format") != FORMAT:
                    raise InputError(f"not a teacher-score file (expected format {FORMAT!r})", where)
                header = data
                continue
            try:
                record = TeacherRecord(data["qid"], data["query"], data["doc_ids"], data["scores"], data["ensemble"], data.get("positives", []))
            except (KeyError, TypeError) as exc:
                raise InputError(f"record lacks field {exc}", where) from None
            n = len(record.doc_ids)
            if len(record.ensemble) != n or any(len(v) != n for v in record.scores.values()):
                raise InputError("score lists and doc_ids differ in length", where)
            records.append(record)
    if header is None:
        raise InputError("empty teacher-score file", str(path))
    return TeacherFile(header, records)


TEACHERS = ("dense", "sparse", "bm25")


def mine_teacher_scores(searcher, eval_set, teachers: Sequence[str] = TEACHERS, candidates: int = 20, weights: dict[str, float] | None = None,
                        scale: float = 30.0, sparse_teacher: str = "splade-tiny", batch: int = 32) -> tuple[dict, list[TeacherRecord]]:
    """Candidates from BM25 ∪ dense top-k (+ judged positives) and every teacher's score for each.

    ``searcher`` must have ``dense`` and ``bm25`` retrievers (and a sparse forward index for the
    siamese sparse teacher, whose queries are encoded with ``sparse_teacher``).
    """
    import torch

    from index.sparse import SparseVector

    from ..splade import SpladeConfig, SpladeEncoder

    for needed in ("dense", "bm25"):
        if needed not in searcher.retrievers:
            raise InputError(f"mining candidates needs a {needed!r} retriever in the index", "--index")
    splade = SpladeEncoder(SpladeConfig(sparse_teacher)) if "sparse" in teachers else None
    dense_index = searcher.dense.index
    records = []
    queries = eval_set.queries
    for start in tqdm(range(0, len(queries), batch), desc="teacher scores", unit="batch"):
        part = queries[start : start + batch]
        texts = [q.text for q in part]
        bm25_lists = searcher.retrieve("bm25", texts, 1000)
        dense_lists = searcher.retrieve("dense", texts, candidates)
        qdense = searcher.encode_dense(texts)
        qsparse = splade.encode(texts) if splade else None
        for i, query in enumerate(part):
            positives = [d for d, rel in eval_set.qrels.get(query.query_id, {}).items() if rel > 0 and searcher.docs.idx(d) is not None]
            pool = list(dict.fromkeys(list(bm25_lists[i])[:candidates] + list(dense_lists[i]) + positives))
            pool = [d for d in pool if d != query.query_id]
            idx = [searcher.docs.idx(d) for d in pool]
            scores: dict[str, list[float | None]] = {}
            if "dense" in teachers:
                vectors = np.stack([dense_index.reconstruct(int(j)) for j in idx])
                scores["dense"] = (vectors @ qdense[i]).astype(float).tolist()
            if "sparse" in teachers:
                q: SparseVector = qsparse[i]
                qmap = dict(zip(q.ids.tolist(), q.weights.tolist()))
                sparse_scores = []
                for j in idx:
                    d = searcher.sparse.doc_vector(j)
                    sparse_scores.append(float(sum(qmap.get(t, 0.0) * w for t, w in zip(d.ids.tolist(), d.weights.tolist()))))
                scores["sparse"] = sparse_scores
            if "bm25" in teachers:
                scores["bm25"] = [bm25_lists[i].get(d) for d in pool]
            combined = ensemble(scores, weights, scale)
            records.append(TeacherRecord(query.query_id, query.text, pool, scores, combined.tolist(), positives))
        del qsparse
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
    header = {
        "teachers": list(teachers), "weights": weights or {t: 1.0 for t in teachers}, "scale": scale,
        "normalization": "min-max per query over the candidates", "candidates": f"BM25 top-{candidates} ∪ dense top-{candidates} ∪ judged positives",
        "sparse_teacher": sparse_teacher if "sparse" in teachers else None,
        "dense_teacher": searcher.manifest.settings("dense")["encoder"]["model"],
        "dataset": eval_set.name, "split": eval_set.split, "num_queries": len(records), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return header, records


def reweight(file: TeacherFile, teachers: Sequence[str], weights: dict[str, float] | None = None, scale: float | None = None) -> list[np.ndarray]:
    """Ensemble targets from a subset of the file's teachers (e.g. one teacher for an ablation)."""
    missing = [t for t in teachers if t not in file.header["teachers"]]
    if missing:
        raise InputError(f"teacher(s) {', '.join(missing)} not in the file (has {', '.join(file.header['teachers'])})", "--teachers")
    scale = file.header["scale"] if scale is None else scale
    return [ensemble({t: r.scores[t] for t in teachers}, weights, scale) for r in file.records]
