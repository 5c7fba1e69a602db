"""Heterogeneous ensemble teacher: per-query min-max normalisation, weighted ensemble, score file.

Following arXiv 2411.04403 (heterogeneous ensemble knowledge distillation), each teacher (e.g. a dense
bi-encoder, a siamese sparse model, BM25) scores every candidate of a query; per query, each teacher's
scores are min-max normalised over that query's candidates,

    n_k(q, d) = (s_k(q, d) - min_d' s_k(q, d')) / (max_d' s_k(q, d') - min_d' s_k(q, d')),

then averaged with weights ``w_k`` (default 1) and multiplied by ``scale`` (default 30):

    t(q, d) = scale * sum_k w_k n_k(q, d) / sum_k w_k.

Conventions: a candidate a teacher did not score gets that teacher's per-query minimum, i.e. 0 after
normalisation (a teacher that has no scores at all for a query gives 0 to all its candidates); a
teacher whose scores for a query are all equal (including a single candidate) carries no preference and
gives 0 to every candidate (never NaN). The ensemble targets then go through ``softmax(t / tau)`` in
``losses.kl_distillation``, so ``scale`` acts as an inverse temperature.

Teacher-score file (JSONL, optionally gzip-compressed when the name ends in ``.gz``; UTF-8):

- line 1, the header: ``{"format": "tandem-teacher-scores/1", "teachers": [...], "weights": {...},
  "scale": 30.0, "normalization": "...", "created": "<UTC ISO time>", "num_queries": N, ...}`` plus any
  other creation metadata (dataset, split, teacher models, candidate pools);
- then one line per query: ``{"qid", "query", "doc_ids": [...], "scores": {teacher: [raw score or null,
  ...]}, "ensemble": [...], "positives": [...]}``, every list aligned with ``doc_ids``.

``write_teacher_file`` / ``read_teacher_file`` round-trip exactly (floats via their shortest repr).
Malformed files raise ``tandem.index.errors.InputError`` (a ``TandemError``) whose ``where`` is ``path:line``.
"""
from __future__ import annotations

import gzip
import io
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from tandem.index.errors import InputError

FORMAT = "tandem-teacher-scores/1"
NORMALIZATION = "min-max per query over the candidates; missing candidate = the teacher's minimum (0); constant scores = 0"
_FLOAT_TYPES = (int, float, np.integer, np.floating)


# --------------------------------------------------------------------------------------------------
# Normalisation and ensemble


def _finite(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, _FLOAT_TYPES) or not math.isfinite(float(value)):
        raise InputError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def minmax_normalize(scores):
    """Min-max normalise one query's candidate scores to [0, 1].

    ``scores``: a sequence (returns an ``np.ndarray``) or a mapping ``doc_id -> score`` (returns a
    ``dict`` with the same keys). ``(s - min) / (max - min)``; all-equal scores map to 0.0 (no
    preference, no NaN); an empty input gives an empty result. Non-finite scores raise ``InputError``.
    """
    if isinstance(scores, Mapping):
        keys = list(scores)
        values = minmax_normalize([scores[k] for k in keys])
        return {k: float(v) for k, v in zip(keys, values)}
    values = np.asarray([_finite(s, "a teacher score") for s in scores], dtype=np.float64)
    if values.size == 0:
        return values
    low, high = values.min(), values.max()
    if high == low:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def _check_weights(names: Sequence[str], weights: Mapping[str, float] | None) -> dict[str, float]:
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise InputError(f"weight(s) for unknown teacher(s) {', '.join(unknown)} (teachers: {', '.join(names)})", "weights")
    resolved = {}
    for name in names:
        value = _finite(weights.get(name, 1.0), f"weight of teacher {name!r}")
        if value < 0:
            raise InputError(f"weight of teacher {name!r} is negative ({value})", "weights")
        resolved[name] = value
    if names and sum(resolved.values()) <= 0:
        raise InputError("teacher weights sum to zero", "weights")
    return resolved


def ensemble_candidates(teacher_scores: Mapping[str, Sequence[float | None]], weights: Mapping[str, float] | None = None,
                        scale: float = 30.0) -> np.ndarray:
    """Ensemble over one query's aligned candidate lists: ``{teacher: [raw score or None, ...]}``.

    ``None`` marks a candidate the teacher did not score (-> 0 after normalisation). Returns
    ``scale * sum_k w_k n_k / sum_k w_k`` as an array aligned with the lists.
    """
    names = list(teacher_scores)
    resolved = _check_weights(names, weights)
    scale = _finite(scale, "scale")
    lengths = {len(v) for v in teacher_scores.values()}
    if len(lengths) > 1:
        raise InputError(f"teachers score different numbers of candidates ({sorted(lengths)})")
    if not names:
        return np.zeros(0)
    combined = np.zeros(lengths.pop())
    for name in names:
        raw = list(teacher_scores[name])
        present = [s for s in raw if s is not None]
        floor = min(present) if present else 0.0
        combined += resolved[name] * minmax_normalize([floor if s is None else s for s in raw])
    return combined / sum(resolved.values()) * scale


def ensemble(teacher_scores: Mapping, weights: Mapping[str, float] | None = None, scale: float = 30.0):
    """Weighted min-max ensemble, ``scale * sum_k w_k n_k(q, d) / sum_k w_k`` (see the module docstring).

    ``teacher_scores``: ``{teacher: {qid: {doc_id: raw score}}}``. Returns ``{qid: {doc_id: score}}``
    over the union of queries and, per query, the union of candidates (first-seen order, teachers in
    the given order). A candidate (or a whole query) missing from a teacher gets 0 from it.

    The per-query list form ``{teacher: [score or None, ...]}`` is also accepted and returns an array
    (``ensemble_candidates``); the trainers and the miner use it.
    """
    if not all(isinstance(v, Mapping) for v in teacher_scores.values()):
        return ensemble_candidates(teacher_scores, weights, scale)
    names = list(teacher_scores)
    resolved = _check_weights(names, weights)
    scale = _finite(scale, "scale")
    total = sum(resolved.values())
    qids = list(dict.fromkeys(q for per_query in teacher_scores.values() for q in per_query))
    out: dict[str, dict[str, float]] = {}
    for qid in qids:
        candidates = list(dict.fromkeys(d for name in names for d in teacher_scores[name].get(qid, {})))
        combined = dict.fromkeys(candidates, 0.0)
        for name in names:
            normalized = minmax_normalize(dict(teacher_scores[name].get(qid, {})))
            for doc_id, value in normalized.items():
                combined[doc_id] += resolved[name] * value
        out[qid] = {d: v / total * scale for d, v in combined.items()}
    return out


# --------------------------------------------------------------------------------------------------
# Records and the teacher-score file


@dataclass
class TeacherRecord:
    """One query: its candidates, each teacher's raw scores (``None`` = not scored) and the ensemble."""

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


def make_records(teacher_scores: Mapping[str, Mapping[str, Mapping[str, float]]], weights: Mapping[str, float] | None = None,
                 scale: float = 30.0, queries: Mapping[str, str] | None = None,
                 positives: Mapping[str, Sequence[str]] | None = None) -> list[TeacherRecord]:
    """Records from ``{teacher: {qid: {doc_id: raw score}}}``: candidates and ensemble as in ``ensemble``,
    raw scores aligned with the candidates (``None`` where a teacher did not score one)."""
    combined = ensemble(teacher_scores, weights, scale)
    records = []
    for qid, per_doc in combined.items():
        doc_ids = list(per_doc)
        raw = {name: [per_query.get(qid, {}).get(d) for d in doc_ids] for name, per_query in teacher_scores.items()}
        records.append(TeacherRecord(qid, (queries or {}).get(qid, ""), doc_ids, raw, [per_doc[d] for d in doc_ids],
                                     list((positives or {}).get(qid, []))))
    return records


def _open_text(path: Path):
    """Text reader for a teacher file, transparently gunzipping ``*.gz``."""
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="\n")
    return path.open("r", encoding="utf-8", newline="\n")


def _reject_constant(name: str):
    raise ValueError(f"non-finite number {name}")


def _check_record(record: TeacherRecord, teachers: Sequence[str], where: str) -> None:
    """Validate one record against the header's teachers; raise ``InputError`` at ``where``."""
    def fail(message: str):
        raise InputError(f"query {record.qid!r}: {message}" if isinstance(record.qid, str) else message, where)

    if not isinstance(record.qid, str) or not record.qid:
        raise InputError(f"qid must be a non-empty string, got {record.qid!r}", where)
    if not isinstance(record.query, str):
        fail("query must be a string")
    if not isinstance(record.doc_ids, list) or not all(isinstance(d, str) for d in record.doc_ids):
        fail("doc_ids must be a list of strings")
    if len(set(record.doc_ids)) != len(record.doc_ids):
        fail("doc_ids repeat a document")
    if not isinstance(record.positives, list) or not all(isinstance(d, str) for d in record.positives):
        fail("positives must be a list of strings")
    if not isinstance(record.scores, dict):
        fail("scores must be an object {teacher: [score, ...]}")
    n = len(record.doc_ids)
    if not isinstance(record.ensemble, list) or len(record.ensemble) != n or any(
            not isinstance(v, list) or len(v) != n for v in record.scores.values()):
        fail("score lists and doc_ids differ in length")
    if set(record.scores) != set(teachers):
        fail(f"scores must have exactly the header's teachers {list(teachers)}, got {sorted(record.scores)}")
    try:
        for name, values in record.scores.items():
            for v in values:
                if v is not None:
                    _finite(v, f"score of teacher {name!r}")
        for v in record.ensemble:
            _finite(v, "ensemble score")
    except InputError as exc:
        fail(exc.message)


def write_teacher_file(path: Path, header: Mapping, records: Sequence[TeacherRecord]) -> dict:
    """Write a teacher-score file (atomically: a temporary file, then a rename); returns the header written.

    ``header`` needs ``teachers`` (else taken from the first record) and ``scale`` (default 30.0);
    ``weights`` (default 1.0 each), ``normalization`` and ``created`` (UTC now) are filled in if absent,
    ``num_queries`` is set to ``len(records)``, other keys are kept as creation metadata. Records are
    validated first (``InputError`` naming the file and the record's future line).
    """
    path = Path(path)
    header = dict(header)
    header.pop("format", None)
    if "teachers" not in header:
        header["teachers"] = list(records[0].scores) if records else []
    teachers = header["teachers"]
    if not isinstance(teachers, list) or not all(isinstance(t, str) for t in teachers) or len(set(teachers)) != len(teachers):
        raise InputError(f"header 'teachers' must be a list of distinct names, got {teachers!r}", str(path))
    header["weights"] = _check_weights(teachers, header.get("weights"))
    header["scale"] = _finite(header.get("scale", 30.0), "scale")
    header.setdefault("normalization", NORMALIZATION)
    header.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    header["num_queries"] = len(records)
    seen: set[str] = set()
    for line_no, r in enumerate(records, start=2):
        _check_record(r, teachers, f"{path}:{line_no}")
        if r.qid in seen:
            raise InputError(f"query {r.qid!r} appears twice", f"{path}:{line_no}")
        seen.add(r.qid)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    num = lambda v: None if v is None else float(v)  # noqa: E731  (numpy scalars -> float; exact)
    try:
        lines = [json.dumps({"format": FORMAT, **header}, ensure_ascii=False, allow_nan=False)]
    except (TypeError, ValueError) as exc:
        raise InputError(f"header is not JSON-serialisable: {exc}", str(path)) from None
    for r in records:
        lines.append(json.dumps({"qid": r.qid, "query": r.query, "doc_ids": r.doc_ids,
                                 "scores": {t: [num(v) for v in r.scores[t]] for t in teachers},
                                 "ensemble": [float(v) for v in r.ensemble], "positives": r.positives},
                                ensure_ascii=False, allow_nan=False))
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    # gzip without a file name or time stamp in its header: the same content gives the same bytes
    tmp.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    tmp.replace(path)
    return header


def read_teacher_file(path: Path) -> TeacherFile:
    """Read and validate a teacher-score file; ``header`` is returned without the ``format`` key.

    Any problem (not found, not gzip/UTF-8, bad JSON, wrong format tag, missing or mistyped fields,
    lists not aligned with ``doc_ids``, non-finite numbers, unknown teachers, repeated queries, fewer or
    more records than the header's ``num_queries``) raises ``InputError`` with ``where = "path:line"``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("teacher-score file not found", str(path))
    records: list[TeacherRecord] = []
    header = None
    seen: set[str] = set()
    line_no = 0
    try:
        with _open_text(path) as handle:
            for line_no, line in enumerate(handle, start=1):
                where = f"{path}:{line_no}"
                if not line.strip():
                    continue
                try:
                    data = json.loads(line, parse_constant=_reject_constant)
                except json.JSONDecodeError as exc:
                    raise InputError(f"malformed JSON: {exc.msg} (column {exc.colno})", where) from None
                except ValueError as exc:
                    raise InputError(str(exc), where) from None
                if not isinstance(data, dict):
                    raise InputError("each line must be a JSON object", where)
                if header is None:
                    if data.get("format") != FORMAT:
                        raise InputError(f"not a teacher-score file (expected format {FORMAT!r} on the first line)", where)
                    header = {k: v for k, v in data.items() if k != "format"}
                    teachers = header.get("teachers")
                    if not isinstance(teachers, list) or not all(isinstance(t, str) for t in teachers) or len(set(teachers)) != len(teachers):
                        raise InputError("header 'teachers' must be a list of distinct names", where)
                    if "scale" not in header:
                        raise InputError("header lacks 'scale'", where)
                    try:
                        _finite(header["scale"], "header 'scale'")
                        if "weights" in header:
                            if not isinstance(header["weights"], dict):
                                raise InputError("header 'weights' must be an object")
                            _check_weights(teachers, header["weights"])
                    except InputError as exc:
                        raise InputError(exc.message, where) from None
                    continue
                missing = [k for k in ("qid", "query", "doc_ids", "scores", "ensemble") if k not in data]
                if missing:
                    raise InputError(f"record lacks field(s) {', '.join(missing)}", where)
                extra = sorted(set(data) - {"qid", "query", "doc_ids", "scores", "ensemble", "positives"})
                if extra:
                    raise InputError(f"record has unknown field(s) {', '.join(extra)}", where)
                record = TeacherRecord(data["qid"], data["query"], data["doc_ids"], data["scores"], data["ensemble"], data.get("positives", []))
                _check_record(record, header["teachers"], where)
                if record.qid in seen:
                    raise InputError(f"query {record.qid!r} appears twice", where)
                seen.add(record.qid)
                records.append(record)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read teacher-score file: {exc}", f"{path}:{line_no + 1}") from None
    if header is None:
        raise InputError("empty teacher-score file", str(path))
    expected = header.get("num_queries")
    if expected is not None and expected != len(records):
        raise InputError(f"header says {expected} queries but the file has {len(records)} (truncated?)", f"{path}:{line_no}")
    return TeacherFile(header, records)


TEACHERS = ("dense", "sparse", "bm25")


def mine_teacher_scores(searcher, eval_set, teachers: Sequence[str] = TEACHERS, candidates: int = 20, weights: dict[str, float] | None = None,
                        scale: float = 30.0, sparse_teacher: str = "splade-tiny", batch: int = 32) -> tuple[dict, list[TeacherRecord]]:
    """Candidates from BM25 ∪ dense top-k (+ judged positives) and every teacher's score for each.

    ``searcher`` must have ``dense`` and ``bm25`` retrievers (and a sparse forward index for the
    siamese sparse teacher, whose queries are encoded with ``sparse_teacher``).
    """
    import torch

    from tandem.index.sparse import SparseVector

    from ..retriever import supports
    from ..splade import SpladeConfig, SpladeEncoder

    for needed in ("dense", "bm25"):
        if needed not in searcher.retrievers:
            raise InputError(f"mining candidates needs a {needed!r} retriever in the index", "--index")
    splade = SpladeEncoder(SpladeConfig(sparse_teacher)) if "sparse" in teachers else None
    # teachers score candidates with the vectors the index stores, through the retrievers' capabilities
    dense = searcher.retriever("dense")
    sparse = searcher.retriever("sparse") if "sparse" in teachers else None
    if sparse is not None and not supports(sparse, "doc_vector"):
        raise InputError("the sparse teacher needs a retriever 'sparse' that can return document vectors", "--index")
    records = []
    queries = eval_set.queries
    for start in tqdm(range(0, len(queries), batch), desc="teacher scores", unit="batch"):
        part = queries[start : start + batch]
        texts = [q.text for q in part]
        bm25_lists = searcher.retrieve("bm25", texts, 1000)
        dense_lists = searcher.retrieve("dense", texts, candidates)
        qdense = dense.encode(texts)
        qsparse = splade.encode(texts) if splade else None
        for i, query in enumerate(part):
            positives = [d for d, rel in eval_set.qrels.get(query.query_id, {}).items() if rel > 0 and d in searcher.docs]
            pool = list(dict.fromkeys(list(bm25_lists[i])[:candidates] + list(dense_lists[i]) + positives))
            pool = [d for d in pool if d != query.query_id]
            scores: dict[str, list[float | None]] = {}
            if "dense" in teachers:
                vectors = np.stack([dense.doc_vector(d) for d in pool])
                scores["dense"] = (vectors @ qdense[i]).astype(float).tolist()
            if "sparse" in teachers:
                q: SparseVector = qsparse[i]
                qmap = dict(zip(q.ids.tolist(), q.weights.tolist()))
                sparse_scores = []
                for doc_id in pool:
                    d = sparse.doc_vector(doc_id)
                    sparse_scores.append(float(sum(qmap.get(t, 0.0) * w for t, w in zip(d.ids.tolist(), d.weights.tolist()))))
                scores["sparse"] = sparse_scores
            if "bm25" in teachers:
                scores["bm25"] = [bm25_lists[i].get(d) for d in pool]
            combined = ensemble_candidates(scores, weights, scale)
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
    return [ensemble_candidates({t: r.scores[t] for t in teachers}, weights, scale) for r in file.records]


def sample_candidates(scores: np.ndarray, count: int, rng) -> list[int]:
    """Candidate positions for one training query: the teacher's best first, then ``count - 1``
    hard negatives sampled from its next ``3 * count`` (repeated when a query has too few)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    rest = order[1 : 3 * count].tolist()
    picked = [int(order[0])] + rng.sample(rest, min(count - 1, len(rest)))
    while len(picked) < count:
        picked.append(picked[-1])
    return picked


def training_batch(file: TeacherFile, targets: Sequence[np.ndarray], chosen: Sequence[int], docs: dict[str, str], count: int, rng) -> tuple[list[str], list[str], list[list[float]]]:
    """For the chosen records: query texts, ``count`` candidate texts per query (flattened, the
    teacher's best first) and the matching teacher scores, one row per query."""
    queries, texts, teacher_rows = [], [], []
    for e in chosen:
        record, scores = file.records[e], targets[e]
        picked = sample_candidates(scores, count, rng)
        queries.append(record.query)
        texts += [docs[record.doc_ids[j]] for j in picked]
        teacher_rows.append([float(scores[j]) for j in picked])
    return queries, texts, teacher_rows
