"""Encode anywhere, index from vectors: `tandem encode` shards and `tandem index build --from-encoded`.

Shard ``i`` of ``n`` is the i-th of n contiguous slices of the corpus (documents
``[i*N//n, (i+1)*N//n)`` in file order), so shards encoded on different machines, GPUs or job-array
tasks line up. Each is written to ``OUT/shard-<i>-of-<n>/``:

- ``shard.json`` — :class:`ShardManifest`: the encoders' settings exactly as ``encoder.settings()``
  records them, the corpus sha256, shard i/n, the document range and a digest of its documents, counts;
- ``ids.txt`` — one document id per line, the shard's rows in corpus order;
- ``sparse.jsonl.gz`` — pyserini ``JsonVectorCollection`` lines ``{"id", "contents", "vector": {token: weight}}``
  (float weights, each the shortest text that reads back as the same float32);
- ``dense.npy`` — float32 ``[docs, dim]``, row r = line r of ``ids.txt``;
- ``tokenizer/`` — the sparse model's tokenizer (an inference-free index computes corpus IDF with it).

The shard is staged in a hidden folder beside it and renamed into place when complete; encoded
chunks are kept there when encoding is interrupted, so running the same command again resumes.

:func:`read_shards` checks that shards agree (encoder settings, corpus, numbering complete, ranges)
and :meth:`EncodedShards.encoded_docs` rebuilds :class:`~tandem.retrieval.backends.EncodedDocs` from them
(checking ids and counts), which :func:`tandem.retrieval.build.build_index` indexes through the same
segment and publish path as a build from text — without loading any model.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Literal

import numpy as np
from pydantic import BaseModel, ValidationError

from tandem.index.corpus import CorpusOptions, Document, iter_corpus, iter_jsonl
from tandem.index.errors import InputError, TandemError, first_validation_error

if TYPE_CHECKING:
    from .backends import EncodedDocs
    from .build import BuildConfig

SHARD_FILE = "shard.json"
IDS_FILE = "ids.txt"
SPARSE_FILE = "sparse.jsonl.gz"
SPARSE_FILE_PLAIN = "sparse.jsonl"
DENSE_FILE = "dense.npy"
TOKENIZER_DIR = "tokenizer"
SETTINGS_FREE_TO_DIFFER = ("location", "batch_size")  # where a machine keeps the model, and its batch size, do not change vectors


# -- shard numbering ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` (0-based) of ``count``."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str, where: str = "--shard") -> "ShardSpec":
        """``"i/n"`` with 0 <= i < n (e.g. ``$SLURM_ARRAY_TASK_ID/$N`` for ``--array=0-$((N-1))``)."""
        left, sep, right = str(text).partition("/")
        try:
            if not sep:
                raise ValueError
            index, count = int(left), int(right)
        except ValueError:
            raise TandemError(f"expected i/n, e.g. 0/4 for the first of 4 shards, got {text!r}", where) from None
        if count < 1 or not 0 <= index < count:
            raise TandemError(f"shard {text} does not exist: shards of {count} are numbered 0/{count} to {count - 1}/{count}", where)
        return cls(index, count)

    def range(self, num_docs: int) -> tuple[int, int]:
        """``[start, end)``: this shard's documents among ``num_docs`` (contiguous, stable)."""
        return self.index * num_docs // self.count, (self.index + 1) * num_docs // self.count

    @property
    def folder(self) -> str:
        return f"shard-{self.index:05d}-of-{self.count:05d}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


# -- the shard manifest ------------------------------------------------------------------------
class ShardCorpus(BaseModel):
    source: str  # absolute path of the corpus file as it was read
    sha256: str
    num_docs: int  # the whole corpus
    options: CorpusOptions | None = None


class ShardManifest(BaseModel):
    """What one encoded shard holds (``shard.json``)."""

    kind: Literal["tandem-encoded-shard"] = "tandem-encoded-shard"
    format_version: Literal[1] = 1
    tandem_version: str
    created_at: str
    shard: int
    num_shards: int
    start: int  # first corpus row (0-based) of this shard
    end: int  # one past the last
    num_docs: int
    corpus: ShardCorpus
    docs_sha256: str  # of the shard's documents (id, title, text): the corpus may be moved or recompressed
    encoders: dict[str, dict]  # "sparse"/"dense" -> encoder.settings()
    files: dict[str, str]  # "ids", "sparse", "dense", "tokenizer" -> name in the shard folder
    tokenizer_sha256: str | None = None
    num_postings: int | None = None
    dim: int | None = None
    seconds: dict[str, float] = {}
    docs_per_second: dict[str, float] = {}
    host: str = ""
    threads: int = 0

    @property
    def spec(self) -> ShardSpec:
        return ShardSpec(self.shard, self.num_shards)


def docs_digest(docs: Iterable[Document]) -> str:
    """sha256 over the documents' ids, titles and texts (independent of the corpus file's format)."""
    digest = hashlib.sha256()
    for doc in docs:
        digest.update(json.dumps([doc.doc_id, doc.title, doc.text], ensure_ascii=False).encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    return digest.hexdigest()


def vocabulary_sha256(tokens: list[str]) -> str:
    """sha256 of a vocabulary (token strings by id): what maps a JsonVectorCollection back to ids."""
    return hashlib.sha256(json.dumps(tokens, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()


# -- encoding ----------------------------------------------------------------------------------
def shard_documents(corpus_path: Path, spec: ShardSpec, options: CorpusOptions | None, show_progress: bool = True) -> tuple[list[Document], int]:
    """The documents of shard ``spec`` and the corpus size: one pass validates and counts every
    record (so each shard sees the same N), a second keeps only the shard's slice."""
    from tandem.index.progress import progress

    total = 0
    with progress(desc="reading corpus", unit="doc", rate=False, disable=not show_progress) as bar:
        for _ in iter_corpus(corpus_path, options):
            total += 1
            if total % 4096 == 0:
                bar.update(4096)
        bar.update(total % 4096)
    if spec.count > total:
        raise TandemError(f"{spec.count} shards but the corpus has only {total} document(s)", "--shard")
    start, end = spec.range(total)
    docs = []
    for row, doc in enumerate(iter_corpus(corpus_path, options)):
        if row >= end:
            break
        if row >= start:
            docs.append(doc)
    return docs, total


def encode_shard(config: "BuildConfig", corpus_path: Path, out: Path, spec: ShardSpec = ShardSpec(), overwrite: bool = False,
                 gzip_sparse: bool = True, device: str = "cpu", show_progress: bool = True) -> tuple[Path, ShardManifest]:
    """Encode shard ``spec`` of the corpus with the encoders ``config`` names (its model, max_length,
    batch_size, doc_top_k, prefixes, precision, chunk_size, corpus_options) into ``out/<shard folder>``
    on ``device``; returns the folder and its manifest."""
    from tandem.index.build_dir import StagingDir, disk_errors
    from tandem.index.corpus import file_sha256

    from .build import encoder_settings, initial_components
    from .writer import DocEncoders

    if not config.sparse and not config.dense:
        raise TandemError("nothing to encode: give --sparse and/or --dense", "encode")
    out = Path(out)
    corpus_path = Path(corpus_path).resolve()
    if out.resolve() == corpus_path or out.resolve() in corpus_path.parents:
        raise TandemError("the output folder contains the corpus; choose another --out", str(out))
    if out.exists() and not out.is_dir():
        raise TandemError("exists and is not a folder", str(out))
    target = out / spec.folder
    _check_shard_target(target, overwrite)
    encoders = encoder_settings(config)  # a bad model name or precision fails before the corpus is read
    docs, total = shard_documents(corpus_path, spec, config.corpus_options, show_progress)
    corpus_sha = file_sha256(corpus_path)
    components = initial_components(config.model_copy(update={"bm25": False, "lucene_impact": False}), encoders)
    started = time.perf_counter()
    with disk_errors(str(target)), StagingDir(target, f"{corpus_sha}:{spec}") as staging:
        encoded = DocEncoders(components, device).encode(docs, cache_dir=staging.cache, chunk_size=config.chunk_size, show_progress=show_progress)
        stage = staging.stage
        files = {"ids": IDS_FILE}
        (stage / IDS_FILE).write_text("".join(d.doc_id + "\n" for d in docs), encoding="utf-8")
        manifest = ShardManifest(
            tandem_version=_tandem_version(), created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), shard=spec.index, num_shards=spec.count,
            start=spec.range(total)[0], end=spec.range(total)[1], num_docs=len(docs),
            corpus=ShardCorpus(source=str(corpus_path), sha256=corpus_sha, num_docs=total, options=config.corpus_options),
            docs_sha256=docs_digest(docs), encoders=encoders, files=files, host=socket.gethostname(), threads=_threads())
        from .encoders import encoder_key

        if "sparse" in encoders:
            key = encoder_key("sparse", encoders["sparse"])
            tokenizer = encoded.tokenizers[key]
            files["sparse"] = SPARSE_FILE if gzip_sparse else SPARSE_FILE_PLAIN
            manifest.num_postings = write_sparse_vectors(stage / files["sparse"], docs, encoded.sparse[key], tokenizer, show_progress)
            tokenizer.save_pretrained(stage / TOKENIZER_DIR)
            files["tokenizer"] = TOKENIZER_DIR
            manifest.tokenizer_sha256 = vocabulary_sha256(vocabulary(tokenizer, int(encoders["sparse"]["vocab_size"])))
        if "dense" in encoders:
            vectors = encoded.dense[encoder_key("dense", encoders["dense"])].astype(np.float32, copy=False)
            np.save(stage / DENSE_FILE, vectors)
            files["dense"] = DENSE_FILE
            manifest.dim = int(vectors.shape[1])
        manifest.seconds = {name: round(s, 3) for name, s in encoded.seconds.items()}
        manifest.docs_per_second = {name: round(len(docs) / s, 2) for name, s in encoded.seconds.items() if s > 0}
        manifest.seconds["total"] = round(time.perf_counter() - started, 3)
        manifest.files = files
        (stage / SHARD_FILE).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")  # written last: marks the shard complete
        _replace_dir(stage, target)
    return target, manifest


def _check_shard_target(target: Path, overwrite: bool) -> None:
    if not target.exists():
        return
    if not (target / SHARD_FILE).is_file() and any(target.iterdir()):
        raise TandemError("exists and is not an encoded shard; refusing to replace it", str(target))
    if (target / SHARD_FILE).is_file() and not overwrite:
        raise TandemError("shard already encoded (use --overwrite to encode it again)", str(target))


def _replace_dir(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``; an old shard there is removed only once the new one is in place."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _tandem_version() -> str:
    from tandem.index.manifest import TANDEM_VERSION

    return TANDEM_VERSION


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


def vocabulary(tokenizer, vocab_size: int) -> list[str]:
    """Token strings of ids ``0..vocab_size-1``; they must be distinct to be JsonVectorCollection keys."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(vocab_size)))
    if len(set(tokens)) != len(tokens):
        seen: dict[str, int] = {}
        for i, token in enumerate(tokens):
            if token in seen:
                raise TandemError(f"tokens {seen[token]} and {i} are both {token!r}: a JsonVectorCollection cannot tell them apart", "--sparse")
            seen[token] = i
    return tokens


def write_sparse_vectors(path: Path, docs: list[Document], matrix, tokenizer, show_progress: bool = True) -> int:
    """Write pyserini ``JsonVectorCollection`` lines (float weights) for the rows of a docs x vocab CSR
    matrix; returns the number of postings."""
    from tandem.index.progress import progress

    keys = [json.dumps(t, ensure_ascii=False) for t in vocabulary(tokenizer, matrix.shape[1])]
    opener = gzip.open(path, "wt", encoding="utf-8", compresslevel=5) if path.suffix == ".gz" else path.open("w", encoding="utf-8")
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    if not np.isfinite(data).all():
        raise TandemError("the encoder produced non-finite weights", str(path))
    with opener as handle, progress(total=len(docs), desc="writing vectors", unit="doc", disable=not show_progress) as bar:
        for row, doc in enumerate(docs):
            start, end = indptr[row], indptr[row + 1]
            weights = data[start:end].astype(np.float32, copy=False).astype(str)  # shortest text that reads back as the same float32
            vector = ", ".join(f"{keys[t]}: {w}" for t, w in zip(indices[start:end].tolist(), weights))
            handle.write(f'{{"id": {json.dumps(doc.doc_id, ensure_ascii=False)}, "contents": {json.dumps(doc.contents, ensure_ascii=False)}, "vector": {{{vector}}}}}\n')
            if row % 256 == 255:
                bar.update(256)
        bar.update(len(docs) % 256)
    return int(indptr[len(docs)])


# -- reading shards back -----------------------------------------------------------------------
@dataclass
class Shard:
    path: Path
    manifest: ShardManifest


def _shard_folders(path: Path) -> list[Path]:
    """A shard folder, or a folder of shard folders (what `tandem encode --out` was given)."""
    if (path / SHARD_FILE).is_file():
        return [path]
    if not path.is_dir():
        raise TandemError("no such folder" if not path.exists() else "not a folder", str(path))
    found = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / SHARD_FILE).is_file())
    if not found:
        raise TandemError(f"no encoded shard here (no {SHARD_FILE}, nor folders with one; `tandem encode --out` writes them)", str(path))
    return found


def _read_manifest(folder: Path) -> ShardManifest:
    path = folder / SHARD_FILE
    try:
        return ShardManifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        location, message = first_validation_error(exc)
        raise TandemError(f"not a shard manifest ({location or 'file'}: {message})", str(path)) from None
    except OSError as exc:
        raise TandemError(f"cannot read: {exc.strerror}", str(path)) from None


def _differences(a: dict, b: dict) -> list[str]:
    keys = sorted(set(a) | set(b))
    return [f"{k} {a.get(k)!r} vs {b.get(k)!r}" for k in keys if k not in SETTINGS_FREE_TO_DIFFER and a.get(k) != b.get(k)]


def read_shards(paths: Iterable[str | Path]) -> "EncodedShards":
    """The shards in ``paths`` (shard folders or folders of them), checked to form one complete,
    consistent encoding of one corpus; each problem is one :class:`TandemError` naming the shard."""
    folders: list[Path] = []
    for raw in paths:
        for folder in _shard_folders(Path(raw).expanduser()):
            if folder.resolve() not in {f.resolve() for f in folders}:
                folders.append(folder)
    shards = [Shard(f, _read_manifest(f)) for f in folders]
    first = shards[0]
    by_number: dict[int, Shard] = {}
    for shard in shards:
        m, where = shard.manifest, str(shard.path)
        if m.num_shards != first.manifest.num_shards:
            raise TandemError(f"is shard {m.spec} but {first.path} is shard {first.manifest.spec}: shards of different splits", where)
        if m.corpus.sha256 != first.manifest.corpus.sha256 or m.corpus.num_docs != first.manifest.corpus.num_docs:
            raise TandemError(f"was encoded from another corpus than {first.path} (sha256 {m.corpus.sha256[:12]}... vs {first.manifest.corpus.sha256[:12]}...)", where)
        if set(m.encoders) != set(first.manifest.encoders):
            raise TandemError(f"has encoders {sorted(m.encoders)}, {first.path} has {sorted(first.manifest.encoders)}", where)
        for kind in m.encoders:
            diff = _differences(first.manifest.encoders[kind], m.encoders[kind])
            if diff:
                raise TandemError(f"{kind} encoder settings differ from {first.path}: {'; '.join(diff)}", where)
        if m.tokenizer_sha256 != first.manifest.tokenizer_sha256:
            raise TandemError(f"its tokenizer differs from {first.path}'s", where)
        if m.shard in by_number:
            raise TandemError(f"shard {m.spec} given twice: {by_number[m.shard].path} and {shard.path}", where)
        expected = m.spec.range(m.corpus.num_docs)
        if (m.start, m.end) != expected or m.num_docs != m.end - m.start:
            raise TandemError(f"shard {m.spec} records documents [{m.start}, {m.end}) ({m.num_docs}), expected [{expected[0]}, {expected[1]})", where)
        by_number[m.shard] = shard
    missing = [i for i in range(first.manifest.num_shards) if i not in by_number]
    if missing:
        n = first.manifest.num_shards
        names = ", ".join(f"{i}/{n}" for i in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise TandemError(f"shard(s) {names} missing: {len(by_number)} of {n} given", "--from-encoded")
    return EncodedShards([by_number[i] for i in sorted(by_number)])


class EncodedShards:
    """A complete set of shards (in shard order) of one corpus, as :func:`read_shards` checked them."""

    def __init__(self, shards: list[Shard]) -> None:
        self.shards = shards
        self.first = shards[0].manifest

    @property
    def encoders(self) -> dict[str, dict]:
        """The encoders' settings (the first shard's record; shards differ at most in location and batch size)."""
        return self.first.encoders

    @property
    def corpus_path(self) -> Path:
        """The corpus file the shards recorded (it must still be there; else give another with --corpus)."""
        path = Path(self.first.corpus.source)
        if not path.is_file():
            raise TandemError("the corpus the shards were encoded from is not there; give it with --corpus", str(path))
        return path

    @property
    def num_docs(self) -> int:
        return self.first.corpus.num_docs

    def configure(self, config: "BuildConfig") -> "BuildConfig":
        """``config`` with its encoder fields as the shards recorded them (the index-side fields stay)."""
        sparse, dense = self.encoders.get("sparse"), self.encoders.get("dense")
        either = sparse or dense or {}
        update = {"sparse": sparse["model"] if sparse else None, "dense": dense["model"] if dense else None,
                  "max_length": int(either.get("max_length", config.max_length)), "batch_size": int(either.get("batch_size", config.batch_size)),
                  "doc_top_k": sparse.get("top_k") if sparse else None, "precision": either.get("precision", "fp32"),
                  "query_prefix": dense.get("query_prefix", "") if dense else "", "document_prefix": dense.get("document_prefix", "") if dense else "",
                  "from_encoded": [str(s.path) for s in self.shards]}
        if config.corpus_options is None or config.corpus_options == CorpusOptions():
            update["corpus_options"] = self.first.corpus.options
        return config.model_copy(update=update)

    def check_corpus(self, docs: list[Document], corpus_path: Path) -> None:
        """The corpus must hold exactly the documents the shards were encoded from, in the same order."""
        if len(docs) != self.num_docs:
            raise TandemError(f"has {len(docs):,} documents, the shards were encoded from {self.num_docs:,} ({self.first.corpus.source}); give that corpus with --corpus",
                              str(corpus_path))
        for shard in self.shards:
            m = shard.manifest
            if docs_digest(docs[m.start : m.end]) != m.docs_sha256:
                raise TandemError(f"documents {m.start}..{m.end - 1} differ from the ones shard {m.spec} ({shard.path}) was encoded from; give that corpus with --corpus",
                                  str(corpus_path))

    def encoded_docs(self, docs: list[Document], show_progress: bool = True, components: list | None = None) -> "EncodedDocs":
        """The shards' vectors as :class:`EncodedDocs` of ``docs`` (the whole corpus, checked with
        :meth:`check_corpus`); ids and counts are checked against every file. With ``components``
        (an existing index's), the vectors are keyed by their encoder settings, which must be the shards'."""
        from tandem.index.sparse import SparseVector, stack_vectors

        from .backends import EncodedDocs
        from .encoders import encoder_key, saved_tokenizer

        keys = {kind: [encoder_key(kind, settings)] for kind, settings in self.encoders.items()}
        if components is not None:
            keys = self._keys_for(components)
        encoded = EncodedDocs(docs)
        for shard in self.shards:
            m = shard.manifest
            ids = _read_ids(shard.path / m.files["ids"], m.num_docs)
            expected = [d.doc_id for d in docs[m.start : m.end]]
            if ids != expected:
                row = next(i for i, (a, b) in enumerate(zip(ids, expected)) if a != b)
                raise TandemError(f"line {row + 1} is {ids[row]!r}, the corpus has {expected[row]!r} there", str(shard.path / m.files["ids"]))
        if "sparse" in self.encoders:
            settings = self.encoders["sparse"]
            tokenizer = saved_tokenizer(self.shards[0].path / self.first.files["tokenizer"])
            vocab_size = int(settings["vocab_size"])
            lookup = {token: i for i, token in enumerate(vocabulary(tokenizer, vocab_size))}
            vectors: list[SparseVector] = []
            for shard in self.shards:
                vectors.extend(read_sparse_vectors(shard.path / shard.manifest.files["sparse"], docs[shard.manifest.start : shard.manifest.end], lookup, show_progress))
            matrix = stack_vectors(vectors, vocab_size)
            for key in keys.get("sparse", []):
                encoded.sparse[key], encoded.tokenizers[key] = matrix, tokenizer
        if "dense" in self.encoders:
            settings = self.encoders["dense"]
            parts = [_read_dense(s.path / s.manifest.files["dense"], s.manifest.num_docs, int(settings["dim"])) for s in self.shards]
            vectors = np.concatenate(parts) if parts else np.zeros((0, int(settings["dim"])), np.float32)
            for key in keys.get("dense", []):
                encoded.dense[key] = vectors
        return encoded

    def _keys_for(self, components: list) -> dict[str, list[str]]:
        """Encoder keys of the components that take vectors; each must be encoded as the shards are."""
        from .backends import backend
        from .encoders import encoder_key

        keys: dict[str, list[str]] = {}
        for component in components:
            kind = backend(component.backend).doc_input
            if kind not in ("sparse", "dense"):
                continue
            if kind not in self.encoders:
                raise TandemError(f"the index's {component.name!r} retriever needs {kind} vectors; the shards have only {', '.join(sorted(self.encoders))}", str(self.shards[0].path))
            diff = _differences(component.settings["encoder"], self.encoders[kind])
            if diff:
                raise TandemError(f"the index's {component.name!r} retriever was built with other {kind} encoder settings: {'; '.join(diff)}", str(self.shards[0].path))
            keys.setdefault(kind, []).append(encoder_key(kind, component.settings["encoder"]))
        return keys


def add_from_encoded(index: Path, paths: Iterable[str | Path], corpus: Path | None = None, options: CorpusOptions | None = None,
                     wait: float = 0.0, show_progress: bool = True, merge: bool = True):
    """Add the documents of `tandem encode` shards to the index at ``index`` (one new segment; ids
    already there are replaced), without loading a model. Their texts come from ``corpus`` or the
    corpus the shards recorded; their encoders must be the index's."""
    from tandem.index.corpus import read_corpus

    from .writer import IndexWriter

    shards = read_shards(paths)
    corpus = Path(corpus) if corpus is not None else shards.corpus_path
    if options is None or options == CorpusOptions():
        options = shards.first.corpus.options
    docs = read_corpus(corpus, options=options)
    shards.check_corpus(docs, corpus)
    writer = IndexWriter(index, wait=wait, show_progress=show_progress)
    return writer.add(docs, encode=lambda components: shards.encoded_docs(docs, show_progress, components), merge=merge)


def _read_ids(path: Path, expected: int) -> list[str]:
    try:
        ids = path.read_text(encoding="utf-8").split("\n")
    except OSError as exc:
        raise TandemError(f"cannot read: {exc.strerror}", str(path)) from None
    if ids and ids[-1] == "":
        ids.pop()
    if len(ids) != expected:
        raise TandemError(f"{len(ids):,} ids, the shard manifest says {expected:,}", str(path))
    return ids


def _read_dense(path: Path, rows: int, dim: int) -> np.ndarray:
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise TandemError(f"cannot read the dense vectors: {exc}", str(path)) from None
    if vectors.dtype != np.float32 or vectors.shape != (rows, dim):
        raise TandemError(f"holds {vectors.dtype} {tuple(vectors.shape)}, expected float32 ({rows}, {dim})", str(path))
    return vectors


def read_sparse_vectors(path: Path, docs: list[Document], lookup: dict[str, int], show_progress: bool = True) -> list:
    """Sparse vectors from ``JsonVectorCollection`` lines, one per document of ``docs`` in order
    (ids checked); a bad line is one error naming ``file:line``."""
    from tandem.index.progress import progress
    from tandem.index.sparse import SparseVector

    out = []
    with progress(total=len(docs), desc=f"reading {path.parent.name}", unit="doc", disable=not show_progress) as bar:
        for line_no, record in iter_jsonl(path):
            where = f"{path}:{line_no}"
            row = len(out)
            if row >= len(docs):
                raise InputError(f"more lines than the shard's {len(docs):,} documents", where)
            if record.get("id") != docs[row].doc_id:
                raise InputError(f"id {record.get('id')!r}, expected {docs[row].doc_id!r} (the shard's row {row + 1})", where)
            vector = record.get("vector")
            if not isinstance(vector, dict):
                raise InputError("no \"vector\" object", where)
            try:
                ids = np.fromiter((lookup[t] for t in vector), dtype=np.int32, count=len(vector))
            except KeyError as exc:
                raise InputError(f"token {exc.args[0]!r} is not in the shard's tokenizer", where) from None
            values = list(vector.values())
            if not all(type(w) is float or type(w) is int for w in values):
                raise InputError("weights must be numbers", where)
            weights = np.asarray(values, dtype=np.float32)
            order = np.argsort(ids, kind="stable")
            out.append(SparseVector(ids[order], weights[order]))
            if row % 256 == 255:
                bar.update(256)
        bar.update(len(out) % 256)
    if len(out) != len(docs):
        raise InputError(f"{len(out):,} lines, the shard has {len(docs):,} documents", str(path))
    return out

