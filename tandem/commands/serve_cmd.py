"""`tandem serve`: the REST service and search page over one index."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tandem.index.limits import MAX_QUERY_CHARS

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")  # bind addresses meaning every interface
SHUTDOWN_GRACE_S = 3  # on SIGTERM, requests still running after this long are cancelled


def register(sub) -> None:
    parser = sub.add_parser("serve", help="serve an index over HTTP (REST API + search page)", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--index", required=True, type=Path, help="index folder to serve")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (0 picks a free one)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (each loads the index and models)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="search threads per worker")
    parser.add_argument("--writable", action="store_true",
                        help="accept POST /documents and DELETE /documents/{id} (behind the API key when one is set); without it the server is read-only and answers 403")
    parser.add_argument("--api-key-env", default=None, help="name of an environment variable holding the API key; then every request but /health needs 'Authorization: Bearer <key>'")
    parser.add_argument("--max-body-bytes", type=int, default=64 * 1024, help="largest request body accepted; larger requests get 413")
    parser.add_argument("--max-query-chars", type=int, default=MAX_QUERY_CHARS, help=f"longest query accepted, in characters (at most {MAX_QUERY_CHARS}, the limit of every search path)")
    parser.add_argument("--max-query-tokens", type=int, default=128, help="longest query accepted, in tokens of the sparse tokenizer")
    parser.add_argument("--max-batch", type=int, default=64, help="queries per /search/batch request (at most 64)")
    parser.add_argument("--request-timeout", type=float, default=10.0,
                        help="time budget of one request in seconds (waiting for a search thread included); past it the answer is 504")
    parser.add_argument("--allowed-hosts", default=None,
                        help="comma-separated Host header names accepted (any port), e.g. 'search.example.org,*.corp.example'; "
                             "'*' accepts any. Default: the loopback names, plus --host when it is a specific address. "
                             "Guards a keyless loopback server against DNS rebinding")
    parser.set_defaults(handler=run_serve)


def settings_from_env():
    """Worker processes rebuild their settings from the environment set by the parent."""
    from tandem.service.app import ServiceSettings

    key_env = os.environ.get("TANDEM_API_KEY_ENV")
    return ServiceSettings(
        api_key=os.environ.get(key_env) if key_env else None,
        max_body_bytes=int(os.environ["TANDEM_MAX_BODY_BYTES"]),
        max_query_chars=int(os.environ["TANDEM_MAX_QUERY_CHARS"]),
        max_query_tokens=int(os.environ["TANDEM_MAX_QUERY_TOKENS"]),
        max_batch=int(os.environ["TANDEM_MAX_BATCH"]),
        threads=int(os.environ["TANDEM_THREADS"]),
        request_timeout_s=float(os.environ["TANDEM_REQUEST_TIMEOUT_S"]),
        allowed_hosts=tuple(os.environ["TANDEM_ALLOWED_HOSTS"].split(",")),
        writable=os.environ.get("TANDEM_WRITABLE") == "1",
    )


def allowed_hosts(args) -> list[str]:
    """The Host names the server accepts: --allowed-hosts, else loopback plus a specific --host."""
    from tandem.index.errors import TandemError
    from tandem.service.middleware import LOOPBACK_HOSTS, host_pattern_problem

    if args.allowed_hosts is None:
        bound = f"[{args.host}]" if ":" in args.host else args.host
        return list(LOOPBACK_HOSTS) + ([bound] if bound not in LOOPBACK_HOSTS and args.host not in WILDCARD_BINDS else [])
    hosts = [h.strip() for h in args.allowed_hosts.split(",") if h.strip()]
    if not hosts:
        raise TandemError("lists no host", "--allowed-hosts")
    for host in hosts:
        if problem := host_pattern_problem(host):
            raise TandemError(problem, "--allowed-hosts")
    return hosts


def app_factory():
    """Uvicorn factory: load the index named in TANDEM_INDEX (once per worker) and build the app."""
    import torch

    from tandem.index.threads import set_search_threads
    from tandem.retrieval.searcher import Searcher
    from tandem.service.app import create_app

    # Requests run in parallel in a pool of search threads (and maybe several worker processes): give
    # each the cores left per request, usually 1, so concurrent requests do not oversubscribe the CPU.
    cores = os.cpu_count() or 1
    per_request = max(1, cores // (int(os.environ["TANDEM_THREADS"]) * int(os.environ.get("TANDEM_WORKERS", "1"))))
    torch.set_num_threads(per_request)
    set_search_threads(per_request)  # every index kind: FAISS (OpenMP), Anserini and Tandem sparse batches
    searcher = Searcher.open(os.environ["TANDEM_INDEX"])
    return create_app(searcher, settings_from_env())


def run_serve(args) -> int:
    import uvicorn

    from tandem.index.errors import TandemError
    from tandem.index.manifest import read_manifest

    read_manifest(args.index)  # fail fast, with a clear error, before starting workers
    if args.api_key_env:
        if not os.environ.get(args.api_key_env):
            raise TandemError(f"environment variable {args.api_key_env} is empty or unset", "--api-key-env")
        os.environ["TANDEM_API_KEY_ENV"] = args.api_key_env
    elif args.host not in LOOPBACK:
        print(f"tandem: warning: serving on {args.host} without an API key; anyone who can reach this address can query the index (use --api-key-env)", file=sys.stderr)
    for name, value, low, high in (("--port", args.port, 0, 65535), ("--workers", args.workers, 1, 64), ("--threads", args.threads, 1, 256),
                                   ("--max-body-bytes", args.max_body_bytes, 256, 64 * 1024 * 1024), ("--max-query-chars", args.max_query_chars, 1, MAX_QUERY_CHARS),
                                   ("--max-query-tokens", args.max_query_tokens, 1, 4096), ("--max-batch", args.max_batch, 1, 64),
                                   ("--request-timeout", args.request_timeout, 0.1, 3600)):
        if not low <= value <= high:  # NaN fails too
            raise TandemError(f"must be between {low} and {high}", name)
    hosts = allowed_hosts(args)
    if args.allowed_hosts is None and args.host in WILDCARD_BINDS:
        print(f"tandem: warning: only requests naming {', '.join(hosts)} in their Host header are answered; "
              "list the names clients use with --allowed-hosts ('*' for any)", file=sys.stderr)
    os.environ.update({
        "TANDEM_INDEX": str(args.index.resolve()),
        "TANDEM_MAX_BODY_BYTES": str(args.max_body_bytes),
        "TANDEM_MAX_QUERY_CHARS": str(args.max_query_chars),
        "TANDEM_MAX_QUERY_TOKENS": str(args.max_query_tokens),
        "TANDEM_MAX_BATCH": str(args.max_batch),
        "TANDEM_THREADS": str(args.threads),
        "TANDEM_WORKERS": str(args.workers),
        "TANDEM_REQUEST_TIMEOUT_S": str(args.request_timeout),
        "TANDEM_ALLOWED_HOSTS": ",".join(hosts),
        "TANDEM_WRITABLE": "1" if args.writable else "0",
    })
    uvicorn.run("tandem.commands.serve_cmd:app_factory", factory=True, host=args.host, port=args.port, workers=args.workers, log_level="info",
                timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    return 0
