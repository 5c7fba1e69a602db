"""Dataset registry: BEIR-layout folders found by name in a data directory.

A data dir (``--data-dir`` or ``TANDEM_DATA_DIR``) holds BEIR-layout folders
(``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``) under ``beir/``, ``classic/``
or ``msmarco/``. A name resolves to the first folder that exists among
``<data>/<name>``, ``<data>/beir/<name>``, ``<data>/classic/<name>``, ``<data>/msmarco/<name>``.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from index.corpus import iter_jsonl
from index.errors import InputError

DATA_DIR_ENV = "TANDEM_DATA_DIR"
SEARCH_PREFIXES = ("", "beir", "classic", "msmarco")


def data_dir(explicit: str | Path | None = None) -> Path | None:
    """The data dir from an explicit option, else ``$TANDEM_DATA_DIR``, else None."""
    value = explicit or os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


@dataclass(frozen=True)
class DatasetPaths:
    name: str
    root: Path

    @property
    def corpus(self) -> Path:
        return self.root / "corpus.jsonl"

    @property
    def queries(self) -> Path:
        return self.root / "queries.jsonl"

    def qrels(self, split: str) -> Path:
        return self.root / "qrels" / f"{split}.tsv"

    def splits(self) -> list[str]:
        qrels_dir = self.root / "qrels"
        return sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []


def available_datasets(data: str | Path | None = None) -> list[str]:
    """Names of every BEIR-layout folder with a corpus in the data dir."""
    root = data_dir(data)
    if root is None or not root.is_dir():
        return []
    names = []
    for corpus in sorted(root.glob("**/corpus.jsonl")):
        rel = corpus.parent.relative_to(root)
        parts = rel.parts
        names.append("/".join(parts[1:]) if parts and parts[0] in SEARCH_PREFIXES[1:] and len(parts) > 1 else str(rel))
    return names


def resolve_dataset(name: str, data: str | Path | None = None) -> DatasetPaths:
    """Find a dataset folder by name (or accept a path to a BEIR-layout folder)."""
    as_path = Path(name).expanduser()
    if as_path.is_dir() and (as_path / "corpus.jsonl").is_file():
        return DatasetPaths(as_path.name, as_path)
    root = data_dir(data)
    if root is None:
        raise InputError(
            f"dataset {name!r} is not a folder; give --data-dir or set {DATA_DIR_ENV} to find it by name",
            "--corpus/--dataset",
        )
    for prefix in SEARCH_PREFIXES:
        candidate = root / prefix / name if prefix else root / name
        if (candidate / "corpus.jsonl").is_file():
            return DatasetPaths(name, candidate)
    known = ", ".join(available_datasets(root)) or "none"
    raise InputError(f"dataset {name!r} not found in data dir {root} (available: {known})", "--corpus/--dataset")


def resolve_corpus(name_or_path: str, data: str | Path | None = None) -> Path:
    """A corpus JSONL path from a file path, a BEIR folder, or a dataset name."""
    as_path = Path(name_or_path).expanduser()
    if as_path.is_file():
        return as_path
    return resolve_dataset(name_or_path, data).corpus


@dataclass(frozen=True, slots=True)
class Query:
    query_id: str
    text: str


def read_queries(path: str | Path, ids: set[str] | None = None) -> list[Query]:
    """Read BEIR ``queries.jsonl`` (``_id``, ``text``) or a TSV of ``qid<TAB>text``."""
    path = Path(path)
    queries: list[Query] = []
    if path.suffix in (".tsv", ".txt"):
        with path.open(encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 2:
                    raise InputError("expected 'query-id<TAB>text'", f"{path}:{line_no}")
                if ids is None or parts[0] in ids:
                    queries.append(Query(parts[0], parts[1]))
        return queries
    for line_no, record in iter_jsonl(path):
        qid = record.get("_id", record.get("id"))
        text = record.get("text", record.get("query"))
        if qid is None or not isinstance(text, str):
            raise InputError("a query needs '_id' and 'text'", f"{path}:{line_no}")
        qid = str(qid)
        if ids is None or qid in ids:
            queries.append(Query(qid, text))
    return queries


Qrels = dict[str, dict[str, int]]


def read_qrels(path: str | Path) -> Qrels:
    """Read BEIR qrels TSV (header ``query-id corpus-id score``) or TREC qrels (``qid 0 docid rel``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("qrels file not found", str(path))
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            if line_no == 1 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            if len(parts) == 3:
                qid, docid, rel = parts
            elif len(parts) == 4:
                qid, _, docid, rel = parts
            else:
                raise InputError("expected 3 (BEIR) or 4 (TREC) columns", f"{path}:{line_no}")
            try:
                qrels.setdefault(qid, {})[docid] = int(rel)
            except ValueError:
                raise InputError(f"relevance {rel!r} is not an integer", f"{path}:{line_no}") from None
    return qrels
