"""TREC run files: ``qid Q0 docid rank score tag``, one hit per line.

Written deterministically: queries in sorted order (:func:`write_run`) or in the order given
(:class:`RunWriter`, which streams), hits by score descending then doc id ascending, ranks
1..n. Scores are written with 6 decimals (as pyserini does) unless that would change the
value, in which case the shortest exact form is written, so a round trip is lossless.
Note that trec_eval itself re-sorts hits by score and breaks ties by doc id *descending*; the rank
column is informational.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

from tandem.index.errors import InputError

Run = dict[str, dict[str, float]]


def ranked(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """Hits in file order: score descending, then doc id ascending."""
    return sorted(docs.items(), key=lambda item: (-item[1], item[0]))


def format_score(score: float) -> str:
    fixed = f"{score:.6f}"
    return fixed if float(fixed) == score else repr(float(score))


def _check_token(value: str, what: str, qid: str) -> None:
    if not value or any(c.isspace() for c in value):
        raise InputError(f"{what} {value!r} is empty or contains whitespace; a run file cannot hold it", f"query {qid!r}")


class RunWriter:
    """Write a TREC run file query by query, so a large query set is never held whole.

    Use as a context manager: hits go to ``<path>.tmp``, which replaces ``path`` only when the
    block ends without an error; on any error (or a query id given twice) the temp file is
    removed and ``path`` is left as it was. Queries are written in the order they are added;
    hits of a query by score descending, ties by doc id.
    """

    def __init__(self, path: Path, tag: str = "tandem") -> None:
        self.path = Path(path)
        self.tag = tag
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.num_queries = 0
        self._seen: set[str] = set()
        self._out = None

    def __enter__(self) -> "RunWriter":
        _check_token(self.tag, "run tag", "-")
        if self.path.is_dir():
            raise InputError("is a folder; give a file name for the run", str(self.path))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = self.tmp.open("w", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write the run file: {exc.strerror}", str(exc.filename or self.tmp)) from None
        return self

    def add(self, qid: str, docs: Mapping[str, float]) -> None:
        """Write one query's hits (``doc_id -> score``); each query id at most once."""
        _check_token(qid, "query id", qid)
        if qid in self._seen:
            raise InputError("query id given twice; its hits would appear twice in the run", f"query {qid!r}")
        self._seen.add(qid)
        lines = []
        for rank, (doc_id, score) in enumerate(ranked(docs), start=1):
            _check_token(doc_id, "doc id", qid)
            score = float(score)
            if not math.isfinite(score):
                raise InputError(f"score {score} of {doc_id!r} is not finite", f"query {qid!r}")
            lines.append(f"{qid} Q0 {doc_id} {rank} {format_score(score)} {self.tag}\n")
        self._out.write("".join(lines))
        self.num_queries += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._out is not None:
                self._out.close()
            if exc_type is None:
                self.tmp.replace(self.path)
        except OSError as error:
            raise InputError(f"cannot write the run file: {error.strerror}", str(self.path)) from None
        finally:
            self.tmp.unlink(missing_ok=True)


def write_run(path: Path, run: Mapping[str, Mapping[str, float]], tag: str = "tandem") -> None:
    """Write a whole run: queries in sorted order, hits by score descending, ties by doc id; atomic."""
    with RunWriter(path, tag) as writer:
        for qid in sorted(run):
            writer.add(qid, run[qid])


def read_run(path: Path) -> Run:
    """Read a TREC run file; every malformed line is an :class:`InputError` naming ``file:line``.

    Checks: 6 whitespace-separated columns, an integer rank >= 0 (some tools count from 0), a finite numeric score, and no
    document listed twice for one query. The ``Q0`` column is not checked (some tools write 0).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("run file not found", str(path))
    run: Run = {}
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            where = f"{path}:{line_no}"
            if len(parts) != 6:
                raise InputError(f"expected 6 columns 'qid Q0 docid rank score tag', got {len(parts)}", where)
            qid, _, doc_id, rank, score, _ = parts
            try:
                rank_value = int(rank)
            except ValueError:
                raise InputError(f"rank {rank!r} is not an integer", where) from None
            if rank_value < 0:
                raise InputError(f"rank {rank_value} is negative", where)
            try:
                value = float(score)
            except ValueError:
                raise InputError(f"score {score!r} is not a number", where) from None
            if not math.isfinite(value):
                raise InputError(f"score {score!r} is not finite", where)
            if doc_id in run.setdefault(qid, {}):
                raise InputError(f"document {doc_id!r} appears twice for query {qid!r}", where)
            run[qid][doc_id] = value
    return run
