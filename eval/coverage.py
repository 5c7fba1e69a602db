"""Checks before scoring that catch a mismatch which would otherwise print 0.0000 everywhere:
judged documents missing from the index (an index of another corpus), or qrels queries missing
from a run (a run made for another dataset or split)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from tandem.index.errors import TandemError

MIN_COVERAGE = 0.5


@dataclass(frozen=True)
class Coverage:
    """``found`` of ``total`` items (``what``, e.g. "judged documents") are present."""

    what: str
    found: int
    total: int

    @property
    def fraction(self) -> float:
        return self.found / self.total if self.total else 1.0

    def describe(self) -> str:
        return f"{self.found:,} of {self.total:,} {self.what} ({100 * self.fraction:.1f}%)"


def judged_documents_in_index(qrels: Mapping[str, Mapping[str, int]], contains: Callable[[str], bool]) -> Coverage:
    """How many distinct judged documents (any label) ``contains(doc_id)`` finds in the index."""
    judged = {doc_id for docs in qrels.values() for doc_id in docs}
    return Coverage("judged documents are in the index", sum(1 for doc_id in judged if contains(doc_id)), len(judged))


def qrels_queries_in_run(run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]]) -> Coverage:
    """How many qrels queries have at least one hit in the run."""
    return Coverage("judged queries have hits in the run", sum(1 for qid in qrels if run.get(qid)), len(qrels))


def check_coverage(coverage: Coverage, where: str, likely_cause: str, force: bool, minimum: float = MIN_COVERAGE) -> None:
    """Refuse (one :class:`TandemError` line) when the fraction is below ``minimum``, unless ``force``."""
    if coverage.fraction < minimum and not force:
        raise TandemError(f"only {coverage.describe()}, below {minimum:.0%}: {likely_cause}; pass --force to evaluate anyway", where)
