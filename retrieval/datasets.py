"""Dataset registry: BEIR-layout folders and TREC query sets found by name in a data directory.

A data dir (``--data-dir`` or ``TANDEM_DATA_DIR``) holds:

* BEIR-layout folders (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``) under ``beir/``,
  ``classic/`` or ``msmarco/``. A name resolves to the first folder that exists among
  ``<data>/<name>``, ``<data>/beir/<name>``, ``<data>/classic/<name>``, ``<data>/msmarco/<name>``,
  so ``scifact``, ``beir/scifact``, ``cranfield``, ``classic/cranfield``, ``dl19-subset5k`` and
  ``msmarco/dl19-subset5k`` all work.
* Query sets with no corpus on disk: the MS MARCO TREC topics and qrels in ``msmarco/topics-qrels/``
  (``msmarco-dl19``, ``msmarco-dl20``, ``msmarco-dev-small``) and the BEIR test queries and qrels in
  ``beir_queries_qrels_only/<name>`` (``beir_queries_qrels_only/fiqa``, ...). They can score a run
  file; they cannot be indexed or searched (``EvalSet.corpus_path`` is None).

``load_split`` returns an :class:`EvalSet`: the split's judged queries, its qrels, the corpus path and
a :class:`ValidationReport`. A BEIR dataset that is not on disk is fetched from the official BEIR
host (md5-checked) only when ``download=True``; otherwise the error says it is not on disk.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from tandem.index.corpus import iter_corpus, iter_jsonl, iter_text_lines
from tandem.index.errors import InputError

DATA_DIR_ENV = "TANDEM_DATA_DIR"
SEARCH_PREFIXES = ("", "beir", "classic", "msmarco")
QUERIES_ONLY_DIR = "beir_queries_qrels_only"
# A dataset folder's corpus file: the first of these names present (BEIR's corpus.jsonl first; MS
# MARCO's collection.tsv; pyserini-style documents.jsonl / docs.jsonl), each also gzipped.
CORPUS_FILE_STEMS = ("corpus", "collection", "documents", "docs")
CORPUS_FILE_SUFFIXES = (".jsonl", ".tsv", ".csv", ".parquet")
CORPUS_FILE_NAMES = tuple(f"{stem}{suffix}{gz}" for stem in CORPUS_FILE_STEMS for suffix in CORPUS_FILE_SUFFIXES for gz in ("", ".gz"))
_CORPUS_NAMES_LOOKED_FOR = (
    f"{' / '.join(CORPUS_FILE_STEMS)} with suffix {' / '.join(CORPUS_FILE_SUFFIXES)}, optionally .gz"
)


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
        """The folder's corpus file (see :data:`CORPUS_FILE_NAMES`); ``corpus.jsonl`` when none is present."""
        return find_corpus_file(self.root) or self.root / "corpus.jsonl"

    @property
    def queries(self) -> Path:
        return self.root / "queries.jsonl"

    def qrels(self, split: str) -> Path:
        return self.root / "qrels" / f"{split}.tsv"

    def splits(self) -> list[str]:
        qrels_dir = self.root / "qrels"
        return sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []


def find_corpus_file(folder: Path) -> Path | None:
    """The corpus file of a dataset folder: the first of :data:`CORPUS_FILE_NAMES` present, else None."""
    return next((folder / name for name in CORPUS_FILE_NAMES if (folder / name).is_file()), None)


def _no_corpus_file_error(folder: Path, where: str) -> InputError:
    """The error for a folder with no corpus file: what was looked for, and which data files it has."""
    data_files = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix in (*CORPUS_FILE_SUFFIXES, ".json", ".gz"))
    has = f"; it has {', '.join(data_files[:6])}{', ...' if len(data_files) > 6 else ''}" if data_files else "; it has no data files"
    return InputError(f"no corpus file in folder {folder}: looked for {_CORPUS_NAMES_LOOKED_FOR}{has} (give the corpus file itself)", where)


def available_datasets(data: str | Path | None = None) -> list[str]:
    """Names of every dataset folder with a corpus file in the data dir."""
    root = data_dir(data)
    if root is None or not root.is_dir():
        return []
    names = []
    folders = {p.parent for p in root.rglob("*") if p.name in CORPUS_FILE_NAMES and p.is_file()}
    for folder in sorted(folders):
        rel = folder.relative_to(root)
        parts = rel.parts
        names.append("/".join(parts[1:]) if parts and parts[0] in SEARCH_PREFIXES[1:] and len(parts) > 1 else str(rel))
    return names


def available_query_sets(data: str | Path | None = None) -> list[str]:
    """Names of the query sets (topics + qrels, no corpus) present in the data dir."""
    root = data_dir(data)
    if root is None or not root.is_dir():
        return []
    names = [name for name, (topics, qrels, _) in MSMARCO_QUERY_SETS.items()
             if (root / MSMARCO_TOPICS_DIR / topics).is_file() and (root / MSMARCO_TOPICS_DIR / qrels).is_file()]
    only = root / QUERIES_ONLY_DIR
    if only.is_dir():
        names += [f"{QUERIES_ONLY_DIR}/{p.name}" for p in sorted(only.iterdir()) if (p / "qrels").is_dir()]
    return names


def _no_corpus_error(name: str, root: Path | None) -> InputError | None:
    """The error for a name that is a query set, or a BEIR dataset of which only queries are on disk."""
    if name in MSMARCO_QUERY_SETS:
        return InputError(
            f"{name!r} is a query set (TREC topics + qrels) with no corpus on disk: the MS MARCO passage "
            "corpus is not in the data dir, so it cannot be indexed or searched; it can only score a run file",
            "--corpus/--dataset",
        )
    if name.startswith(QUERIES_ONLY_DIR + "/"):
        return InputError(f"{name!r} has test queries and qrels but no corpus on disk; it can only score a run file", "--corpus/--dataset")
    if root is not None and (root / QUERIES_ONLY_DIR / name / "qrels").is_dir():
        hint = f" (download=True / --download fetches {BEIR_URL.format(name=name)})" if name in BEIR_MD5 else ""
        return InputError(
            f"dataset {name!r} has no corpus on disk: only its queries and qrels ({QUERIES_ONLY_DIR}/{name}){hint}",
            "--corpus/--dataset",
        )
    return None


def resolve_dataset(name: str, data: str | Path | None = None) -> DatasetPaths:
    """Find a dataset folder by name (or accept a path to a BEIR-layout folder)."""
    as_path = Path(name).expanduser()
    if as_path.is_dir() and find_corpus_file(as_path):
        return DatasetPaths(as_path.name, as_path)
    root = data_dir(data)
    if root is None:
        if name in MSMARCO_QUERY_SETS:
            raise _no_corpus_error(name, None)
        if as_path.is_dir():
            raise _no_corpus_file_error(as_path, "--corpus/--dataset")
        raise InputError(
            f"dataset {name!r} is not a folder; give --data-dir or set {DATA_DIR_ENV} to find it by name",
            "--corpus/--dataset",
        )
    candidates = [root / prefix / name if prefix else root / name for prefix in SEARCH_PREFIXES]
    for candidate in candidates:
        if find_corpus_file(candidate):
            return DatasetPaths(name, candidate)
    error = _no_corpus_error(name, root)
    if error is not None:
        raise error
    folder = as_path if as_path.is_dir() else next((c for c in candidates if c.is_dir()), None)
    if folder is not None:
        raise _no_corpus_file_error(folder, "--corpus/--dataset")
    known = ", ".join(available_datasets(root)) or "none"
    looked = ", ".join(str(c) for c in candidates)
    raise InputError(f"dataset {name!r} not found: no folder {looked} (available in data dir: {known})", "--corpus/--dataset")


def resolve_corpus(name_or_path: str, data: str | Path | None = None) -> Path:
    """A corpus file from a file path, a dataset folder, or a dataset name in the data dir.

    A folder must hold a corpus file under one of :data:`CORPUS_FILE_NAMES` (``corpus.jsonl``,
    ``corpus.jsonl.gz``, ``collection.tsv``, ...); otherwise the error names the folder and what
    was looked for. The file's format is detected when it is read (:mod:`tandem.index.corpus`).
    """
    as_path = Path(name_or_path).expanduser()
    if as_path.is_file():
        return as_path
    return resolve_dataset(name_or_path, data).corpus


@dataclass(frozen=True, slots=True)
class Query:
    query_id: str
    text: str


def read_queries(path: str | Path, ids: set[str] | None = None) -> list[Query]:
    """Read BEIR ``queries.jsonl`` (``_id``, ``text``) or a TSV of ``qid<TAB>text`` (TREC topics).

    Every query (kept or not) must have a non-empty id without whitespace (a run file could not
    hold it), a non-empty text, and an id not seen before; each failure is an :class:`InputError`
    naming ``file:line``, as is text that is not UTF-8. ``ids`` keeps only those query ids.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder, expected a queries.jsonl or qid<TAB>text file", str(path))
    queries: list[Query] = []
    first_line: dict[str, int] = {}
    tsv = path.suffix in (".tsv", ".txt")
    if tsv and not path.is_file():
        raise InputError("queries file not found", str(path))
    for line_no, qid, text in _tsv_queries(path) if tsv else _jsonl_queries(path):
        where = f"{path}:{line_no}"
        if not qid or any(c.isspace() for c in qid):
            raise InputError(f"query id {qid!r} is empty or contains whitespace", where)
        if not text.strip():
            raise InputError(f"query {qid!r} has no text", where)
        if qid in first_line:
            raise InputError(f"duplicate query id {qid!r} (first on line {first_line[qid]})", where)
        first_line[qid] = line_no
        if ids is None or qid in ids:
            queries.append(Query(qid, text))
    return queries


def _tsv_queries(path: Path) -> Iterator[tuple[int, str, str]]:
    for line_no, line in iter_text_lines(path):
        parts = line.rstrip("\r\n").split("\t")
        if len(parts) < 2:
            raise InputError("expected 'query-id<TAB>text'", f"{path}:{line_no}")
        yield line_no, parts[0], parts[1]


def _jsonl_queries(path: Path) -> Iterator[tuple[int, str, str]]:
    for line_no, record in iter_jsonl(path):
        qid = record.get("_id", record.get("id"))
        text = record.get("text", record.get("query"))
        if isinstance(qid, bool) or not isinstance(qid, (str, int)) or not isinstance(text, str):
            raise InputError("a query needs '_id' (a string) and 'text'", f"{path}:{line_no}")
        yield line_no, str(qid), text


Qrels = dict[str, dict[str, int]]
_HEADER_WORDS = {"query-id", "query_id", "qid", "queryid", "corpus-id", "score", "relevance", "rel", "label"}


def read_qrels(path: str | Path) -> Qrels:
    """Read BEIR qrels TSV (header ``query-id corpus-id score``) or TREC qrels (``qid 0 docid rel``).

    Relevance labels are kept as given (0 and negative labels too: trec_eval treats them as not
    relevant). A header is recognised only on line 1 and only by its words.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("qrels file not found", str(path))
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            if line_no == 1 and (parts[0].lower() in _HEADER_WORDS or parts[-1].lower() in _HEADER_WORDS):
                continue  # header
            if len(parts) == 3:
                qid, docid, rel = parts
            elif len(parts) == 4:
                qid, _, docid, rel = parts
            else:
                raise InputError(f"expected 3 (BEIR) or 4 (TREC) columns, got {len(parts)}", f"{path}:{line_no}")
            try:
                qrels.setdefault(qid, {})[docid] = int(rel)
            except ValueError:
                raise InputError(f"relevance {rel!r} is not an integer", f"{path}:{line_no}") from None
    return qrels


# -- MS MARCO query sets (TREC topics + qrels; the passage corpus is not on disk) ------------------

MSMARCO_TOPICS_DIR = "msmarco/topics-qrels"
# name -> (topics file, qrels file, split name)
MSMARCO_QUERY_SETS: dict[str, tuple[str, str, str]] = {
    "msmarco-dl19": ("topics.dl19-passage.txt", "qrels.dl19-passage.txt", "test"),
    "msmarco-dl20": ("topics.dl20.txt", "qrels.dl20-passage.txt", "test"),
    "msmarco-dev-small": ("topics.msmarco-passage.dev-subset.txt", "qrels.msmarco-passage.dev-subset.txt", "dev"),
}


def query_set_paths(name: str, data: str | Path | None = None) -> tuple[Path, Path]:
    """(topics path, qrels path) of an MS MARCO query set; there is no corpus for it."""
    if name not in MSMARCO_QUERY_SETS:
        raise InputError(f"unknown query set {name!r} (known: {', '.join(MSMARCO_QUERY_SETS)})", "--dataset")
    root = data_dir(data)
    if root is None:
        raise InputError(f"give --data-dir or set {DATA_DIR_ENV} to find {name!r}", "--dataset")
    topics, qrels, _ = MSMARCO_QUERY_SETS[name]
    return root / MSMARCO_TOPICS_DIR / topics, root / MSMARCO_TOPICS_DIR / qrels


# -- official BEIR archives, for datasets that are not on disk --------------------------------------

BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"
# md5 of each archive, from the dataset table of the BEIR README (beir-cellar/beir:README.md); the same
# values appear in many independent download scripts. None would mean "not verified".
BEIR_MD5: dict[str, str | None] = {
    "scifact": "5f7d1de60b170fc8027bb7898e2efca1",
    "nfcorpus": "a89dba18a62ef92f7d323ec890a0d38d",
    "arguana": "8ad3e3c2a5867cdced806d6503f29b99",
    "fiqa": "17918ed23cd04fb15047f73e6c3bd9d9",
    "scidocs": "38121350fc3a4d2f48850f6aff52e4a9",
    "trec-covid": "ce62140cb23feb9becf6270d0d1fe6d1",
    "quora": "18fb154900ba42a600f84b839c173167",
    "nq": "d4d3d2e48787a744b6f6e691ff534307",
    "hotpotqa": "f412724f78b0d91183a0e86805e16114",
    "msmarco": "444067daf65d982533ea17ebd59501e4",
    "webis-touche2020": "46f650ba5a527fc69e0a6521c5a23563",
    "cqadupstack": "4e41456d7df8ee7760a7f866133bda78",
    "dbpedia-entity": "c2a39eb420a3164af735795df012ac2c",
    "fever": "5a818580227bfb4b35bb6fa46d9b6c03",
    "climate-fever": "8b66f0a9126c521bae2bde127b4dc99d",
}


def download_beir(name: str, data: str | Path | None = None, timeout: float = 30.0) -> DatasetPaths:
    """Download, verify (md5) and unpack an official BEIR archive into ``<data>/beir/<name>``."""
    import hashlib
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
    if (target / name).exists():
        raise InputError(f"{target / name} exists but is not a complete BEIR folder (no corpus.jsonl); remove it to download again", "--dataset")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=f".{name}-download-") as tmp:
        archive = Path(tmp) / f"{name}.zip"
        digest = hashlib.md5()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, archive.open("wb") as out:
                for block in iter(lambda: response.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise InputError(
                f"dataset {name!r} is not on disk and {url} is unreachable ({reason}); this machine may be offline: "
                "put a BEIR copy in the data dir",
                "--dataset",
            ) from None
        expected = BEIR_MD5[name]
        if expected is not None and digest.hexdigest() != expected:
            raise InputError(f"download of {name!r} has md5 {digest.hexdigest()}, expected {expected}", url)
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise InputError(f"unsafe path in archive: {member}", url)
                zf.extractall(Path(tmp) / "x")
        except zipfile.BadZipFile:
            raise InputError(f"download of {name!r} is not a zip archive", url) from None
        unpacked = Path(tmp) / "x" / name
        if not (unpacked / "corpus.jsonl").is_file():
            raise InputError(f"archive of {name!r} has no {name}/corpus.jsonl", url)
        unpacked.rename(target / name)
    return DatasetPaths(name, target / name)


# -- evaluation sets -----------------------------------------------------------------------------

@dataclass
class ValidationReport:
    """What loading a split found: counts and any qrels that point at nothing. Never fatal."""

    num_queries: int = 0
    num_judgments: int = 0
    num_relevant: int = 0  # judgments with relevance >= 1
    queries_without_text: list[str] = field(default_factory=list)
    queries_without_relevant: list[str] = field(default_factory=list)
    docs_not_in_corpus: int = 0
    missing_doc_examples: list[str] = field(default_factory=list)
    corpus_checked: bool = False
    num_docs: int | None = None

    @property
    def ok(self) -> bool:
        return not (self.queries_without_text or self.docs_not_in_corpus)

    def lines(self) -> list[str]:
        corpus = f", corpus of {self.num_docs} docs" if self.num_docs is not None else ", no corpus on disk"
        out = [f"{self.num_queries} queries, {self.num_judgments} judgments ({self.num_relevant} relevant){corpus}"]
        if self.queries_without_text:
            out.append(f"warning: {len(self.queries_without_text)} qrels queries have no query text (e.g. {', '.join(self.queries_without_text[:3])}); they score 0")
        if self.queries_without_relevant:
            out.append(f"warning: {len(self.queries_without_relevant)} qrels queries have no relevant document (e.g. {', '.join(self.queries_without_relevant[:3])}); they score 0 and still count in the mean")
        if self.docs_not_in_corpus:
            out.append(f"warning: {self.docs_not_in_corpus} judged documents are not in the corpus (e.g. {', '.join(self.missing_doc_examples[:3])})")
        return out


@dataclass
class EvalSet:
    name: str
    split: str
    queries: list[Query]  # only queries judged in the split, in qrels order
    qrels: Qrels
    corpus_path: Path | None  # None: no corpus on disk (a query set)
    report: ValidationReport

    @property
    def shares_id_space(self) -> bool:
        """Whether query ids and document ids share one namespace, so that a document whose id
        equals the query id is the query itself (BEIR: e.g. arguana, quora). Classic collections
        and MS MARCO number queries and documents independently: there, equal ids are unrelated."""
        if self.corpus_path is None:
            return False
        return "beir" in Path(self.corpus_path).parts or self.name in BEIR_MD5

    def require_corpus(self) -> Path:
        """The corpus path, or a clear error for a query set with no corpus on disk."""
        if self.corpus_path is None:
            raise InputError(f"{self.name!r} has no corpus on disk (a query set: topics and qrels only); it can only score a run file", "--dataset")
        return self.corpus_path


_ID_PREFIX = re.compile(rb'^\s*\{\s*"_id"\s*:\s*"([^"\\]*)"')


def _corpus_ids(path: Path) -> frozenset[str]:
    """Document ids of a corpus, read without parsing whole records (cached per file version)."""
    stat = path.stat()
    return _corpus_ids_cached(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=8)
def _corpus_ids_cached(path: str, size: int, mtime_ns: int) -> frozenset[str]:
    if not path.endswith(".jsonl"):  # gzipped or another format: the full reader
        return frozenset(doc.doc_id for doc in iter_corpus(path))
    ids = set()
    with open(path, "rb") as handle:
        for line_no, line in enumerate(handle, start=1):
            match = _ID_PREFIX.match(line)
            if match:
                ids.add(match.group(1).decode("utf-8"))
            elif line.strip():
                try:
                    record = json.loads(line)
                    ids.add(str(record.get("_id", record.get("id"))))
                except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
                    raise InputError("malformed corpus record", f"{path}:{line_no}") from None
    return frozenset(ids)


def load_split(name: str, split: str = "test", data: str | Path | None = None, download: bool = False) -> EvalSet:
    """Queries (only those judged in the split), qrels and corpus path, validated.

    ``name`` is a BEIR-layout dataset (``scifact``, ``classic/cranfield``, ``dl19-subset5k``, a
    folder), an MS MARCO query set (``msmarco-dl19``, ``msmarco-dl20``: split ``test``;
    ``msmarco-dev-small``: split ``dev``) or ``beir_queries_qrels_only/<name>``; the last two have
    no corpus on disk (``corpus_path`` None). A BEIR dataset not on disk is downloaded only when
    ``download`` is true.
    """
    root = data_dir(data)
    if name in MSMARCO_QUERY_SETS:
        own_split = MSMARCO_QUERY_SETS[name][2]
        if split != own_split:
            raise InputError(f"query set {name!r} has only the {own_split!r} split", "--split")
        topics, qrels_file = query_set_paths(name, data)
        qrels = read_qrels(qrels_file)
        queries = read_queries(topics, set(qrels))
        return _validated(EvalSet(name, split, queries, qrels, None, ValidationReport()))
    if name.startswith(QUERIES_ONLY_DIR + "/") and root is not None and (root / name / "qrels").is_dir():
        folder = root / name
        qrels_path = folder / "qrels" / f"{split}.tsv"
        if not qrels_path.is_file():
            raise InputError(f"{name!r} has no {split!r} split", str(qrels_path))
        qrels = read_qrels(qrels_path)
        queries_file = folder / f"queries.{split}.jsonl"
        queries = read_queries(queries_file, set(qrels)) if queries_file.is_file() else []
        return _validated(EvalSet(name, split, queries, qrels, None, ValidationReport()))
    try:
        paths = resolve_dataset(name, data)
    except InputError:
        if not download or name not in BEIR_MD5:
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
    report.num_relevant = sum(1 for docs in eval_set.qrels.values() for rel in docs.values() if rel >= 1)
    # a query listed twice in a queries file: keep the first
    unique: dict[str, Query] = {}
    for query in eval_set.queries:
        unique.setdefault(query.query_id, query)
    report.queries_without_text = [qid for qid in eval_set.qrels if qid not in unique]
    report.queries_without_relevant = [qid for qid, docs in eval_set.qrels.items() if not any(rel >= 1 for rel in docs.values())]
    if eval_set.corpus_path is not None:
        ids = _corpus_ids(eval_set.corpus_path)
        missing = [d for docs in eval_set.qrels.values() for d in docs if d not in ids]
        report.corpus_checked = True
        report.num_docs = len(ids)
        report.docs_not_in_corpus = len(missing)
        report.missing_doc_examples = missing[:5]
    eval_set.queries = [unique[qid] for qid in eval_set.qrels if qid in unique]
    return eval_set
