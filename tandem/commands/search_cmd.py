"""`tandem search`: one query as a table (or JSON), or a query file to a TREC run file."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from .common import parse_weights


def register(sub) -> None:
    parser = sub.add_parser("search", help="search an index", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--index", required=True, type=Path)
    parser.add_argument("query", nargs="?", help="query text (or use --queries)")
    parser.add_argument("-k", type=int, default=10, help="number of hits")
    parser.add_argument("--mode", default=None, help="sparse | dense | bm25 | hybrid (default: hybrid when the index has several retrievers)")
    parser.add_argument("--fusion", default=None, choices=["rrf", "wsum"], help="fusion method (default: the index's fusion.json, else rrf)")
    parser.add_argument("--norm", default=None, choices=["minmax", "zscore", "none"], help="score normalisation for wsum")
    parser.add_argument("--weights", default=None, help="retriever weights, e.g. sparse=0.4,dense=0.6")
    parser.add_argument("--rrf-k", type=float, default=None)
    parser.add_argument("--depth", type=int, default=None, help="candidates per retriever before fusion")
    parser.add_argument("--json", action="store_true", help="print hits as JSON")
    parser.add_argument("--explain", action="store_true", help="show the sparse terms behind each hit")
    parser.add_argument("--queries", type=Path, default=None, help="queries.jsonl or qid<TAB>text file; writes --run")
    parser.add_argument("--run", type=Path, default=None, help="TREC run file to write with --queries")
    parser.add_argument("--run-tag", default="tandem")
    parser.set_defaults(handler=run_search)


def fusion_from_args(args, base):
    """The index's default fusion with any command-line overrides applied."""
    from pydantic import ValidationError

    from index.errors import TandemError

    update = {}
    if args.fusion:
        update["method"] = args.fusion
    if args.norm:
        update["normalization"] = args.norm
    if args.weights:
        update["weights"] = parse_weights(args.weights)
    if args.rrf_k is not None:
        update["rrf_k"] = args.rrf_k
    if args.depth is not None:
        update["depth"] = args.depth
    try:
        return base.model_validate({**base.model_dump(), **update})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise TandemError(first["msg"], "--" + str(first["loc"][0]).replace("_", "-")) from None


def run_search(args) -> int:
    from index.errors import TandemError
    from retrieval.searcher import Searcher

    if (args.query is None) == (args.queries is None):
        raise TandemError("give either a query text or --queries FILE", "search")
    if args.queries is not None and args.run is None:
        raise TandemError("--queries needs --run OUT.trec", "--run")
    searcher = Searcher.open(args.index)
    fusion = fusion_from_args(args, searcher.default_fusion)
    if args.queries is not None:
        return _run_file(args, searcher, fusion)
    result = searcher.search(args.query, k=args.k, mode=args.mode, fusion=fusion)
    docs = searcher.docs.get_many([h.doc_id for h in result.hits])
    if args.json:
        payload = {"query": result.query, "mode": result.mode, "timings_ms": result.timings_ms, "hits": []}
        for hit in result.hits:
            doc = docs.get(hit.doc_id)
            entry = {**asdict(hit), "title": doc.title if doc else ""}
            if args.explain:
                entry["explain"] = [asdict(t) for t in searcher.explain(args.query, hit.doc_id)]
            payload["hits"].append(entry)
        json.dump(payload, sys.stdout, indent=2)
        print()
        return 0
    _print_hits(searcher, result, docs, args.explain)
    return 0


def _print_hits(searcher, result, docs, explain: bool) -> None:
    from ..tables import format_table

    names = list(result.hits[0].components) if result.hits else []
    rows = []
    for hit in result.hits:
        doc = docs.get(hit.doc_id)
        title = (doc.title or doc.text) if doc else ""
        title = title[:60] + ("…" if len(title) > 60 else "")
        rows.append([hit.rank, hit.doc_id, title, round(hit.score, 4)] + [hit.components[n].rank for n in names])
    print(f"query: {result.query!r}  mode: {result.mode}  ({result.timings_ms.get('total', 0):.1f} ms)")
    print(format_table(["rank", "doc id", "title", "score"] + [f"{n} rank" for n in names], rows, align="rllr" + "r" * len(names)))
    if explain:
        for hit in result.hits:
            terms = searcher.explain(result.query, hit.doc_id, top=8)
            shown = ", ".join(f"{t.token}{'' if t.in_document_text else '*'}={t.contribution:.2f}" for t in terms)
            print(f"  {hit.rank:>3} {hit.doc_id}: {shown or '(no shared sparse terms)'}")
        print("  (* = expansion term not literally in the document)")


def _run_file(args, searcher, fusion) -> int:
    from tqdm.auto import tqdm

    from retrieval.datasets import read_queries

    queries = read_queries(args.queries)
    args.run.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.run.with_name(args.run.name + ".tmp")
    batch = 64
    with tmp.open("w", encoding="utf-8") as out, tqdm(total=len(queries), desc="search", unit="query") as bar:
        for start in range(0, len(queries), batch):
            part = queries[start : start + batch]
            results = searcher.batch_search([q.text for q in part], k=args.k, mode=args.mode, fusion=fusion)
            for query, result in zip(part, results):
                for hit in result.hits:
                    out.write(f"{query.query_id} Q0 {hit.doc_id} {hit.rank} {hit.score:.6f} {args.run_tag}\n")
            bar.update(len(part))
    tmp.replace(args.run)
    print(f"wrote {args.run} ({len(queries)} queries, k={args.k})")
    return 0
