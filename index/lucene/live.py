"""Live Lucene indexes (BM25 and impact): copy-on-write generations, add, delete, compact.

A generation of a Lucene index is a directory. The next one is made by :func:`snapshot` (hard
links to every file of the previous one: Lucene files are write-once, so no data is copied) and
then changed in place with :func:`append_bm25` / :func:`append_impact`, :func:`delete_documents`
and :func:`force_merge`; each of them ends in one Lucene commit. Lucene never rewrites a file: a
commit writes new files (new segments, ``.liv`` deletion bitsets, a new ``segments_N``) and only
unlinks the names it no longer needs in *its own* directory, so the previous directory, and any
``SimpleSearcher`` / ``SimpleImpactSearcher`` opened on it, keep seeing their snapshot.

How documents are added. Anserini 1.7.1's ``IndexCollection`` parses ``-append`` but ignores it:
it always opens its ``IndexWriter`` with ``OpenMode.CREATE``, which would replace the index with
just the new batch (checked in the jar's bytecode and by running it). So a batch is indexed by
``IndexCollection`` into a temporary index beside the target, with exactly the arguments of a full
build (:func:`tandem.index.lucene.bm25.bm25_index_args`, :func:`tandem.index.lucene.impact.impact_index_args`),
and its segments are copied into the target with ``IndexWriter.addIndexes(Directory...)``. The new
documents are therefore analysed, weighted and normed by the same code and settings as a fresh
build. Adding an id that is already present replaces it (update by id, as ``-uniqueDocid`` does
with ``updateDocument(Term("id", ...))``): the old documents with the batch's ids are deleted in the
same commit; within one batch the last record of an id wins.

Writer configuration. ``IndexCollection`` configures its writer with the default codec (Lucene99
in Lucene 9.9.1), ``BM25Similarity`` (``ImpactSimilarity`` with ``-impact``), no compound files and
a ``ConcurrentMergeScheduler``; the writer here uses the same. Its similarity cannot change any
score anyway: similarity only computes norms for documents the writer itself analyses, and this
writer never analyses one (added segments are copied, merges copy norms).

Statistics. Until :func:`force_merge`, deleted documents are invisible to search but still count
in Lucene's BM25 statistics (docCount, df, avgdl), as in any Lucene index; after it (one segment,
deletes expunged) the scores equal those of a fresh build of the same documents.

Every function closes its writer and removes ``write.lock``; on failure nothing is committed
(``IndexWriter.rollback``) and a Java exception becomes a one-line :class:`TandemError` naming the
index directory. Callers serialise writers (one writer per directory).
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..corpus import Document
from ..errors import TandemError
from .bm25 import bm25_index_args, check_fields, require_lucene_index, run_index_collection, write_json_collection
from .impact import impact_index_args, write_vector_collection
from .jvm import _first_line, ensure_jvm

ID_FIELD = "id"  # io.anserini.index.Constants.ID
LOCK_FILE = "write.lock"
BM25_SIMILARITY = "org.apache.lucene.search.similarities.BM25Similarity"
IMPACT_SIMILARITY = "io.anserini.search.similarity.ImpactSimilarity"
_LINK_FAILURES = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


def snapshot(src: Path, dst: Path) -> None:
    """Make ``dst`` a new generation of the Lucene index ``src``: every file hard-linked, none copied.

    ``dst`` must not exist. Files are linked into a temporary directory beside ``dst`` that is
    renamed to ``dst`` at the end, so a crash never leaves a half-made ``dst``. ``write.lock`` is
    not carried over. When hard links are impossible (``dst`` on another file system, or a file
    system without links) the files are copied instead, which is correct but costs the disk space
    and time of a full copy.
    """
    src, dst = require_lucene_index(src), Path(dst)
    if dst.exists():
        raise TandemError("snapshot target already exists", str(dst))
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.snapshot-"))
    try:
        shutil.copytree(src, tmp, copy_function=_link_or_copy, ignore=shutil.ignore_patterns(LOCK_FILE), dirs_exist_ok=True)
        os.rename(tmp, dst)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise TandemError(f"cannot snapshot {src}: {exc.strerror or exc}", str(dst)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in _LINK_FAILURES:
            raise
        shutil.copy2(src, dst)


def append_bm25(index_dir: Path, docs: Iterable[Document], *, fields: str = "flat", store_raw: bool = False, threads: int = 2) -> int:
    """Add (or replace, by id) documents in a BM25 index made by :func:`tandem.index.lucene.bm25.build_bm25_index`.

    ``fields`` and ``store_raw`` must be those the index was built with. Returns the number of
    distinct ids in the batch; documents whose text analyses to nothing are not indexed (as in a
    build), but any older document with their id is still removed.
    """
    check_fields(fields)
    index_dir = require_lucene_index(index_dir)
    batch = {doc.doc_id: doc for doc in docs}

    def write_batch(collection_dir: Path, batch_index: Path) -> list[str]:
        write_json_collection(batch.values(), collection_dir, fields)
        return bm25_index_args(collection_dir, batch_index, fields=fields, threads=threads, store_raw=store_raw)

    _append(index_dir, list(batch), write_batch, BM25_SIMILARITY)
    return len(batch)


def append_impact(index_dir: Path, doc_vectors: Iterable[tuple[str, dict[str, int]]], *, threads: int = 2) -> int:
    """Add (or replace, by id) ``(doc_id, {token: impact})`` pairs in an impact index made by
    :func:`tandem.index.lucene.impact.build_impact_index`; returns the number of distinct ids in the batch.

    Vectors are checked (positive int impacts, no whitespace in tokens) before the index is touched.
    """
    index_dir = require_lucene_index(index_dir)
    batch = dict(doc_vectors)

    def write_batch(collection_dir: Path, batch_index: Path) -> list[str]:
        write_vector_collection(batch.items(), collection_dir, total=len(batch))
        return impact_index_args(collection_dir, batch_index, threads)

    _append(index_dir, list(batch), write_batch, IMPACT_SIMILARITY)
    return len(batch)


def delete_documents(index_dir: Path, doc_ids: Iterable[str]) -> int:
    """Delete the documents with these ids (``Term("id", doc_id)``); returns how many of the ids were present."""
    index_dir = require_lucene_index(index_dir)
    ids = list(dict.fromkeys(str(doc_id) for doc_id in doc_ids))
    if not ids:
        return 0
    with _index_writer(index_dir, BM25_SIMILARITY) as writer:
        present = _count_present(index_dir, ids)
        _delete_ids(writer, ids)
    return present


def force_merge(index_dir: Path) -> None:
    """Merge the index into one segment without deleted documents (``IndexWriter.forceMerge(1)``).

    Afterwards the BM25 statistics (docCount, df, avgdl) and so every score equal those of a fresh
    build of the live documents.
    """
    index_dir = require_lucene_index(index_dir)
    with _index_writer(index_dir, BM25_SIMILARITY) as writer:
        writer.forceMerge(1)
        if writer.hasDeletions():
            writer.forceMergeDeletes()


def index_stats(index_dir: Path) -> dict[str, int]:
    """``num_docs`` (live), ``num_deleted`` and ``segments`` of the latest commit."""
    with _reader(require_lucene_index(index_dir)) as reader:
        return {"num_docs": int(reader.numDocs()), "num_deleted": int(reader.numDeletedDocs()), "segments": int(reader.leaves().size())}


def _append(index_dir: Path, ids: list[str], write_batch: Callable[[Path, Path], list[str]], similarity: str) -> None:
    """Index a batch into a temporary index with ``IndexCollection``, then, in one commit of
    ``index_dir``, delete the batch's ids and add the temporary index's segments."""
    if not ids:
        return
    ensure_jvm()
    from jnius import autoclass

    with tempfile.TemporaryDirectory(dir=index_dir.parent, prefix=f".{index_dir.name}.append-") as tmp:
        batch_index = Path(tmp) / "index"
        args = write_batch(Path(tmp) / "collection", batch_index)
        try:
            run_index_collection(args, batch_index, "Lucene index of added documents", len(ids))
        except TandemError as exc:
            raise TandemError(exc.message, str(index_dir)) from None
        with _index_writer(index_dir, similarity) as writer:
            _delete_ids(writer, ids)
            source = autoclass("org.apache.lucene.store.FSDirectory").open(_jpath(batch_index))
            try:
                writer.addIndexes(source)  # Directory... varargs; jnius rejects a list here
            finally:
                source.close()


def _delete_ids(writer, ids: list[str]) -> None:
    """Delete by exact id, as ``deleteDocuments(Term("id", ...))``, through one ``TermInSetQuery``
    (jnius cannot pick the ``Term...`` overload of ``deleteDocuments``)."""
    from jnius import autoclass

    Term, terms = autoclass("org.apache.lucene.index.Term"), autoclass("java.util.ArrayList")()
    for doc_id in ids:
        terms.add(Term(ID_FIELD, doc_id).bytes())
    writer.deleteDocuments(autoclass("org.apache.lucene.search.TermInSetQuery")(ID_FIELD, terms))


def _count_present(index_dir: Path, ids: list[str]) -> int:
    from jnius import autoclass, cast

    Term, TermQuery = autoclass("org.apache.lucene.index.Term"), autoclass("org.apache.lucene.search.TermQuery")
    with _reader(index_dir) as reader:  # the cast makes jnius pick IndexSearcher(IndexReader)
        searcher = autoclass("org.apache.lucene.search.IndexSearcher")(cast("org.apache.lucene.index.IndexReader", reader))
        return sum(1 for doc_id in ids if searcher.count(TermQuery(Term(ID_FIELD, doc_id))) > 0)


def _java_message(exc: BaseException) -> str:
    """The first line of a Java exception, without jnius's "JavaException: JVM exception occurred: "."""
    return _first_line(exc).replace("JavaException: JVM exception occurred: ", "", 1)


def _jpath(path: Path):
    from jnius import autoclass

    return autoclass("java.io.File")(str(path)).toPath()


@contextmanager
def _reader(index_dir: Path) -> Iterator:
    ensure_jvm()
    from jnius import autoclass

    directory = autoclass("org.apache.lucene.store.FSDirectory").open(_jpath(index_dir))
    try:
        reader = autoclass("org.apache.lucene.index.DirectoryReader").open(directory)
    except Exception as exc:
        directory.close()
        raise TandemError(f"cannot open the Lucene index ({_java_message(exc)})", str(index_dir)) from None
    try:
        yield reader
    finally:
        reader.close()
        directory.close()


@contextmanager
def _index_writer(index_dir: Path, similarity: str) -> Iterator:
    """An ``IndexWriter`` (``OpenMode.APPEND``, configured as ``IndexCollection``'s) committed and
    closed when the block ends, rolled back on any error; ``write.lock`` is removed either way once
    this writer held it. Java exceptions become a TandemError naming ``index_dir``."""
    ensure_jvm()
    from jnius import JavaException, autoclass

    config = autoclass("org.apache.lucene.index.IndexWriterConfig")()
    config.setOpenMode(autoclass("org.apache.lucene.index.IndexWriterConfig$OpenMode").APPEND)
    config.setSimilarity(autoclass(similarity)())
    config.setUseCompoundFile(False)
    config.setMergeScheduler(autoclass("org.apache.lucene.index.ConcurrentMergeScheduler")())
    directory = autoclass("org.apache.lucene.store.FSDirectory").open(_jpath(index_dir))
    try:
        writer = autoclass("org.apache.lucene.index.IndexWriter")(directory, config)
    except JavaException as exc:
        directory.close()
        if "LockObtainFailedException" in str(exc):
            raise TandemError("another Lucene writer has this index open (its write.lock is held)", str(index_dir)) from None
        raise TandemError(f"cannot open a Lucene writer ({_java_message(exc)})", str(index_dir)) from None
    try:
        try:
            yield writer
            writer.commit()
            writer.close()
        except BaseException as exc:
            writer.rollback()  # a no-op once the writer is closed
            if isinstance(exc, JavaException):
                raise TandemError(f"Lucene update failed, nothing was changed ({_java_message(exc)})", str(index_dir)) from None
            raise
    finally:
        directory.close()
        (index_dir / LOCK_FILE).unlink(missing_ok=True)
