"""`tandem eval` (dataset x condition matrix) and `tandem tune-fusion`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import add_data_dir, optional_model


def _add_build_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("index building (with --build)")
    group.add_argument("--build", action="store_true", help="build missing indexes first")
    group.add_argument("--sparse", default="splade-tiny", type=optional_model, help="sparse model for --build: a short name (splade-tiny), a model folder, or none")
    group.add_argument("--sparse-mode", default="inference-free", choices=["inference-free", "siamese"], help="inference-free: queries are tokenizer + IDF (no model call); siamese: queries go through the encoder")
    group.add_argument("--dense", default="minilm-l6", type=optional_model, help="dense model for --build: a short name (minilm-l6), a model folder, or none")
    group.add_argument("--bm25", action="store_true", help="include a Lucene BM25 index")
    group.add_argument("--max-length", type=int, default=256, help="tokens per document when encoding for --build")


def register(sub) -> None:
    ev = sub.add_parser("eval", help="evaluate conditions on datasets (run files, metrics, report)", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ev.add_argument("--dataset", "--datasets", dest="datasets", required=True, help="one name or a comma-separated list (scifact,nfcorpus)")
    ev.add_argument("--split", default="test", help="query split to evaluate (qrels/<split>.tsv)")
    ev.add_argument("--index", type=Path, default=None, help="index dir (one dataset)")
    ev.add_argument("--index-root", type=Path, default=Path("indexes"), help="indexes at <root>/<dataset> (several datasets)")
    ev.add_argument("--modes", default=None, help="conditions: sparse,dense,bm25,hybrid,hybrid-rrf:sparse+dense,hybrid-tuned,... (default: every retriever + hybrid)")
    ev.add_argument("-k", type=int, default=1000, help="run depth")
    ev.add_argument("--metrics", default="nDCG@10,R@100,R@1000,MRR@10,MAP@1000", help="comma-separated metrics: nDCG@k, R@k, MRR@k, MAP@k, P@k")
    ev.add_argument("--self-hits", default="auto", choices=["auto", "remove", "keep"],
                    help="drop hits whose doc id equals the query id: auto = only for BEIR datasets, where query and doc ids share one namespace (pyserini --remove-query); classic and MS MARCO ids are independent")
    ev.add_argument("--tuned-fusion-from", type=Path, default=None, metavar="INDEX",
                    help="hybrid-tuned uses the fusion tuned for this other index (for collections without a train/dev split: transfer, never tuning on test)")
    ev.add_argument("--latency-sample", type=int, default=50, help="queries timed one by one per condition")
    ev.add_argument("--out", type=Path, default=Path("runs"), help="folder for run files, metrics.json, results.md, report.html")
    add_data_dir(ev)
    _add_build_options(ev)
    ev.set_defaults(handler=run_eval)

    tune = sub.add_parser("tune-fusion", help="grid-search fusion on a train/dev split; saves the choice next to the index", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    tune.add_argument("--dataset", required=True, help="dataset name (or folder) whose split is used for tuning")
    tune.add_argument("--split", required=True, help="train or dev (test is refused)")
    tune.add_argument("--index", type=Path, default=None, help="index of that dataset (default: <index-root>/<dataset>)")
    tune.add_argument("--index-root", type=Path, default=Path("indexes"), help="folder holding indexes as <root>/<dataset> when --index is not given")
    tune.add_argument("--retrievers", default=None, help="e.g. sparse,dense (default: all the index has)")
    tune.add_argument("--metric", default="nDCG@10", help="metric the grid maximises")
    tune.add_argument("--depth", type=int, default=1000, help="candidates per retriever; use the depth `tandem eval` runs at (its -k), so normalisation sees the same lists")
    tune.add_argument("--weight-step", type=float, default=0.1, help="step of the wsum weight grid (weights from 0 to 1)")
    tune.add_argument("--max-queries", type=int, default=None, help="use a fixed subset of the split's queries")
    add_data_dir(tune)
    tune.set_defaults(handler=run_tune)
    register_repro(sub)


def _index_for(args, dataset: str) -> Path:
    return args.index if args.index is not None else args.index_root / dataset.replace("/", "-")


def _ensure_index(args, dataset: str, index_dir: Path, corpus_path) -> None:
    from index.errors import TandemError
    from retrieval.build import BuildConfig, build_index

    if (index_dir / "manifest.json").is_file():
        return
    if not args.build:
        raise TandemError("no index here: build it, or pass --build", str(index_dir))
    if corpus_path is None:
        raise TandemError(f"dataset {dataset!r} has no corpus on disk to index", "--dataset")
    config = BuildConfig(corpus=dataset, sparse=args.sparse, sparse_mode=args.sparse_mode, dense=args.dense, bm25=args.bm25, max_length=args.max_length)
    build_index(config, index_dir, corpus_path)


def run_eval(args) -> int:
    from eval.conditions import parse_conditions, Condition
    from eval.harness import evaluate_conditions, save_results
    from eval.report import matrix_rows, write_reports
    from index.errors import TandemError
    from retrieval.datasets import load_split
    from retrieval.searcher import Searcher

    from ..tables import format_table

    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if args.index is not None and len(datasets) > 1:
        raise TandemError("--index names one index; use --index-root for several datasets", "--index")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    results = []
    for dataset in datasets:
        eval_set = load_split(dataset, args.split, args.data_dir)
        for line in eval_set.report.lines():
            print(f"{eval_set.name}: {line}")
        index_dir = _index_for(args, eval_set.name)
        _ensure_index(args, dataset, index_dir, eval_set.corpus_path)
        searcher = Searcher.open(index_dir)
        conditions = parse_conditions(args.modes) if args.modes else [Condition(m, m) for m in searcher.retrievers] + ([Condition("hybrid", "hybrid")] if len(searcher.retrievers) > 1 else [])
        results += evaluate_conditions(
            searcher, index_dir, eval_set, eval_set.name, args.split, conditions, args.out, k=args.k, metrics=metrics,
            remove_self_hits=args.self_hits == "remove" or (args.self_hits == "auto" and eval_set.shares_id_space), latency_sample=args.latency_sample,
            tuned_dir=args.tuned_fusion_from,
        )
    title = f"Tandem evaluation: {', '.join(dict.fromkeys(r.dataset for r in results))} ({args.split})"
    save_results(results, args.out, {"title": title, "split": args.split, "self_hits": args.self_hits, "k": args.k,
                                        "tuned_fusion_from": str(args.tuned_fusion_from) if args.tuned_fusion_from else None})
    paths = write_reports(results, args.out, metrics, title)
    for metric in metrics[:2]:
        headers, rows = matrix_rows(results, metric)
        print(f"\n{metric}")
        print(format_table(headers, rows))
    print("\n" + format_table(
        ["dataset", "condition", "p50 ms", "batch q/s"],
        [[r.dataset, r.condition, round(r.latency_p50_ms, 2), round(r.throughput_qps, 1)] for r in results],
        align="llrr",
    ))
    print(f"\nwrote {args.out}/metrics.json, {paths['markdown']}, {paths['html']} and run files")
    return 0


def run_tune(args) -> int:
    from eval.conditions import save_tuned_fusion
    from eval.tune import tune_fusion
    from retrieval.datasets import load_split
    from retrieval.searcher import FUSION_FILENAME, Searcher

    from ..tables import format_table

    eval_set = load_split(args.dataset, args.split, args.data_dir)
    if args.max_queries is not None:
        eval_set.queries = eval_set.queries[: args.max_queries]
    index_dir = _index_for(args, args.dataset)
    searcher = Searcher.open(index_dir)
    retrievers = [r.strip() for r in args.retrievers.split(",")] if args.retrievers else list(searcher.retrievers)
    best, table = tune_fusion(searcher, eval_set, args.split, retrievers, args.metric, args.depth, weight_step=args.weight_step)
    details = {"dataset": args.dataset, "split": args.split, "metric": args.metric, "num_queries": len(eval_set.queries), "grid": table}
    path = save_tuned_fusion(index_dir, retrievers, best, details)
    if not args.retrievers or set(retrievers) == set(searcher.retrievers):
        (index_dir / FUSION_FILENAME).write_text(best.model_dump_json(indent=2) + "\n", encoding="utf-8")
        print(f"default fusion of {index_dir} is now the tuned one ({FUSION_FILENAME})")
    top = sorted(table, key=lambda row: -row[args.metric])[:8]
    rows = [[row["config"]["method"], row["config"]["normalization"] if row["config"]["method"] == "wsum" else f"k={row['config']['rrf_k']:g}",
             json.dumps(row["config"]["weights"]) if row["config"]["weights"] else "equal", row[args.metric]] for row in top]
    print(format_table(["method", "norm / k", "weights", args.metric], rows, align="lllr"))
    print(f"best on {args.dataset}/{args.split} ({len(eval_set.queries)} queries): {best.model_dump_json()}\nsaved {path}")
    return 0


def register_repro(sub) -> None:
    repro = sub.add_parser("repro", help="run the reproduction matrix (repro/matrix.yaml) and check every cell", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    repro.add_argument("--matrix", type=Path, default=None, help="matrix YAML (default: the one shipped in repro/)")
    repro.add_argument("--quick", action="store_true", help="only the cells marked quick (seconds, no model)")
    repro.add_argument("--conditions", default=None, help="comma-separated subset of conditions")
    repro.add_argument("--datasets", default=None, help="comma-separated subset of datasets")
    repro.add_argument("--index-root", type=Path, default=Path("indexes/repro"), help="folder for the indexes the matrix builds (reused when present)")
    repro.add_argument("--out", type=Path, default=Path("runs/repro"), help="folder for run files, metrics and the check report")
    add_data_dir(repro)
    repro.set_defaults(handler=run_repro)


def run_repro(args) -> int:
    from eval.repro import DEFAULT_MATRIX, load_matrix, run_matrix

    from ..tables import format_table

    matrix = load_matrix(args.matrix or DEFAULT_MATRIX)
    split = lambda text: [s.strip() for s in text.split(",")] if text else None  # noqa: E731
    cells = run_matrix(matrix, args.index_root, args.out, args.data_dir, args.quick, split(args.conditions), split(args.datasets))
    rows = [[c.condition, c.dataset, c.metric, f"{c.expected:.4f}", f"{c.measured:.4f}", "✓" if c.ok else "✗", c.source] for c in cells]
    print(format_table(["condition", "dataset", "metric", "expected", "measured", "", "source"], rows, align="lllrrll"))
    failed = [c for c in cells if not c.ok]
    print(f"\n{len(cells) - len(failed)}/{len(cells)} cells reproduce")
    return 1 if failed else 0
