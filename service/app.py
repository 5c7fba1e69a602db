"""FastAPI application: search, batch search, documents, index info, health, and the search page."""
from __future__ import annotations

import asyncio
import hmac
import json
import os
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Path as PathParam, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tandem.index.errors import BackendUnavailable, IndexFormatError, TandemError
from tandem.index.limits import MAX_DOC_ID_CHARS, MAX_QUERY_CHARS
from tandem.index.manifest import TANDEM_VERSION
from tandem.retrieval.fusion import FusionConfig, override_fusion
from tandem.retrieval.limits import check_query_text
from tandem.retrieval.searcher import Searcher

from . import schemas
from .errors import error, errors
from .live import LiveSearcher
from .openapi_names import restrict_names
from .middleware import LOOPBACK_HOSTS, AllowedHostsMiddleware, BodyLimitMiddleware
from .paths import without_server_paths
from .pool import Deadline, RequestTimeout, SearchPool
from .hits import QueryExplainer, hit_out
from .snippets import query_words

STATIC = Path(__file__).parent / "static"
OPEN_PATHS = ("/health", "/")  # no key needed: liveness, and the static page (it holds no index data)


@dataclass
class ServiceSettings:
    api_key: str | None = None
    max_body_bytes: int = 64 * 1024
    max_query_chars: int = MAX_QUERY_CHARS  # the one limit (tandem.index.limits); a server may set a lower one
    max_query_tokens: int = 128
    max_batch: int = 64
    max_batch_hits: int = 10_000  # len(queries) x k in one batch request
    threads: int = max(1, os.cpu_count() or 1)
    explain_terms: int = 10
    max_explain_hits: int = 100  # explain covers at most this many hits of a result
    request_timeout_s: float = 10.0  # time budget of one request's work (waiting for a search thread included)
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS  # Host header names accepted (any port); "*" accepts any
    writable: bool = False  # POST /documents and DELETE /documents/{id} (403 when False)
    follow_commits: bool = True  # pick up new index generations without a restart


def create_app(searcher: Searcher | LiveSearcher, settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    # every request pins one commit of the index; new commits are picked up by the next request
    searcher = searcher if isinstance(searcher, LiveSearcher) else LiveSearcher(searcher, follow=settings.follow_commits)
    live = searcher
    pool = SearchPool(settings.threads)
    writer_pool = SearchPool(1)  # changes run one at a time, beside the search threads
    state = {"ready": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        # Warm up every mode once (lazy model loads, JIT, JVM) before reporting ready.
        for mode in searcher.modes:
            await loop.run_in_executor(pool, lambda m=mode: searcher.search("warm up query", k=1, mode=m))
        state["ready"] = True
        yield
        pool.shutdown(wait=False, cancel_futures=True)  # never wait for a stuck search thread (they are daemons)

    # /docs (Swagger UI) loads its scripts and styles from this server, never from a CDN. No /redoc: ReDoc
    # still fetches its logo from its vendor's CDN, and Swagger UI documents the same API.
    app = FastAPIOffline(
        title="Tandem",
        version=TANDEM_VERSION,
        description="Hybrid sparse + dense retrieval: learned sparse, dense (FAISS), BM25, fused.",
        lifespan=lifespan,
        static_url="/docs-assets",
        redoc_url=None,
    )
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)

    @app.middleware("http")
    async def require_api_key(request: Request, call_next):
        if settings.api_key and request.url.path not in OPEN_PATHS:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), settings.api_key.encode()):
                return error(401, "Authorization", "missing or wrong API key (send 'Authorization: Bearer <key>')", headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    app.add_middleware(AllowedHostsMiddleware, allowed_hosts=settings.allowed_hosts)  # outermost: checked first

    @app.exception_handler(TandemError)
    async def tandem_error(_: Request, exc: TandemError):
        if isinstance(exc, IndexFormatError):  # the index on disk is damaged: the server's fault, not the request's
            return error(503, None, f"the index cannot be read ({exc.where}: {exc.message}); run `tandem index info --verify`")
        if isinstance(exc, BackendUnavailable):  # e.g. the Milvus server is down: retry later, the request was fine
            return error(503, None, f"{exc.where}: {exc.message}" if exc.where else exc.message)
        return error(422 if exc.where else 400, exc.where, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":  # loc is (body, character offset): name the body
            return error(422, "body", f"invalid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}")
        loc = [str(p) for p in first.get("loc", ())]
        if loc and loc[0] in ("body", "path", "query", "header"):
            loc = loc[1:]  # where FastAPI found it, not the field's name
        return error(422, ".".join(loc) or "body", first.get("msg", "invalid request"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        return error(exc.status_code, None, str(exc.detail), headers=exc.headers)  # keeps 405's Allow

    @app.exception_handler(RequestTimeout)
    async def request_timeout(_: Request, exc: RequestTimeout):
        return error(504, None, f"the request {exc} (the server's --request-timeout); try a smaller k or fewer fields")

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception):
        # A bug, not bad input: a JSON 500 without the traceback (uvicorn logs it).
        return error(500, None, f"internal error ({type(exc).__name__})")

    async def run(fn, *args, deadline: Deadline | None = None):
        """Run blocking work on a search thread within the request's time budget (RequestTimeout when spent).

        Work still running at the deadline keeps its thread until it next calls ``deadline.check()``."""
        deadline = deadline or Deadline(settings.request_timeout_s)

        def pinned():
            with live.pinned():
                return fn(*args)

        try:
            return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(pool, pinned), deadline.remaining())
        except asyncio.TimeoutError:
            raise RequestTimeout(deadline.budget_s) from None

    # The tokenizer that bounds query length: the first learned retriever's (BM25 only: none).
    tokenizer = live.current.query_tokenizer()

    def check_query(query: str, field: str) -> None:
        """Every limit on one query (the one check of tandem.retrieval.limits), reported under the request's own field name."""
        check_query_text(query, field, tokenizer, settings.max_query_chars, settings.max_query_tokens)

    def fusion_for(override: schemas.FusionOverride | None) -> FusionConfig | None:
        """The index's fusion with the request's overrides, validated as the CLI's (one implementation)."""
        if override is None:
            return None
        values = {key: value for key, value in override.model_dump().items() if value is not None}
        return override_fusion(searcher.default_fusion, values, searcher.retrievers, lambda field: f"fusion.{field}")

    def render(result, fields: list[str], explain: bool, k: int, deadline: Deadline) -> schemas.SearchResponse:
        docs = searcher.docs.get_many([h.doc_id for h in result.hits]) if fields or explain else {}
        words = query_words(result.query)
        explainer = searcher.explainer(result.mode) if explain else None  # None: the mode has no term-level explanation
        terms = QueryExplainer(explainer, result.query) if explainer is not None else None
        hits = []
        for hit in result.hits:
            deadline.check()  # each hit's work is bounded; stop between hits once the budget is spent
            out = hit_out(hit, docs.get(hit.doc_id), fields, words)
            if terms is not None and hit.rank <= settings.max_explain_hits:
                out.explain = terms.terms(hit.doc_id, settings.explain_terms)
            hits.append(out)
        return schemas.SearchResponse(query=result.query, mode=result.mode, k=k, hits=hits, timings_ms=result.timings_ms)

    @app.post("/search", response_model=schemas.SearchResponse, responses=errors(400, 401, 413, 422, 503, 504))
    async def search(body: schemas.SearchRequest) -> schemas.SearchResponse:
        """Search with one query; hits carry each retriever's rank, score and contribution."""
        deadline = Deadline(settings.request_timeout_s)

        def work():
            deadline.check()  # it may have waited for a thread past its budget
            check_query(body.query, "query")
            t0 = time.perf_counter()
            result = searcher.search(body.query, k=body.k, mode=body.mode, fusion=fusion_for(body.fusion))
            response = render(result, body.fields, body.explain, body.k, deadline)
            response.timings_ms["render"] = round((time.perf_counter() - t0) * 1000 - result.timings_ms.get("total", 0), 3)
            return response

        return await run(work, deadline=deadline)

    @app.post("/search/batch", response_model=schemas.BatchSearchResponse, responses=errors(400, 401, 413, 422, 503, 504))
    async def search_batch(body: schemas.BatchSearchRequest) -> schemas.BatchSearchResponse:
        """Search many queries at once (batched query encoding)."""
        if len(body.queries) > settings.max_batch:
            raise TandemError(f"at most {settings.max_batch} queries per batch", "queries")
        if len(body.queries) * body.k > settings.max_batch_hits:
            raise TandemError(f"len(queries) x k = {len(body.queries) * body.k} is more than {settings.max_batch_hits} hits per batch", "k")

        deadline = Deadline(settings.request_timeout_s)

        def work():
            deadline.check()
            for i, query in enumerate(body.queries):
                check_query(query, f"queries.{i}")
            t0 = time.perf_counter()
            results = searcher.batch_search(body.queries, k=body.k, mode=body.mode, fusion=fusion_for(body.fusion))
            rendered = [render(r, body.fields, False, body.k, deadline) for r in results]
            return schemas.BatchSearchResponse(results=rendered, timings_ms={"total": round((time.perf_counter() - t0) * 1000, 3)})

        return await run(work, deadline=deadline)

    @app.get("/documents/{doc_id:path}", response_model=schemas.DocumentOut, responses=errors(401, 404, 422, 503, 504))
    async def document(doc_id: str = PathParam(..., min_length=1, max_length=MAX_DOC_ID_CHARS)) -> schemas.DocumentOut:
        """A document by id (a lookup key in the document store, never a file path); ids may contain '/'."""
        doc = await run(searcher.docs.get, doc_id)
        if doc is None:
            raise StarletteHTTPException(404, f"no document with id {doc_id!r}")
        return schemas.DocumentOut(doc_id=doc.doc_id, title=doc.title, text=doc.text)

    @app.get("/index", response_model=schemas.IndexOut, responses=errors(401))
    async def index_info() -> schemas.IndexOut:
        """What the index holds: size, retrievers, modes, encoders, and its manifest (paths shown relative to the index)."""
        def describe() -> schemas.IndexOut:
            manifest = searcher.manifest
            segment_bytes = {c.name: sum(s.bytes for s in manifest.segments) if c.shared_dir is None else 0 for c in manifest.components}
            return schemas.IndexOut(
                num_docs=manifest.num_docs, generation=manifest.generation, num_segments=len(manifest.segments), writable=settings.writable,
                modes=searcher.modes, retrievers=searcher.retrievers, default_mode=searcher.default_mode,
                default_fusion=searcher.default_fusion.model_dump(),
                sizes_bytes={c.name: c.bytes + segment_bytes[c.name] for c in manifest.components},
                encoders=without_server_paths({c.name: c.settings.get("encoder") for c in manifest.components if c.settings.get("encoder")}, searcher.root),
                manifest=without_server_paths(json.loads(manifest.model_dump_json()), searcher.root),
            )

        return await run(describe)

    def require_writable() -> None:
        if not settings.writable:
            raise StarletteHTTPException(403, "this server is read-only: start it with --writable to add or delete documents")

    def change_out(report) -> schemas.ChangeOut:
        live.refresh(force=True)  # serve the new commit from the next request on
        data = report.summary()
        return schemas.ChangeOut(**{name: data[name] for name in schemas.ChangeOut.model_fields})

    writers: list = []

    def index_writer():
        """The server's one writer (its merge thread merges in the background while adds and deletes go on)."""
        if not writers:
            from tandem.retrieval.writer import IndexWriter

            writers.append(IndexWriter(live.root, wait=60, show_progress=False, log=lambda line: print(f"tandem serve: {line}", file=sys.stderr)))
        return writers[0]

    async def run_change(fn):
        """Run a change on the single writer thread (searches go on meanwhile); no time budget: changes finish."""
        return await asyncio.get_running_loop().run_in_executor(writer_pool, fn)

    @app.post("/documents", response_model=schemas.ChangeOut, responses=errors(400, 401, 403, 413, 422, 503))
    async def add_documents(body: schemas.AddDocumentsRequest) -> schemas.ChangeOut:
        """Add documents (BEIR style: _id, title, text) as one new commit; an id already in the index is replaced."""
        require_writable()
        from tandem.index.corpus import Document

        docs = [Document(d.id, d.title, d.text) for d in body.documents]
        seen: set[str] = set()
        for i, doc in enumerate(docs):
            if doc.doc_id in seen:
                raise TandemError(f"duplicate id {doc.doc_id!r} in this request", f"documents.{i}._id")
            seen.add(doc.doc_id)
        return change_out(await run_change(lambda: index_writer().add(docs, merge="background")))  # adds never wait for a merge

    @app.delete("/documents/{doc_id:path}", response_model=schemas.ChangeOut, responses=errors(401, 403, 404, 422, 503))
    async def delete_document(doc_id: str = PathParam(..., min_length=1, max_length=MAX_DOC_ID_CHARS)) -> schemas.ChangeOut:
        """Delete one document by id (a new commit); 404 when the index has no such document."""
        require_writable()
        report = await run_change(lambda: index_writer().delete([doc_id]))
        if report.unknown_ids:
            raise StarletteHTTPException(404, f"no document with id {doc_id!r}")
        return change_out(report)

    @app.get("/health", response_model=schemas.StatusOut)
    async def health() -> schemas.StatusOut:
        """Liveness: the process answers."""
        return schemas.StatusOut(status="ok")

    @app.get("/ready", response_model=schemas.StatusOut, responses=errors(401, 503))
    async def ready():
        """Readiness: the index and models are loaded and warmed up, and a search thread is free."""
        if not state["ready"]:
            return error(503, None, "loading")
        if pool.saturated:
            return error(503, None, f"saturated: all {pool.threads} search threads are busy")
        return schemas.StatusOut(status="ready")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    default_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = restrict_names(default_openapi(), live.modes, live.retrievers)
        return app.openapi_schema

    app.openapi = openapi
    return app
