"""`tandem serve`: the REST service and search page over one index."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(sub) -> None:
    parser = sub.add_parser("serve", help="serve an index over HTTP (REST API + search page)", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--index", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (each loads the index and models)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="search threads per worker")
    parser.add_argument("--api-key-env", default=None, help="name of an environment variable holding the API key; then every request but /health needs 'Authorization: Bearer <key>'")
    parser.add_argument("--max-body-bytes", type=int, default=64 * 1024)
    parser.add_argument("--max-query-chars", type=int, default=1000, help="at most 1000")
    parser.add_argument("--max-query-tokens", type=int, default=128)
    parser.add_argument("--max-batch", type=int, default=64, help="queries per /search/batch request (at most 64)")
    parser.set_defaults(handler=run_serve)


def settings_from_env():
    """Worker processes rebuild their settings from the environment set by the parent."""
    from service.app import ServiceSettings

    key_env = os.environ.get("TANDEM_API_KEY_ENV")
    return ServiceSettings(
        api_key=os.environ.get(key_env) if key_env else None,
        max_body_bytes=int(os.environ["TANDEM_MAX_BODY_BYTES"]),
        max_query_chars=int(os.environ["TANDEM_MAX_QUERY_CHARS"]),
        max_query_tokens=int(os.environ["TANDEM_MAX_QUERY_TOKENS"]),
        max_batch=int(os.environ["TANDEM_MAX_BATCH"]),
        threads=int(os.environ["TANDEM_THREADS"]),
    )


def app_factory():
    """Uvicorn factory: load the index named in TANDEM_INDEX (once per worker) and build the app."""
    import torch

    from retrieval.searcher import Searcher
    from service.app import create_app

    # Requests run in parallel in a pool of search threads (and maybe several worker processes): give
    # each the cores left per request, usually 1, so concurrent requests do not oversubscribe the CPU.
    cores = os.cpu_count() or 1
    torch.set_num_threads(max(1, cores // (int(os.environ["TANDEM_THREADS"]) * int(os.environ.get("TANDEM_WORKERS", "1")))))
    searcher = Searcher.open(os.environ["TANDEM_INDEX"])
    return create_app(searcher, settings_from_env())


def run_serve(args) -> int:
    import uvicorn

    from index.errors import TandemError
    from index.manifest import read_manifest

    read_manifest(args.index)  # fail fast, with a clear error, before starting workers
    if args.api_key_env:
        if not os.environ.get(args.api_key_env):
            raise TandemError(f"environment variable {args.api_key_env} is empty or unset", "--api-key-env")
        os.environ["TANDEM_API_KEY_ENV"] = args.api_key_env
    elif args.host not in LOOPBACK:
        print(f"tandem: warning: serving on {args.host} without an API key; anyone who can reach this address can query the index (use --api-key-env)", file=sys.stderr)
    for name, value, low, high in (("--port", args.port, 0, 65535), ("--workers", args.workers, 1, 64), ("--threads", args.threads, 1, 256),
                                   ("--max-body-bytes", args.max_body_bytes, 256, 64 * 1024 * 1024), ("--max-query-chars", args.max_query_chars, 1, 1000),
                                   ("--max-query-tokens", args.max_query_tokens, 1, 4096), ("--max-batch", args.max_batch, 1, 64)):
        if not low <= value <= high:
            raise TandemError(f"must be between {low} and {high}", name)
    os.environ.update({
        "TANDEM_INDEX": str(args.index.resolve()),
        "TANDEM_MAX_BODY_BYTES": str(args.max_body_bytes),
        "TANDEM_MAX_QUERY_CHARS": str(args.max_query_chars),
        "TANDEM_MAX_QUERY_TOKENS": str(args.max_query_tokens),
        "TANDEM_MAX_BATCH": str(args.max_batch),
        "TANDEM_THREADS": str(args.threads),
        "TANDEM_WORKERS": str(args.workers),
    })
    uvicorn.run("tandem.commands.serve_cmd:app_factory", factory=True, host=args.host, port=args.port, workers=args.workers, log_level="info")
    return 0
