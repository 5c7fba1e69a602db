"""`tandem search`: one query as a table (or JSON), or a query file to a TREC run file.

Everything that can be checked before loading models is checked first (flags, the queries file,
the run file's place), so bad input fails in a second with one line and leaves no file behind.
pyserini's flag names are accepted where they mean the same (``--topics``, ``--output``,
``--hits``, ``--batch-size``, ``--threads``, BM25's ``--k1`` and ``--b``). ``--json`` prints the
REST API's response model (:mod:`tandem.service.hits` builds the hits of both).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import parse_weights, positive_int

FUSION_FLAGS = {"method": "--fusion", "normalization": "--norm", "weights": "--weights", "rrf_k": "--rrf-k", "depth": "--depth"}


def register(sub) -> None:
    parser = sub.add_parser("search", help="search an index with one query, or a query file into a TREC run file",
                            description="Search an index: one QUERY prints a table (or --json); --queries FILE writes a TREC run file.")
    parser.add_argument("--index", required=True, type=Path, metavar="DIR", help="index folder (made by 'tandem index build')")
    parser.add_argument("query", nargs="?", help="query text (or use --queries)")
    parser.add_argument("-k", "--hits", dest="k", type=positive_int, default=10, metavar="N", help="hits per query")
    parser.add_argument("--mode", default=None,
                        help="sparse | dense | bm25 | impact | hybrid, among those the index has (default: hybrid when the index has several retrievers)")
    parser.add_argument("--fusion", default=None, choices=["rrf", "wsum"],
                        help="fusion method for hybrid mode (default: the index's fusion.json, else rrf)")
    parser.add_argument("--norm", default=None, choices=["minmax", "zscore", "none"],
                        help="score normalisation for wsum fusion (default: the index's fusion.json, else minmax)")
    parser.add_argument("--weights", default=None,
                        help="retriever weights for hybrid mode, e.g. sparse=0.4,dense=0.6 (finite, >= 0); "
                             "retrievers not named keep the index's weight (default 1); with rrf they weight each list's 1/(k+rank)")
    parser.add_argument("--rrf-k", type=float, default=None, metavar="K", help="the k of rrf fusion, > 0 (default: the index's fusion.json, else 60)")
    parser.add_argument("--depth", type=positive_int, default=None, metavar="N",
                        help="candidates per retriever before fusion (default: the index's fusion.json, else 100)")
    parser.add_argument("--k1", type=bm25_float("k1", 0.0, 100.0), default=None, metavar="K1",
                        help="BM25 k1 for this search, 0-100 (default: the index's, 0.9); the mode must use a BM25 retriever")
    parser.add_argument("--b", type=bm25_float("b", 0.0, 1.0), default=None, metavar="B",
                        help="BM25 b for this search, 0-1 (default: the index's, 0.4); the mode must use a BM25 retriever")
    parser.add_argument("--param", action="append", default=[], metavar="RETRIEVER.KEY=VALUE",
                        help="a search-time parameter of one retriever, repeatable, e.g. dense.ef_search=512 (HNSW), "
                             "dense.nprobe=32 (IVF-PQ), bm25.k1=1.2; a wrong name lists what the retriever takes")
    parser.add_argument("--json", action="store_true", help="print the result as JSON, with the field names of the REST API's /search response")
    parser.add_argument("--explain", action="store_true", help="show the sparse terms behind each hit (sparse, impact and hybrid modes)")
    parser.add_argument("--queries", "--topics", dest="queries", type=Path, default=None, metavar="FILE",
                        help="queries.jsonl (_id, text) or qid<TAB>text file to search in batches; needs --run")
    parser.add_argument("--run", "--output", dest="run", type=Path, default=None, metavar="FILE", help="TREC run file to write with --queries")
    parser.add_argument("--run-tag", default="tandem", metavar="TAG", help="tag in the last column of the run file")
    parser.add_argument("--batch-size", type=positive_int, default=64, metavar="N", help="queries searched together with --queries")
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N", help="CPU threads for query encoding and for searching a --queries batch (default: torch's choice to encode, every core to search)")
    parser.set_defaults(handler=run_search)


def bm25_float(name: str, low: float, high: float):
    """argparse type: a number in [low, high] (a BM25 parameter)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value <= high:  # also refuses nan
            raise argparse.ArgumentTypeError(f"BM25 {name} must be between {low:g} and {high:g}, got {text}")
        return value

    return parse


def fusion_overrides(args) -> dict:
    """The fusion fields set on the command line (flag values parsed, not yet validated)."""
    values = {"method": args.fusion, "normalization": args.norm, "rrf_k": args.rrf_k, "depth": args.depth,
              "weights": parse_weights(args.weights) if args.weights else None}
    return {field: value for field, value in values.items() if value is not None}


def fusion_from_args(args, searcher):
    """The index's default fusion with the command-line overrides applied, checked as the REST API checks them."""
    from tandem.retrieval.fusion import override_fusion

    def flag(field: str) -> str:
        return FUSION_FLAGS.get(field.split(".")[0], "--" + field.replace("_", "-"))

    return override_fusion(searcher.default_fusion, fusion_overrides(args), searcher.retrievers, flag)


def describe_fusion(fusion, retrievers: list[str], overrides: dict) -> str:
    """One line saying what fusion is applied, with every retriever's weight and what is ignored."""
    names = [n for n in (fusion.retrievers or retrievers) if n in retrievers]
    weights = ", ".join(f"{n}={fusion.weights.get(n, 1.0):g}" for n in names)
    weighted = any(fusion.weights.get(n, 1.0) != 1.0 for n in names)
    if fusion.method == "rrf":
        how = f"{'weighted ' if weighted else ''}rrf (k={fusion.rrf_k:g})"
        ignored = ["--norm"] if "normalization" in overrides else []
    else:
        how = f"wsum of {fusion.normalization}-normalised scores"
        ignored = ["--rrf-k"] if "rrf_k" in overrides else []
    line = f"fusion: {how}, weights {weights}, depth {fusion.depth} per retriever"
    if ignored:
        line += f" ({', '.join(ignored)} ignored: not used by {fusion.method})"
    return line


def run_search(args) -> int:
    from tandem.index.errors import TandemError

    if (args.query is None) == (args.queries is None):
        raise TandemError("give either a query text or --queries FILE", "search")
    if args.queries is not None and args.run is None:
        raise TandemError("--queries needs --run OUT.trec", "--run")
    if args.query is not None and args.run is not None:
        raise TandemError("--run writes the results of --queries; with one query text, drop --run (or use --json)", "--run")
    overrides = fusion_overrides(args)  # flag syntax errors before any loading
    if args.threads is not None:
        import torch

        from tandem.index.threads import set_search_threads

        torch.set_num_threads(args.threads)
        set_search_threads(args.threads)
    if args.queries is not None:
        return _run_file(args, overrides)
    searcher, fusion = _open(args, overrides)
    result = searcher.search(args.query, k=args.k, mode=args.mode, fusion=fusion)
    explainer = searcher.explainer(result.mode) if args.explain else None  # None: no term-level explanation
    docs = searcher.docs.get_many([h.doc_id for h in result.hits])
    if args.json:
        print(search_response(result, docs, args.k, explainer).model_dump_json(indent=2))
        return 0
    _print_hits(result, docs, explainer)
    return 0


JSON_FIELDS = ["title", "snippet"]  # the document fields of a hit, as the REST API returns by default
EXPLAIN_TERMS = 10  # terms per hit with --json --explain, as the REST API


def search_response(result, docs: dict, k: int, explainer=None):
    """The result as the REST API's :class:`tandem.service.schemas.SearchResponse` (same model, same field names)."""
    from tandem.service.hits import QueryExplainer, hit_out
    from tandem.service.schemas import SearchResponse
    from tandem.service.snippets import query_words

    words = query_words(result.query)
    terms = QueryExplainer(explainer, result.query) if explainer is not None else None
    hits = []
    for hit in result.hits:
        out = hit_out(hit, docs.get(hit.doc_id), JSON_FIELDS, words)
        if terms is not None:
            out.explain = terms.terms(hit.doc_id, EXPLAIN_TERMS)
        hits.append(out)
    return SearchResponse(query=result.query, mode=result.mode, k=k, hits=hits, timings_ms=result.timings_ms)


def _open(args, overrides: dict):
    """Open the index, check --mode and the fusion overrides; say on stderr what fusion they lead to."""
    from tandem.index.errors import TandemError
    from tandem.retrieval.searcher import Searcher

    searcher = Searcher.open(args.index)
    if args.mode is not None and args.mode not in searcher.modes:
        raise TandemError(f"mode {args.mode!r} is not available for this index (choose {', '.join(searcher.modes)})", "--mode")
    fusion = fusion_from_args(args, searcher)
    mode = args.mode or searcher.default_mode
    if args.k1 is not None or args.b is not None:
        configure_bm25(searcher, mode, fusion, args.k1, args.b)
    if args.param:
        from tandem.retrieval.search_params import apply_parameters, parse_assignments

        apply_parameters(searcher, parse_assignments(args.param))
    if overrides:
        flags = ", ".join(FUSION_FLAGS[f] for f in overrides)
        if mode == "hybrid":
            print(describe_fusion(fusion, searcher.retrievers, overrides), file=sys.stderr)
        else:
            print(f"note: {flags} not used: mode {mode!r} searches one retriever, fusion applies to hybrid mode", file=sys.stderr)
    if args.explain and searcher.explainer(mode) is None:
        print(f"(no term-level explanation for mode {mode!r}: --explain shows learned sparse terms)", file=sys.stderr)
    searcher.prepare_search(searcher.searched_by(mode, fusion))  # after the checks above; a line instead of a silent pause when kernels compile
    return searcher, fusion


def configure_bm25(searcher, mode: str, fusion, k1: float | None, b: float | None) -> None:
    """Set k1/b on every retriever of ``mode`` that scores with BM25 (refused when there is none)."""
    from tandem.index.errors import TandemError
    from tandem.retrieval.search_params import search_parameters

    names = searcher.searched_by(mode, fusion)
    configurable = [searcher.retriever(n) for n in names if "k1" in search_parameters(searcher.retriever(n))]
    if not configurable:
        raise TandemError(f"BM25 parameter given, but mode {mode!r} uses no BM25 retriever (it searches: {', '.join(names)})",
                          "--k1" if k1 is not None else "--b")
    for retriever in configurable:
        retriever.configure(k1=k1, b=b)


def _print_hits(result, docs, explainer) -> None:
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
    if explainer is not None:
        from tandem.service.hits import QueryExplainer

        terms = QueryExplainer(explainer, result.query)
        print(f"matched {explainer.name} terms (term=contribution):")
        for hit in result.hits:
            shown = ", ".join(f"{t.token}{'*' if t.expansion else ''}={t.contribution:.2f}" for t in terms.terms(hit.doc_id, 8))
            print(f"  {hit.rank:>3} {hit.doc_id}: {shown or '(no shared sparse terms)'}")
        print("  (* = expansion term not literally in the document)")


def _run_file(args, overrides: dict) -> int:
    """Search every query of ``--queries`` in batches, streaming hits into the run file."""
    from contextlib import closing

    from tandem.eval.harness import iter_search
    from tandem.eval.runs import RunWriter
    from tandem.index.errors import InputError
    from tandem.retrieval.datasets import read_queries

    queries = read_queries(args.queries)  # every line checked (file:line) before models load
    if not queries:
        raise InputError("no queries in the file", str(args.queries))
    with RunWriter(args.run, args.run_tag) as writer:  # the temp file goes away on any error
        searcher, fusion = _open(args, overrides)
        with closing(iter_search(searcher, queries, args.k, args.mode, fusion, args.batch_size, source=str(args.queries))) as results:
            for query, result in results:  # closing(): an error here also clears the progress bar at once
                writer.add(query.query_id, {hit.doc_id: hit.score for hit in result.hits})
    print(f"wrote {args.run} ({len(queries)} queries, k={args.k})")
    return 0
