"""``milvus-sparse``, ``milvus-dense`` (and ``milvus-bm25``): retrievers held in one Milvus collection.

Design. Two backends, one per document input (the writer encodes what each backend's
``doc_input`` asks), that share the index's collection (:mod:`tandem.index.milvus`: primary key = document
id, ``gen``, ``title``, ``text`` and one vector field per Milvus component). Storage is index-wide
(``segment_local = False``, like ``lucene-bm25``): Tandem's segments keep the document store and the
deletion bitmaps; Milvus keeps the vectors. Milvus 2.5's upsert needs every field of a row, so rows
are written once per change by the *first* Milvus component of the index (the writer's
``WriteContext.components``), with the vectors of every Milvus component; the others only write
their local files. Each component's shared folder holds ``milvus.json`` (URI, collection, schema,
index types and parameters actually used); the sparse one also the tokenizer and, for
inference-free queries, the IDF table (:mod:`.sparse_common`, same policy as ``native-sparse``). The
manifest records the token's environment variable name, never the token.

Search. Sparse: the query's sparse vector (inference-free: IDF-weighted tokens; siamese: the SPLADE
query vector) against SPARSE_INVERTED_INDEX, metric IP, ``drop_ratio_build``/``drop_ratio_search`` 0
(exact). Dense: the query embedding against FLAT (exact; IVF_FLAT or, on a server, HNSW if asked),
metric IP. Each batch of queries is one request; the results are real document ids, so Tandem's
fusion (RRF, weighted sums, tuned weights, explain) works unchanged.

Live changes and what a crash can leave. Every row carries the generation that wrote it, and a
reader of generation G searches ``gen <= G``. ``add`` upserts its rows (a replaced id's row is
overwritten) with ``gen`` = the new generation; ``delete`` deletes by id; ``compact`` asks Milvus
to compact (Milvus Lite 2.5.1 does not offer it: recorded, not failed) and recomputes a corpus IDF
table. All of this happens before the local commit, so a failure talking to Milvus leaves the local
manifest unchanged (one line naming the URI). What can differ after a crash or a failure halfway:
(1) rows of an uncommitted add are in Milvus with ``gen`` above the manifest's generation: no
reader sees them, and the next writer deletes them (``gen > G``) before its own change; (2) a
replaced document's old row was already overwritten and a deleted document's row already removed,
while the manifest still lists them: searches miss those documents until the change is run again
(its ids are then applied idempotently). A reader holding an older generation sees deletes at once
and replaced documents only after it moves to the newer commit.

Collections Tandem did not create are never dropped: a build refuses an existing collection unless
it belongs to the index being rebuilt (``--overwrite`` of an index whose manifest names it, or a
previous attempt of the same build, marked in the build's work folder). Rebuilding drops and
recreates it at the start of the Milvus write, so readers of the old index see the new rows from
then on (not only after the new commit), and a rebuild that crashes leaves the old index pointing at
a partial collection: build again.

BM25. Milvus Lite 2.5.1 supports the built-in BM25 function (``FunctionType.BM25`` over an analyzed
VARCHAR, SPARSE_INVERTED_INDEX metric BM25; tried: create, insert, search by text, scores equal to
``ln(1 + (N - df + 0.5)/(df + 0.5)) tf (k1 + 1)/(tf + k1 (1 - b + b dl/avgdl))``, see the tests).
``milvus-bm25`` (``--bm25 --bm25-backend milvus-bm25``) uses it: a ``contents`` field (title + text)
with Milvus's ``english`` analyzer (standard tokenizer, lowercase, English stemmer and stop words),
k1=0.9, b=0.4 as Anserini's BEIR runs. Its analyzer (Snowball English) and exact document lengths
differ from Lucene's (Porter, lossy length norms): on the first 300 scifact documents its top-10
overlapped lucene-bm25's by 0.949 (300 queries; same top-1 for 275), so ``lucene-bm25`` stays the
default for ``--bm25`` (it reproduces pyserini's numbers) and runs next to the Milvus components.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from tandem.index.errors import IndexFormatError, TandemError
from tandem.index.manifest import ComponentInfo
from tandem.index.segments import IndexSnapshot
from tandem.index.sparse import SparseVector

from ..encoders import encoder_key
from ..retriever import TermContribution
from ..types import Ranking
from .base import Backend, EncodedDocs, EncodingRetriever, SharedChange, WriteContext
from .dense_common import DenseQuerySide
from .sparse_common import SparseQuerySide, apply_query_side_change, check_query_side

MILVUS_FILE = "milvus.json"


def milvus_config(component: ComponentInfo):
    """The component's :class:`tandem.index.milvus.MilvusConfig` (one line naming the manifest if absent)."""
    from tandem.index.milvus import MilvusConfig

    raw = component.settings.get("milvus")
    if not isinstance(raw, dict):
        raise IndexFormatError(f"component {component.name!r} ({component.backend}) has no 'milvus' settings", "manifest")
    return MilvusConfig(**{k: v for k, v in raw.items() if k in MilvusConfig.model_fields})


def vector_field(component: ComponentInfo):
    """The component's field in the collection (``<name>_vector``) and its kind, from its backend."""
    from tandem.index.milvus import VectorField

    kind = {MilvusSparseBackend.name: "sparse", MilvusBM25Backend.name: "bm25"}.get(component.backend, "dense")
    return VectorField(component=component.name, kind=kind, dim=int(component.settings["dim"]) if kind == "dense" else None)


def _same_collection(a: ComponentInfo, b: ComponentInfo) -> bool:
    ca, cb = a.settings.get("milvus", {}), b.settings.get("milvus", {})
    return (ca.get("uri"), ca.get("collection")) == (cb.get("uri"), cb.get("collection"))


def collection_group(component: ComponentInfo, components: list[ComponentInfo]) -> list[ComponentInfo]:
    """The index's Milvus components sharing ``component``'s collection, in manifest order."""
    group = [c for c in components if c.backend in MILVUS_BACKENDS and _same_collection(c, component)]
    return group or [component]


def _rows(docs: EncodedDocs, group: list[ComponentInfo], generation: int):
    """One complete row per document: id, gen, title, text and every Milvus component's vector."""
    from tandem.index.milvus import CONTENTS_FIELD, GEN_FIELD, ID_FIELD, TEXT_FIELD, TITLE_FIELD, clip_varchar

    vectors = []
    with_contents = False
    for component in group:
        field = vector_field(component)
        if field.kind == "bm25":  # Milvus computes this field from the contents
            with_contents = True
        elif field.kind == "sparse":
            vectors.append((field.name, "sparse", docs.sparse[encoder_key("sparse", component.settings["encoder"])].tocsr()))
        else:
            vectors.append((field.name, "dense", np.ascontiguousarray(docs.dense[encoder_key("dense", component.settings["encoder"])], dtype=np.float32)))
    for i, doc in enumerate(docs.docs):
        row = {ID_FIELD: doc.doc_id, GEN_FIELD: int(generation), TITLE_FIELD: clip_varchar(doc.title or "")[0], TEXT_FIELD: clip_varchar(doc.text or "")[0]}
        if with_contents:
            row[CONTENTS_FIELD] = clip_varchar(doc.contents)[0]
        for name, kind, data in vectors:
            if kind == "sparse":
                start, end = data.indptr[i], data.indptr[i + 1]
                row[name] = dict(zip(data.indices[start:end].tolist(), data.data[start:end].astype(np.float32).tolist()))
            else:
                row[name] = data[i].tolist()
        yield row


class MilvusBackend(Backend):
    """What the Milvus backends share: the collection's lifecycle and writes (by the group's first component)."""

    segment_local = False
    has_shared_dir = True
    required_settings = ("milvus.uri", "milvus.collection", "encoder.model", "encoder.max_length")

    def settings_from(self, config) -> dict:
        if config.milvus is None:
            raise TandemError(f"backend {self.name} needs a Milvus URI and collection", "--milvus-uri")
        from tandem.index import milvus

        resolved = config.milvus.resolved()
        milvus.connect(resolved.uri, resolved.token_env)  # unreachable: one line naming the URI, before any document is encoded
        return {"milvus": resolved.model_dump()}

    # -- writing ------------------------------------------------------------------------------
    def update_shared(self, component: ComponentInfo, change: SharedChange, context: WriteContext) -> dict | None:
        from tandem.index import milvus

        config = milvus_config(component)
        group = collection_group(component, context.components)
        writes_rows = group[0].name == component.name
        generation = int(context.generation or 1)
        record: dict = {}
        if writes_rows:
            client = milvus.connect(config.uri, config.token_env)
            fields = [vector_field(c) for c in group]
            if change.previous_dir is None:
                milvus.check_ids_for(config, change.added.doc_ids)
                milvus.check_texts_for(config, change.added.docs)
                milvus.create_collection(client, config, fields, replace=_rebuilds_own_collection(context.root, config))
                try:
                    record["rows_written"] = milvus.write_rows(client, config, _rows(change.added, group, generation), len(change.added.docs), upsert=False)["rows"]
                except BaseException:
                    milvus.drop_collection_quietly(client, config)  # this build created it: a failed build leaves none
                    raise
            else:
                milvus.check_collection(client, config, fields, config.uri)
                milvus.delete_newer(client, config, generation - 1)  # rows of a change that never committed
                if change.deleted_ids and change.added is None:
                    milvus.check_ids_for(config, change.deleted_ids)
                    milvus.delete_ids(client, config, list(change.deleted_ids))
                if change.added is not None:  # replaced ids are overwritten by the upsert
                    milvus.check_ids_for(config, change.added.doc_ids)
                    milvus.check_texts_for(config, change.added.docs)
                    milvus.write_rows(client, config, _rows(change.added, group, generation), len(change.added.docs), upsert=True, show_progress=len(change.added.docs) > 5000)
                if change.merge:
                    record["compaction"] = milvus.compact(client, config)
        local = self.write_local(component, change, context)
        if change.previous_dir is None or local is not None or record:
            if change.previous_dir is not None and local is None:  # nothing local changed: the same files, with the new record
                shutil.copytree(change.previous_dir, change.new_dir)
            change.new_dir.mkdir(parents=True, exist_ok=True)
            description = {"uri": config.uri, "collection": config.collection, "token_env": config.token_env, "writes_rows": writes_rows,
                           "schema": milvus.schema_record(config, [vector_field(c) for c in group]), **record}
            (change.new_dir / MILVUS_FILE).write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
            return {**(local or {}), "milvus_schema": description["schema"], **({"milvus_" + k: v for k, v in record.items()})}
        return None

    def write_local(self, component: ComponentInfo, change: SharedChange, context: WriteContext) -> dict | None:
        """The component's own local files for this change (None: unchanged)."""
        return None

    # -- checking -----------------------------------------------------------------------------
    def check(self, snapshot: IndexSnapshot, component: ComponentInfo, thorough: bool = False) -> None:
        milvus_config(component)
        if thorough:
            from tandem.index import milvus

            config = milvus_config(component)
            client = milvus.connect(config.uri, config.token_env)
            milvus.check_collection(client, config, [vector_field(component)], config.uri)
            rows = milvus.count_rows(client, config, snapshot.manifest.generation)
            if rows != snapshot.manifest.num_docs:
                raise IndexFormatError(f"collection {config.collection!r} holds {rows} rows of this generation, the index {snapshot.manifest.num_docs} documents", config.uri)

    def describe(self, component: ComponentInfo, segments=()) -> str:
        config = component.settings.get("milvus", {})
        spec = component.settings.get("milvus_schema", {}).get("vector_fields", {}).get(f"{component.name}_vector", {}).get("index", {})
        kind = "Milvus Lite" if config.get("uri", "").endswith(".db") else "Milvus"
        return f"{kind} {config.get('uri')} collection {config.get('collection')}: {spec.get('index_type', '?')} {spec.get('params', {})}"


def _rebuilds_own_collection(stage_root: Path, config) -> bool:
    """Whether an existing collection of this name belongs to the index this build replaces: the index
    folder the build publishes to (``<parent>/.<name>.building/stage`` -> ``<parent>/<name>``, see
    :class:`tandem.index.build_dir.StagingDir`) has a manifest whose Milvus components name the same URI and
    collection, or a previous attempt of this build created it (marker in the build's work folder)."""
    from tandem.index.manifest import read_manifest

    stage_root = Path(stage_root)
    work = stage_root.parent
    marker = work / f"milvus-{config.collection}.created"
    owned = marker.exists() and marker.read_text(encoding="utf-8").strip() == config.uri
    if stage_root.name == "stage" and work.name.startswith(".") and work.name.endswith(".building"):
        out = work.parent / work.name[1 : -len(".building")]
        if (out / "manifest.json").exists():
            try:
                manifest = read_manifest(out)
            except Exception:
                manifest = None
            if manifest is not None and any(c.backend in MILVUS_BACKENDS and (c.settings.get("milvus", {}).get("uri"), c.settings.get("milvus", {}).get("collection"))
                                            == (config.uri, config.collection) for c in manifest.components):
                owned = True
        if work.is_dir():
            marker.write_text(config.uri + "\n", encoding="utf-8")
    return owned


class MilvusSparseBackend(MilvusBackend):
    name = "milvus-sparse"
    doc_input = "sparse"
    description = "learned sparse vectors in Milvus (SPARSE_INVERTED_INDEX, exact)"
    required_settings = MilvusBackend.required_settings + ("mode",)

    def write_local(self, component: ComponentInfo, change: SharedChange, context: WriteContext) -> dict | None:
        return apply_query_side_change(component.settings, change)  # tokenizer and IDF table, as native-sparse

    def check(self, snapshot: IndexSnapshot, component: ComponentInfo, thorough: bool = False) -> None:
        check_query_side(component.settings, snapshot.root / component.shared_dir)
        super().check(snapshot, component, thorough)

    def open(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> "MilvusSparseRetriever":
        return MilvusSparseRetriever(snapshot, component, device)

    def describe(self, component: ComponentInfo, segments=()) -> str:
        return f"{component.settings.get('mode')}, " + super().describe(component, segments)


class MilvusDenseBackend(MilvusBackend):
    name = "milvus-dense"
    doc_input = "dense"
    description = "dense vectors in Milvus (FLAT exact; IVF_FLAT, HNSW on a server)"
    required_settings = MilvusBackend.required_settings + ("dim",)

    def open(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> "MilvusDenseRetriever":
        return MilvusDenseRetriever(snapshot, component, device)

    def describe(self, component: ComponentInfo, segments=()) -> str:
        return f"{component.settings.get('dim')}-d, " + super().describe(component, segments)


class MilvusBM25Backend(MilvusBackend):
    name = "milvus-bm25"
    doc_input = "text"
    description = "BM25 computed by Milvus (its BM25 function over title + text, English analyzer)"
    required_settings = ("milvus.uri", "milvus.collection")

    def settings_from(self, config) -> dict:
        if config.bm25_fields != "flat":
            raise TandemError("milvus-bm25 indexes title + text as one field (flat); multifield needs lucene-bm25", "--bm25-fields")
        return super().settings_from(config)

    def open(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> "MilvusBM25Retriever":
        return MilvusBM25Retriever(snapshot, component, device)

    def describe(self, component: ComponentInfo, segments=()) -> str:
        config = component.settings.get("milvus", {})
        return f"BM25 in Milvus, k1={config.get('bm25_k1')}, b={config.get('bm25_b')}, analyzer {config.get('bm25_analyzer')}, " + super().describe(component, segments)


MILVUS_BACKENDS = (MilvusSparseBackend.name, MilvusDenseBackend.name, MilvusBM25Backend.name)


# -- reading ----------------------------------------------------------------------------------
class MilvusRetriever(EncodingRetriever):
    """Opens the collection (one line naming the URI if Milvus cannot be reached) and searches the
    rows of the snapshot's generation."""

    def __init__(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> None:
        from tandem.index import milvus

        self.name = component.name
        self.snapshot = snapshot
        self.settings = component.settings
        self._device = device
        self.config = milvus_config(component)
        self.field = vector_field(component)
        self.generation = snapshot.manifest.generation
        self.client = milvus.connect(self.config.uri, self.config.token_env)
        milvus.check_collection(self.client, self.config, [self.field], self.config.uri)

    def search_data(self, data: list, k: int) -> list[Ranking]:
        """Top-``k`` per query (sparse dicts, dense lists or BM25 texts) among this commit's rows."""
        from tandem.index import milvus

        results = milvus.search(self.client, self.config, self.field, data, k, self.generation)
        return [dict(hits) for hits in results]

    def stored_vector(self, doc_id: str):
        """The vector Milvus holds for a live document of this snapshot (None if absent)."""
        from tandem.index import milvus

        if doc_id not in self.snapshot:
            return None
        row = milvus.fetch(self.client, self.config, [doc_id], [self.field.name]).get(doc_id)
        return None if row is None else row[self.field.name]

    def close(self) -> None:
        self.client = None


class MilvusSparseRetriever(SparseQuerySide, MilvusRetriever):
    """Sparse dot product in Milvus; the query encoder (IDF table or SPLADE) is the index's."""

    backend = MilvusSparseBackend.name

    def __init__(self, snapshot: IndexSnapshot, component: ComponentInfo, device: str = "cpu") -> None:
        super().__init__(snapshot, component, device)
        self._open_query_side(snapshot, component, device)

    def search_encoded(self, vectors: list[SparseVector], k: int) -> list[Ranking]:
        data = [dict(zip(np.asarray(v.ids).tolist(), np.asarray(v.weights, dtype=np.float32).tolist())) for v in vectors]
        asked = [i for i, d in enumerate(data) if d]  # a query with no terms matches nothing (Milvus is not asked)
        found = self.search_data([data[i] for i in asked], k)
        out: list[Ranking] = [{} for _ in data]
        for i, ranking in zip(asked, found):
            out[i] = ranking
        return out

    def doc_vector(self, doc_id: str) -> SparseVector | None:
        stored = self.stored_vector(doc_id)
        if stored is None:
            return None
        ids = np.array(sorted(int(t) for t in stored), dtype=np.int32)
        return SparseVector(ids, np.array([stored[int(t)] if int(t) in stored else stored[str(t)] for t in ids], dtype=np.float32))

    def explain(self, query: str, doc_id: str, top: int = 10, query_vector: SparseVector | None = None) -> list[TermContribution]:
        """The sparse terms a query and a document share, by contribution (the document's vector from Milvus)."""
        from .native_sparse import NativeSparseRetriever

        return NativeSparseRetriever.explain(self, query, doc_id, top, query_vector)


class MilvusDenseRetriever(DenseQuerySide, MilvusRetriever):
    """Inner product of the query embedding and the stored vectors in Milvus."""

    backend = MilvusDenseBackend.name

    def search_encoded(self, vectors: np.ndarray, k: int) -> list[Ranking]:
        return self.search_data(np.asarray(vectors, dtype=np.float32).tolist(), k)

    def doc_vector(self, doc_id: str) -> np.ndarray | None:
        stored = self.stored_vector(doc_id)
        return None if stored is None else np.asarray(stored, dtype=np.float32)


class MilvusBM25Retriever(MilvusRetriever):
    """BM25 scored by Milvus: the query text goes to the collection, which analyses it as the contents."""

    backend = MilvusBM25Backend.name
    tokenizer = None

    def encode(self, queries: list[str]) -> list[str]:
        return list(queries)

    def search_encoded(self, queries: list[str], k: int) -> list[Ranking]:
        asked = [i for i, q in enumerate(queries) if q.strip()]
        found = self.search_data([queries[i] for i in asked], k)
        out: list[Ranking] = [{} for _ in queries]
        for i, ranking in zip(asked, found):
            out[i] = ranking
        return out


# -- Milvus's own fusion (an option beside Tandem's) -------------------------------------------
def milvus_hybrid_search(sparse: MilvusSparseRetriever, dense: MilvusDenseRetriever, queries: list[str], k: int, *, ranker: str = "rrf",
                         rrf_k: int = 60, weights: tuple[float, float] = (1.0, 1.0), depth: int = 100) -> list[Ranking]:
    """Fuse in Milvus (``hybrid_search``): each retriever's top-``depth`` from the collection, merged by
    Milvus's ``RRFRanker(rrf_k)`` or ``WeightedRanker(*weights)`` into the top-``k``. Both retrievers
    must be this index's and share the collection. Note that Milvus's weighted ranker normalises IP
    scores with arctan (``0.5 + atan(s)/pi``), not min-max as Tandem's ``wsum``; its RRF is
    ``sum 1/(rrf_k + rank)`` as Tandem's ``rrf`` with equal weights. Tandem's own fusion (the
    Searcher's modes) stays the default: it keeps per-retriever scores for explain and tuned weights.

    One request per query: with several queries in one ``hybrid_search`` request Milvus Lite 2.5.1
    returned wrong RRF lists (13 of 62 scifact queries as Tandem's rrf, scores as low as 0.00033,
    i.e. ranks in the thousands), while one query per request gives Tandem's rrf exactly."""
    from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

    from tandem.index import milvus

    if (sparse.config.uri, sparse.config.collection) != (dense.config.uri, dense.config.collection):
        raise TandemError("the sparse and dense retrievers are in different Milvus collections", "hybrid_search")
    if ranker not in ("rrf", "weighted"):
        raise TandemError(f"unknown Milvus ranker {ranker!r} (rrf, weighted)", "hybrid_search")
    queries = list(queries)
    sparse_vectors = sparse.encode(queries)
    dense_vectors = np.asarray(dense.encode(queries), dtype=np.float32)
    fuse = RRFRanker(rrf_k) if ranker == "rrf" else WeightedRanker(*weights)
    visible = f"{milvus.GEN_FIELD} <= {int(sparse.generation)}"
    out: list[Ranking] = []
    for vector, embedding in zip(sparse_vectors, dense_vectors):
        terms = dict(zip(np.asarray(vector.ids).tolist(), np.asarray(vector.weights, dtype=np.float32).tolist()))
        requests = [AnnSearchRequest([embedding.tolist()], dense.field.name, milvus.search_params(dense.config, dense.field), depth, expr=visible)]
        if terms:  # a query without terms has no sparse request (Milvus would return nothing for it anyway)
            requests.insert(0, AnnSearchRequest([terms], sparse.field.name, milvus.search_params(sparse.config, sparse.field), depth, expr=visible))
        result = milvus.call(sparse.config.uri, "hybrid_search", sparse.client.hybrid_search, sparse.config.collection, requests,
                             fuse, limit=k, output_fields=[milvus.ID_FIELD])
        out.append({hit["id"]: float(hit["distance"]) for hit in result[0]})
    return out
