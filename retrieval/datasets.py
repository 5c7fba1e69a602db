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


# -- MS MARCO query sets (TREC topics + qrels; the passage corpus is not on disk) ------------------

MSMARCO_QUERY_SETS = {
    "msmarco-dl19": ("topics.dl19-passage.txt", "qrels.dl19-passage.txt"),
    "msmarco-dl20": ("topics.dl20.txt", "qrels.dl20-passage.txt"),
    "msmarco-dev-small": ("topics.msmarco-passage.dev-subset.txt", "qrels.msmarco-passage.dev-subset.txt"),
}

# -- official BEIR archives, for datasets that are not on disk --------------------------------------

BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"
# md5 of each archive as published in the BEIR README (None: not verified here).
BEIR_MD5: dict[str, str | None] = {
    "scifact": "5f7d1de60b170fc8027bb7898e2efca1",
    "nfcorpus": "a89dba18a62ef92f7d323ec890a0d38d",
    "fiqa": "17918ed23cd04fb15047f73e6c3bd9d9",
    "trec-covid": "ce62140cb23feb9becf6270d0d1fe6d1",
    "nq": "d4d3d2e48787a744b6f6e691ff534307",
    "hotpotqa": "f412724f78b0d91183a0e86805e16114",
    "msmarco": "444067daf65d982533ea17ebd59501e4",
    "arguana": None,
    "scidocs": None,
    "quora": None,
}


def download_beir(name: str, data: str | Path | None = None, timeout: float = 30.0) -> DatasetPaths:
    """Download, verify (md5) and unpack an official BEIR archive into ``<data>/beir/<name>``."""
    import hashlib
    import shutil
    import tempfile
    import urllib.error
    import urllib.request
    import zipfile

    root = data_dir(data)
    if root is None:
        raise InputError(f"no data dir to download {name!r} into: give --data-dir or set {DATA_DIR_ENV}", "--data-dir")
    if name not in BEIR_MD5:
        raise InputError(f"{name!r} is not a BEIR dataset this version knows ({', '.join(BEIR_MD5)})", "--dataset")
    url = BEIR_URL.format(name=name)
    target = root / "beir"
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        archive = Path(tmp) / f"{name}.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, archive.open("wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise InputError(f"dataset {name!r} is not on disk and {url} is unreachable ({reason}); are you offline? Put a BEIR copy in the data dir", "--dataset") from None
        expected = BEIR_MD5[name]
        if expected is not None:
            digest = hashlib.md5(archive.read_bytes()).hexdigest()
            if digest != expected:
                raise InputError(f"download of {name!r} has md5 {digest}, expected {expected}", url)
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise InputError(f"unsafe path in archive: {member}", url)
            zf.extractall(tmp)
        (Path(tmp) / name).rename(target / name)
    return DatasetPaths(name, target / name)


# -- evaluation sets -----------------------------------------------------------------------------

@dataclass
class ValidationReport:
    """What loading a split found: counts and any qrels that point at nothing."""

    num_queries: int = 0
    num_judgments: int = 0
    queries_without_text: list[str] = field(default_factory=list)
    docs_not_in_corpus: int = 0
    missing_doc_examples: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.num_queries} queries, {self.num_judgments} judgments"]
        if self.queries_without_text:
            out.append(f"warning: {len(self.queries_without_text)} qrels queries have no query text (e.g. {', '.join(self.queries_without_text[:3])}); they score 0")
        if self.docs_not_in_corpus:
            out.append(f"warning: {self.docs_not_in_corpus} judged documents are not in the corpus (e.g. {', '.join(self.missing_doc_examples[:3])})")
        return out


@dataclass
class EvalSet:
    name: str
    split: str
    queries: list[Query]
    qrels: Qrels
    corpus_path: Path | None
    report: ValidationReport


def _corpus_ids(path: Path) -> set[str]:
    """Document ids of a corpus, read without parsing whole records."""
    import json

    ids = set()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                ids.add(str(record.get("_id", record.get("id"))))
    return ids


def load_split(name: str, split: str = "test", data: str | Path | None = None, download: bool = False) -> EvalSet:
    """Queries (only those judged in the split), qrels and corpus path, validated.

    ``name`` is a BEIR-layout dataset (``scifact``, ``classic/cranfield``, ``dl19-subset5k``, a
    folder) or an MS MARCO query set (``msmarco-dl19``, ``msmarco-dl20``, ``msmarco-dev-small``),
    which has no corpus on disk.
    """
    root = data_dir(data)
    if name in MSMARCO_QUERY_SETS:
        if root is None:
            raise InputError(f"give --data-dir or set {DATA_DIR_ENV} to find {name!r}", "--dataset")
        topics, qrels_file = (root / "msmarco" / "topics-qrels" / f for f in MSMARCO_QUERY_SETS[name])
        qrels = read_qrels(qrels_file)
        queries = read_queries(topics, set(qrels))
        return _validated(EvalSet(name, split, queries, qrels, None, ValidationReport()))
    try:
        paths = resolve_dataset(name, data)
    except InputError:
        if not download:
            raise
        paths = download_beir(name, data)
    qrels_path = paths.qrels(split)
    if not qrels_path.is_file():
        raise InputError(f"dataset {name!r} has no {split!r} split (has: {', '.join(paths.splits()) or 'none'})", str(qrels_path))
    qrels = read_qrels(qrels_path)
    queries = read_queries(paths.queries, set(qrels))
    return _validated(EvalSet(paths.name, split, queries, qrels, paths.corpus, ValidationReport()))


def _validated(eval_set: EvalSet) -> EvalSet:
    report = eval_set.report
    report.num_queries = len(eval_set.qrels)
    report.num_judgments = sum(len(docs) for docs in eval_set.qrels.values())
    with_text = {q.query_id for q in eval_set.queries}
    report.queries_without_text = sorted(set(eval_set.qrels) - with_text)
    if eval_set.corpus_path is not None:
        ids = _corpus_ids(eval_set.corpus_path)
        missing = [d for docs in eval_set.qrels.values() for d in docs if d not in ids]
        report.docs_not_in_corpus = len(missing)
        report.missing_doc_examples = missing[:5]
    order = {qid: i for i, qid in enumerate(eval_set.qrels)}
    eval_set.queries.sort(key=lambda q: order[q.query_id])
    return eval_set
