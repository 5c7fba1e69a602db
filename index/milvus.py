"""Talking to Milvus (Milvus Lite or a server) for an index's collection; knows nothing of models.

One collection per index: primary key ``id`` (the document id, VARCHAR), ``gen`` (the index generation
that wrote the row), ``title`` and ``text`` (VARCHAR, at most 65,535 bytes each: longer values are cut
at a character boundary; the local document store keeps them whole), ``contents`` (title + text,
analyzed, only with a ``milvus-bm25`` component), and one vector field per Milvus component of the index
(``<component>_vector``: SPARSE_FLOAT_VECTOR with SPARSE_INVERTED_INDEX / IP, or FLOAT_VECTOR with
FLAT, IVF_FLAT or HNSW / IP). A URI that is a local path ending in ``.db`` is Milvus Lite (the same
C++ core run in a local process by ``milvus-lite``; only FLAT and IVF_FLAT for dense there);
``http(s)://host:19530`` is a Milvus standalone or cluster. The token, if any, is read from an
environment variable whose *name* is recorded; the token itself never is.

pymilvus is imported inside the functions that talk to Milvus, so it loads only when a Milvus
component is built, opened or changed. Every request has a time limit (:data:`READ_TIMEOUT`,
:data:`WRITE_TIMEOUT`) and fails as one :class:`MilvusUnavailable` line naming the URI.

Measured against Milvus Lite 2.5.1 (what this module works around):

- ``compact`` and ``alter_collection_properties`` answer UNIMPLEMENTED, and a collection's
  description is not kept: compaction is recorded as not offered; ownership is the local manifest's.
- ids containing ``'`` break its upsert and delete (its local store quotes them unescaped: "near "s":
  syntax error"), so they are refused before anything is written to a Lite URI.
- filter templates (``filter_params``) are not parsed; ids go into filters as escaped string literals.
- the built-in BM25 function (``FunctionType.BM25`` over an analyzed VARCHAR) *is* accepted and searched.
- a Lite file is opened by one process at a time (a second gets "Open local milvus failed");
  ``scripts/milvus_lite_server.py`` serves one file to several processes over TCP.
- insert batches above ~2,000 rows were very slow (5,000: 62 rows/s vs ~1,000 rows/s at 500-2,000).
"""
from __future__ import annotations

import logging
import os
import re
import threading
import warnings
from pathlib import Path
from typing import Iterable, Literal, Sequence

from pydantic import BaseModel, Field

from .errors import BackendUnavailable, TandemError
from .limits import MAX_DOC_ID_CHARS

MAX_VARCHAR_BYTES = 65_535
ID_FIELD, GEN_FIELD, TITLE_FIELD, TEXT_FIELD = "id", "gen", "title", "text"
CONTENTS_FIELD = "contents"  # title + text, analyzed: the input of Milvus's BM25 function (only with a milvus-bm25 component)
COLLECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
CONNECT_TIMEOUT = 10.0
# Seconds a request may take, retries included (pymilvus otherwise retries 75 times: a search during an
# outage took 211 s to fail, holding a service thread). Integers: pymilvus ignores a float timeout.
READ_TIMEOUT = 10  # at most the service's default request budget (10 s): an outage answers 503, not a late 504
WRITE_TIMEOUT = 600
SEARCH_BATCH = 128  # queries per search request (k=1000 answers stay a few MB)
DenseIndexType = Literal["FLAT", "IVF_FLAT", "HNSW"]


class MilvusConfig(BaseModel):
    """Where an index's collection lives and how its vector fields are indexed (saved in the manifest)."""

    uri: str  # a local .db file (Milvus Lite) or http(s)://host:port
    collection: str
    token_env: str | None = None  # name of the environment variable holding the token (never the token)
    dense_index: DenseIndexType = "FLAT"
    nlist: int = Field(default=1024, ge=1)  # IVF_FLAT
    nprobe: int = Field(default=64, ge=1)  # IVF_FLAT, at search time
    hnsw_m: int = Field(default=32, ge=2)  # HNSW (server only)
    ef_construction: int = Field(default=200, ge=1)
    ef_search: int = Field(default=256, ge=1)
    bm25_k1: float = Field(default=0.9, gt=0)  # milvus-bm25: Anserini's BEIR values
    bm25_b: float = Field(default=0.4, ge=0, le=1)
    bm25_analyzer: str = "english"  # Milvus's built-in analyzer (standard tokenizer, lowercase, English stemmer and stop words)
    documents: bool = False  # the collection is the index's document store (--docstore milvus): titles and texts kept whole
    insert_workers: int = Field(default=2, ge=1, le=32)  # insert/upsert requests in flight at once
    insert_batch: int = Field(default=1000, ge=1)  # rows per insert/upsert request (Lite 2.5.1, 10k synthetic rows: 500-2000 ~1,000 rows/s, 5000 62 rows/s)

    def resolved(self) -> "MilvusConfig":
        """The same config with a Lite path made absolute; bad values refused naming their flag."""
        if not COLLECTION_NAME.match(self.collection):
            raise TandemError(f"collection name {self.collection!r}: letters, digits and underscores, not starting with a digit", "--milvus-collection")
        return self.model_copy(update={"uri": normalize_uri(self.uri)})

    @property
    def lite(self) -> bool:
        return is_lite(self.uri)


def is_lite(uri: str) -> bool:
    return not re.match(r"^(https?|tcp|grpc|unix)://", uri, re.IGNORECASE)


def normalize_uri(uri: str) -> str:
    """A server URI as given; a Milvus Lite path absolute (so every process means the same file)."""
    if not is_lite(uri):
        return uri
    if not uri.endswith(".db"):
        raise TandemError(f"{uri!r}: a Milvus Lite URI is a local file ending in .db (a server URI starts with http:// or https://)", "--milvus-uri")
    name = Path(uri).name
    if not re.match(r"^[A-Za-z0-9.\-_]{1,36}$", name):  # what milvus-lite 2.5.1 accepts
        raise TandemError(f"{name!r}: a Milvus Lite file name has at most 36 letters, digits, '.', '-' or '_'", "--milvus-uri")
    return str(Path(uri).expanduser().resolve())


class _NotMilvusLite(logging.Filter):
    """milvus-lite logs its failures on the root logger; Tandem reports them in its own one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "milvus_lite" not in record.pathname


class MilvusUnavailable(BackendUnavailable):
    """Milvus could not be reached or failed a request: not the caller's input (a server answers 503)."""


# -- connecting --------------------------------------------------------------------------------
_clients: dict[tuple[str, str | None], object] = {}
_clients_lock = threading.Lock()


def _pymilvus():
    try:
        import pymilvus
    except ImportError:
        raise TandemError("pymilvus is not installed: pip install 'tandem-retrieval[milvus]'", "milvus") from None
    with warnings.catch_warnings():  # milvus-lite 2.5 imports pkg_resources, which warns on every start
        warnings.simplefilter("ignore")
        try:
            import milvus_lite  # noqa: F401  (Milvus Lite URIs only; a server needs just pymilvus)
        except ImportError:
            pass
    for name in ("pymilvus", "pymilvus.milvus_client", "pymilvus.bulk_writer"):  # it logs every failed call at ERROR on stderr
        logging.getLogger(name).setLevel(logging.CRITICAL)
    root = logging.getLogger()
    if not any(isinstance(f, _NotMilvusLite) for f in root.filters):
        root.addFilter(_NotMilvusLite())
    return pymilvus


def connect(uri: str, token_env: str | None = None):
    """A client for ``uri`` (one per URI and token variable in a process, shared by threads); an
    unreachable URI is one TandemError line naming it."""
    pymilvus = _pymilvus()
    token = ""
    if token_env:
        token = os.environ.get(token_env, "")
        if not token:
            raise TandemError(f"environment variable {token_env} (the Milvus token) is not set", "--milvus-token-env")
    key = (uri, token_env)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            if is_lite(uri) and not Path(uri).parent.is_dir():
                raise TandemError(f"Milvus Lite: folder {Path(uri).parent} does not exist", uri)
            try:
                client = pymilvus.MilvusClient(uri=uri, token=token, timeout=CONNECT_TIMEOUT)
            except Exception as exc:  # grpc and pymilvus raise several kinds
                if is_lite(uri) and "Open local milvus failed" in _first_line(exc):
                    raise MilvusUnavailable("cannot open this Milvus Lite file: a Lite file serves one process, is another using it? (serve it "
                                            "to several with scripts/milvus_lite_server.py and use its http:// URI)", uri) from None
                raise MilvusUnavailable(f"cannot reach Milvus: {_first_line(exc)}", uri) from None
            _clients[key] = client
    return client


def forget_client(uri: str, token_env: str | None = None) -> None:
    """Drop a cached client (after its server went away) so the next :func:`connect` dials again."""
    with _clients_lock:
        _clients.pop((uri, token_env), None)


def _first_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    if not message and hasattr(exc, "details") and callable(exc.details):
        message = exc.details() or (exc.code().name if hasattr(exc, "code") else "")
    text = str(message or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def call(uri: str, doing: str, function, *args, **kwargs):
    """``function(*args, **kwargs)`` within ``timeout`` seconds (default :data:`READ_TIMEOUT`), any
    Milvus/grpc failure turned into one line naming the URI."""
    kwargs["timeout"] = int(kwargs.get("timeout") or READ_TIMEOUT)
    try:
        return function(*args, **kwargs)
    except TandemError:
        raise
    except Exception as exc:
        raise MilvusUnavailable(f"Milvus {doing} failed: {_first_line(exc)}", uri) from None


# -- the collection ----------------------------------------------------------------------------
class VectorField(BaseModel):
    """One component's vector field in the collection."""

    component: str
    kind: Literal["sparse", "dense", "bm25"]  # bm25: Milvus's BM25 function's output over the analyzed contents
    dim: int | None = None

    @property
    def name(self) -> str:
        return f"{self.component}_vector"


def index_spec(config: MilvusConfig, field: VectorField) -> dict:
    """The index type, metric and parameters a vector field gets (recorded in the manifest)."""
    if field.kind == "sparse":
        return {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "IP", "params": {"drop_ratio_build": 0.0}}
    if field.kind == "bm25":
        return {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "BM25", "params": {"drop_ratio_build": 0.0, "bm25_k1": config.bm25_k1, "bm25_b": config.bm25_b}}
    if config.dense_index == "IVF_FLAT":
        return {"index_type": "IVF_FLAT", "metric_type": "IP", "params": {"nlist": config.nlist}}
    if config.dense_index == "HNSW":
        return {"index_type": "HNSW", "metric_type": "IP", "params": {"M": config.hnsw_m, "efConstruction": config.ef_construction}}
    return {"index_type": "FLAT", "metric_type": "IP", "params": {}}


def search_params(config: MilvusConfig, field: VectorField) -> dict:
    """Search-time parameters: exact for the sparse inverted index (``drop_ratio_search`` 0)."""
    if field.kind == "sparse":
        return {"metric_type": "IP", "params": {"drop_ratio_search": 0.0}}
    if field.kind == "bm25":
        return {"metric_type": "BM25", "params": {"drop_ratio_search": 0.0}}
    if config.dense_index == "IVF_FLAT":
        return {"metric_type": "IP", "params": {"nprobe": config.nprobe}}
    if config.dense_index == "HNSW":
        return {"metric_type": "IP", "params": {"ef": config.ef_search}}
    return {"metric_type": "IP", "params": {}}


def schema_record(config: MilvusConfig, fields: Sequence[VectorField]) -> dict:
    """What the manifest keeps about the collection: fields and the index of each vector field."""
    scalars = {GEN_FIELD: "INT64", TITLE_FIELD: f"VARCHAR({MAX_VARCHAR_BYTES})", TEXT_FIELD: f"VARCHAR({MAX_VARCHAR_BYTES})"}
    record = {"primary_key": {"name": ID_FIELD, "type": "VARCHAR", "max_length": MAX_DOC_ID_CHARS}, "scalar_fields": scalars,
              "vector_fields": {f.name: {"type": "FLOAT_VECTOR" if f.kind == "dense" else "SPARSE_FLOAT_VECTOR", "dim": f.dim,
                                         "index": index_spec(config, f), "search": search_params(config, f)} for f in fields},
              "consistency_level": "Strong"}
    bm25 = [f.name for f in fields if f.kind == "bm25"]
    if bm25:
        scalars[CONTENTS_FIELD] = f"VARCHAR({MAX_VARCHAR_BYTES}), analyzer {config.bm25_analyzer}"
        record["functions"] = {name: {"type": "BM25", "input": CONTENTS_FIELD} for name in bm25}
    return record


def create_collection(client, config: MilvusConfig, fields: Sequence[VectorField], replace: bool) -> None:
    """Create the index's collection; an existing one is dropped only when ``replace`` (it belongs to
    the index being rebuilt), else refused in one line."""
    from pymilvus import DataType

    uri, name = config.uri, config.collection
    if config.lite and config.dense_index == "HNSW" and any(f.kind == "dense" for f in fields):
        raise TandemError("Milvus Lite offers FLAT and IVF_FLAT for dense vectors (HNSW needs a Milvus server)", "--milvus-dense-index")
    if call(uri, "has_collection", client.has_collection, name):
        if not replace:
            raise TandemError(f"collection {name!r} already exists at {uri} and no index here names it: choose another --milvus-collection "
                              "(or drop it yourself if nothing uses it)", "--milvus-collection")
        call(uri, "drop_collection", client.drop_collection, name, timeout=WRITE_TIMEOUT)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(ID_FIELD, DataType.VARCHAR, is_primary=True, max_length=MAX_DOC_ID_CHARS)
    schema.add_field(GEN_FIELD, DataType.INT64)
    schema.add_field(TITLE_FIELD, DataType.VARCHAR, max_length=MAX_VARCHAR_BYTES)
    schema.add_field(TEXT_FIELD, DataType.VARCHAR, max_length=MAX_VARCHAR_BYTES)
    if any(f.kind == "bm25" for f in fields):
        schema.add_field(CONTENTS_FIELD, DataType.VARCHAR, max_length=MAX_VARCHAR_BYTES, enable_analyzer=True, analyzer_params={"type": config.bm25_analyzer})
    params = client.prepare_index_params()
    for field in fields:
        if field.kind == "sparse":
            schema.add_field(field.name, DataType.SPARSE_FLOAT_VECTOR)
        elif field.kind == "bm25":
            from pymilvus import Function, FunctionType

            schema.add_field(field.name, DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(Function(name=f"{field.component}_bm25", function_type=FunctionType.BM25, input_field_names=[CONTENTS_FIELD],
                                         output_field_names=[field.name]))
        else:
            schema.add_field(field.name, DataType.FLOAT_VECTOR, dim=int(field.dim))
        spec = index_spec(config, field)
        params.add_index(field.name, index_type=spec["index_type"], metric_type=spec["metric_type"], params=spec["params"])
    call(uri, "create_collection", client.create_collection, name, schema=schema, index_params=params, consistency_level="Strong", timeout=WRITE_TIMEOUT)


def check_collection(client, config: MilvusConfig, fields: Sequence[VectorField], where: str) -> None:
    """The collection exists and has the vector fields the manifest names (one line otherwise)."""
    uri, name = config.uri, config.collection
    if not call(uri, "has_collection", client.has_collection, name):
        raise TandemError(f"collection {name!r} is not in Milvus at {uri} (dropped, or another Milvus?)", where)
    described = call(uri, "describe_collection", client.describe_collection, name)
    have = {f["name"] for f in described.get("fields", [])}
    missing = [f.name for f in fields if f.name not in have]
    if missing:
        raise TandemError(f"collection {name!r} at {uri} has no field {missing[0]!r}: it is not this index's collection", where)


def drop_collection_quietly(client, config: MilvusConfig) -> None:
    """Drop a collection this process just created (a failed build); a failure to do so is left for the user."""
    try:
        client.drop_collection(config.collection)
    except Exception:
        pass


# -- rows --------------------------------------------------------------------------------------
def clip_varchar(value: str) -> tuple[str, bool]:
    """``value`` cut to the VARCHAR limit at a character boundary; whether it was cut."""
    data = value.encode("utf-8")
    if len(data) <= MAX_VARCHAR_BYTES:
        return value, False
    return data[:MAX_VARCHAR_BYTES].decode("utf-8", errors="ignore"), True


def check_ids_for(config: MilvusConfig, doc_ids: Iterable[str]) -> None:
    """Refuse, before anything is written, ids this Milvus cannot write (Lite: ids containing ')."""
    if not config.lite:
        return
    for doc_id in doc_ids:
        if "'" in doc_id:
            raise TandemError(f"document id {doc_id!r} contains ' which Milvus Lite 2.5.1 cannot upsert or delete "
                              "(it quotes ids unescaped); use a Milvus server, or ids without '", config.uri)


def check_texts_for(config: MilvusConfig, docs: Iterable) -> None:
    """With the collection as the document store, refuse (before anything is written) a title or text
    longer than a VARCHAR holds: Milvus would keep it cut, and the index would lose the rest."""
    if not config.documents:
        return
    for doc in docs:
        for name, value in (("title", doc.title or ""), ("text", doc.text or "")):
            size = len(value.encode("utf-8"))
            if size > MAX_VARCHAR_BYTES:
                raise TandemError(f"document {doc.doc_id!r}: its {name} has {size:,} bytes, more than the {MAX_VARCHAR_BYTES:,} a Milvus VARCHAR "
                                  "holds; with --docstore milvus every title and text must fit (use --docstore sqlite)", config.uri)


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ids_filter(doc_ids: Sequence[str]) -> str:
    return f"{ID_FIELD} in [{','.join(quote(d) for d in doc_ids)}]"


def write_rows(client, config: MilvusConfig, rows: Iterable[dict], total: int, upsert: bool, show_progress: bool = True) -> dict:
    """Insert (a new collection) or upsert (a live change) rows in batches of ``config.insert_batch``,
    ``config.insert_workers`` requests in flight at once (rows are built while earlier batches travel;
    a change never holds one id twice, so the order of batches does not matter)."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from .progress import progress

    doing = "upsert" if upsert else "insert"
    function = client.upsert if upsert else client.insert
    written = 0
    with progress(total=total, desc=f"milvus {doing}", unit="doc", disable=not show_progress) as bar, \
            ThreadPoolExecutor(max_workers=config.insert_workers, thread_name_prefix="milvus-write") as pool:
        pending: set = set()

        def settle(block: bool) -> None:
            nonlocal written, pending
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED) if block else (set(f for f in pending if f.done()), set(f for f in pending if not f.done()))
            for future in done:
                written += future.result()  # the first failure (one MilvusUnavailable line) stops the write
                bar.update(future.result())

        def send(batch: list[dict]) -> None:
            while len(pending) >= config.insert_workers:
                settle(block=True)
            pending.add(pool.submit(lambda b=batch: (call(config.uri, doing, function, config.collection, b, timeout=WRITE_TIMEOUT), len(b))[1]))

        try:
            batch: list[dict] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= config.insert_batch:
                    send(batch)
                    batch = []
            if batch:
                send(batch)
            while pending:
                settle(block=True)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return {"rows": written}


def delete_ids(client, config: MilvusConfig, doc_ids: Sequence[str], batch: int = 1000) -> int:
    """Delete rows by primary key, in batches; returns how many ids were asked."""
    for start in range(0, len(doc_ids), batch):
        call(config.uri, "delete", client.delete, config.collection, filter=ids_filter(doc_ids[start : start + batch]), timeout=WRITE_TIMEOUT)
    return len(doc_ids)


def delete_newer(client, config: MilvusConfig, generation: int) -> None:
    """Delete rows written by generations after ``generation`` (what a crashed writer left)."""
    call(config.uri, "delete", client.delete, config.collection, filter=f"{GEN_FIELD} > {int(generation)}", timeout=WRITE_TIMEOUT)


def compact(client, config: MilvusConfig) -> str:
    """Ask Milvus to compact the collection (drops deleted rows, merges small segments); Milvus Lite
    2.5.1 does not offer it (UNIMPLEMENTED), which is recorded rather than failed."""
    try:
        job = client.compact(config.collection, timeout=WRITE_TIMEOUT)
    except Exception as exc:
        if "UNIMPLEMENTED" in repr(exc) or "UNIMPLEMENTED" in _first_line(exc):
            return "not offered by this Milvus (Milvus Lite)"
        raise MilvusUnavailable(f"Milvus compact failed: {_first_line(exc)}", config.uri) from None
    return f"requested (job {job})"


def fetch(client, config: MilvusConfig, doc_ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict]:
    """Rows by primary key: id -> {field: value}."""
    if not doc_ids:
        return {}
    rows = call(config.uri, "query", client.query, config.collection, filter=ids_filter(doc_ids), output_fields=[ID_FIELD, *fields])
    return {row[ID_FIELD]: row for row in rows}


class MilvusTexts:
    """Titles and texts of an index whose document store is its Milvus collection (``--docstore milvus``):
    the local per-segment stores keep ids and rows only, so `tandem serve` replicas need no copy of the texts."""

    def __init__(self, config: MilvusConfig) -> None:
        self.config = config

    def fetch(self, doc_ids: Sequence[str], batch: int = 1000) -> dict[str, tuple[str, str]]:
        """id -> (title, text) of the ids the collection holds."""
        client = connect(self.config.uri, self.config.token_env)
        out: dict[str, tuple[str, str]] = {}
        for start in range(0, len(doc_ids), batch):
            rows = fetch(client, self.config, list(doc_ids[start : start + batch]), [TITLE_FIELD, TEXT_FIELD])
            out.update((doc_id, (row.get(TITLE_FIELD) or "", row.get(TEXT_FIELD) or "")) for doc_id, row in rows.items())
        return out


def count_rows(client, config: MilvusConfig, generation: int | None = None) -> int:
    """Rows in the collection (visible to ``generation`` when given)."""
    expr = f"{GEN_FIELD} <= {int(generation)}" if generation is not None else f"{GEN_FIELD} >= 0"
    rows = call(config.uri, "query", client.query, config.collection, filter=expr, output_fields=["count(*)"])
    return int(rows[0]["count(*)"]) if rows else 0


def search(client, config: MilvusConfig, field: VectorField, data: list, k: int, generation: int) -> list[list[tuple[str, float]]]:
    """Top-``k`` (id, score) per query vector among rows of generations up to ``generation``."""
    out: list[list[tuple[str, float]]] = []
    for start in range(0, len(data), SEARCH_BATCH):  # one request per batch of queries, bounded so replies stay small
        result = call(config.uri, "search", client.search, config.collection, data=data[start : start + SEARCH_BATCH], anns_field=field.name, limit=k,
                      search_params=search_params(config, field), filter=f"{GEN_FIELD} <= {int(generation)}", output_fields=[ID_FIELD])
        out.extend([(hit["id"], float(hit["distance"])) for hit in hits] for hits in result)
    return out
