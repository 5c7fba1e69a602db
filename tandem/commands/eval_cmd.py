"""`tandem eval` (dataset x condition matrix) and `tandem tune-fusion`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import add_data_dir, optional_model
from .fuse_cmd import register as register_fuse

MIN_COVERAGE = 0.5  # tandem.eval.coverage.MIN_COVERAGE, repeated here so that `tandem --help` imports nothing heavy
BUILDABLE = {"sparse": "--sparse", "dense": "--dense", "bm25": "--bm25", "impact": "--sparse"}  # retriever -> build option


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
    ev.add_argument("--dataset", "--datasets", dest="datasets", default=None, help="one name or a comma-separated list (scifact,nfcorpus); its qrels score the runs")
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
    ev.add_argument("--run", dest="runs", action="append", default=None, metavar="[NAME=]FILE",
                    help="evaluate a TREC run made elsewhere instead of searching an index (repeat for several; each is compared with the first)")
    ev.add_argument("--qrels", type=Path, default=None, help="with --run: a qrels file (BEIR TSV or TREC) instead of --dataset")
    ev.add_argument("--force", action="store_true",
                    help=f"evaluate even when under {100 * MIN_COVERAGE:.0f}%% of the judged documents are in the index (or of the judged queries in a run)")
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
    register_fuse(sub)


def _index_for(args, dataset: str) -> Path:
    return args.index if args.index is not None else args.index_root / dataset.replace("/", "-")


def _required_retrievers(args, conditions) -> set[str]:
    """The retrievers the requested conditions need (a hybrid without a list: what the build options give)."""
    defaults = {name for name, model in (("sparse", args.sparse), ("dense", args.dense)) if model} | ({"bm25"} if args.bm25 else set())
    needed: set[str] = set()
    for condition in conditions:
        if condition.mode != "hybrid":
            needed.add(condition.mode)
        else:
            needed |= set(condition.retrievers) or defaults
    return needed


def _build_plan(args, dataset: str, index_dir: Path, corpus_path):
    """The :class:`BuildConfig` for a missing index (None if it exists), checked before any work:
    it builds what the requested conditions need (all of the build options without --modes)."""
    from tandem.eval.conditions import parse_conditions
    from tandem.index.errors import TandemError
    from tandem.retrieval.build import BuildConfig

    if (index_dir / "manifest.json").is_file():
        return None
    if not args.build:
        raise TandemError("no index here: build it, or pass --build", str(index_dir))
    if corpus_path is None:
        raise TandemError(f"dataset {dataset!r} has no corpus on disk to index", "--dataset")
    needed = _required_retrievers(args, parse_conditions(args.modes)) if args.modes else None
    if needed is None:
        config = BuildConfig(corpus=dataset, sparse=args.sparse, sparse_mode=args.sparse_mode, dense=args.dense, bm25=args.bm25, max_length=args.max_length)
    else:
        unknown = sorted(needed - set(BUILDABLE))
        if unknown:
            raise TandemError(f"--build can build {', '.join(BUILDABLE)}, not {', '.join(unknown)}", "--modes")
        for name, model in (("sparse", args.sparse), ("impact", args.sparse), ("dense", args.dense)):
            if name in needed and not model:
                raise TandemError(f"--modes needs the {name} retriever but {BUILDABLE[name]} is none", BUILDABLE[name])
        config = BuildConfig(corpus=dataset, sparse=args.sparse if needed & {"sparse", "impact"} else None, sparse_mode=args.sparse_mode,
                             dense=args.dense if "dense" in needed else None, bm25="bm25" in needed, lucene_impact="impact" in needed,
                             max_length=args.max_length)
    config.check()
    return config


def _ensure_index(args, dataset: str, index_dir: Path, corpus_path) -> None:
    """Build the index the requested conditions need if it is missing (the plan is checked first)."""
    from tandem.retrieval.build import build_index

    config = _build_plan(args, dataset, index_dir, corpus_path)
    if config is not None:
        parts = [name for name, on in (("sparse", config.sparse), ("dense", config.dense), ("bm25", config.bm25), ("impact", config.lucene_impact)) if on]
        print(f"{dataset}: building {', '.join(parts)} at {index_dir}")
        build_index(config, index_dir, corpus_path)


def _parse_metrics(text: str) -> list[str]:
    from tandem.eval.metrics import parse_metric
    from tandem.index.errors import TandemError

    metrics = list(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    if not metrics:
        raise TandemError("no metric given", "--metrics")
    for metric in metrics:
        parse_metric(metric)
    return metrics


def _judged_coverage(args, eval_set, searcher, index_dir: Path) -> float:
    from tandem.eval.coverage import check_coverage, judged_documents_in_index

    coverage = judged_documents_in_index(eval_set.qrels, lambda doc_id: doc_id in searcher.docs)
    print(f"{eval_set.name}: {coverage.describe()}")
    check_coverage(coverage, str(index_dir), f"the index was probably built from another corpus ({searcher.manifest.corpus.source})", args.force)
    return coverage.fraction


def run_eval(args) -> int:
    from tandem.eval.conditions import parse_conditions, Condition
    from tandem.eval.harness import evaluate_conditions
    from tandem.index.errors import TandemError
    from tandem.retrieval.datasets import load_split
    from tandem.retrieval.searcher import Searcher

    metrics = _parse_metrics(args.metrics)
    if args.runs:
        return run_eval_runs(args, metrics)
    if args.qrels is not None:
        raise TandemError("--qrels scores runs made elsewhere: give them with --run", "--qrels")
    if not args.datasets:
        raise TandemError("give --dataset (or --run FILE with --dataset or --qrels)", "--dataset")
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if args.index is not None and len(datasets) > 1:
        raise TandemError("--index names one index; use --index-root for several datasets", "--index")
    if args.modes:
        parse_conditions(args.modes)  # a bad spec fails before any work
    eval_sets = []
    for dataset in datasets:
        eval_set = load_split(dataset, args.split, args.data_dir)
        index_dir = _index_for(args, eval_set.name)
        _build_plan(args, dataset, index_dir, eval_set.corpus_path)  # every dataset's plan is checked before any is built
        eval_sets.append((dataset, eval_set, index_dir))
    prepared, coverage = [], {}
    for dataset, eval_set, index_dir in eval_sets:
        for line in eval_set.report.lines():
            print(f"{eval_set.name}: {line}")
        _ensure_index(args, dataset, index_dir, eval_set.corpus_path)
        searcher = Searcher.open(index_dir)
        conditions = parse_conditions(args.modes) if args.modes else [Condition(m, m) for m in searcher.retrievers] + ([Condition("hybrid", "hybrid")] if len(searcher.retrievers) > 1 else [])
        for condition in conditions:
            condition.check(searcher.retrievers)
        searcher.prepare_search({n for c in conditions for n in c.searches(searcher.retrievers)})  # after the checks: a bad --modes fails at once
        coverage[eval_set.name] = _judged_coverage(args, eval_set, searcher, index_dir)
        prepared.append((eval_set, index_dir, searcher, conditions))
    results = []
    for eval_set, index_dir, searcher, conditions in prepared:
        results += evaluate_conditions(
            searcher, index_dir, eval_set, eval_set.name, args.split, conditions, args.out, k=args.k, metrics=metrics,
            remove_self_hits=args.self_hits == "remove" or (args.self_hits == "auto" and eval_set.shares_id_space), latency_sample=args.latency_sample,
            tuned_dir=args.tuned_fusion_from,
        )
    title = f"Tandem evaluation: {', '.join(dict.fromkeys(r.dataset for r in results))} ({args.split})"
    _write_outputs(args, results, metrics, title, {"k": args.k, "judged_documents_in_index": coverage,
                                                    "tuned_fusion_from": str(args.tuned_fusion_from) if args.tuned_fusion_from else None})
    return 0


def _run_spec(spec: str) -> tuple[str, Path]:
    """``NAME=FILE`` or ``FILE`` (named by the file name without its extension)."""
    name, sep, path = spec.partition("=")
    return (name.strip(), Path(path)) if sep and name.strip() else (Path(spec).stem or spec, Path(spec))


def read_named_runs(specs: list[str], where: str) -> dict[str, tuple[Path, dict]]:
    """``[NAME=]FILE`` specs -> ``name -> (file, run)``; names must be unique."""
    from tandem.eval.runs import read_run
    from tandem.index.errors import TandemError

    runs: dict[str, tuple[Path, dict]] = {}
    for spec in specs:
        name, path = _run_spec(spec)
        if name in runs:
            raise TandemError(f"two runs are named {name!r}: name them as NAME=FILE", where)
        runs[name] = (path, read_run(path))
    return runs


def run_eval_runs(args, metrics: list[str]) -> int:
    """`tandem eval --run FILE ... (--dataset D | --qrels FILE)`: score runs made elsewhere, same metrics and report."""
    from tandem.eval.coverage import check_coverage, qrels_queries_in_run
    from tandem.eval.harness import evaluate_runs
    from tandem.index.errors import TandemError
    from tandem.retrieval.datasets import load_split, read_qrels

    if args.build or args.index is not None or args.modes:
        raise TandemError("--run evaluates existing run files: --build, --index and --modes do not apply", "--run")
    if (args.qrels is None) == (not args.datasets):
        raise TandemError("give the judgments of the runs: --dataset D or --qrels FILE (one of them)", "--run")
    if args.qrels is not None:
        qrels, name, shares_ids = read_qrels(args.qrels), args.qrels.stem, False
    else:
        if "," in args.datasets:
            raise TandemError("--run scores runs against one dataset", "--dataset")
        eval_set = load_split(args.datasets.strip(), args.split, args.data_dir)
        qrels, name, shares_ids = eval_set.qrels, eval_set.name, eval_set.shares_id_space
    runs = read_named_runs(args.runs, "--run")
    for run_name, (path, run) in runs.items():
        coverage = qrels_queries_in_run(run, qrels)
        print(f"{run_name}: {coverage.describe()}")
        check_coverage(coverage, str(path), f"the run was probably made for another dataset or split than {name}/{args.split}", args.force)
    remove = args.self_hits == "remove" or (args.self_hits == "auto" and shares_ids)
    results = evaluate_runs(runs, qrels, name, args.split, metrics, remove_self_hits=remove)
    args.out.mkdir(parents=True, exist_ok=True)
    baseline = next(iter(runs)) if len(runs) > 1 else None
    _write_outputs(args, results, metrics, f"Evaluation of runs: {name} ({args.split})",
                   {"qrels": str(args.qrels) if args.qrels else None, "baseline": baseline}, baseline)
    return 0


def _write_outputs(args, results, metrics: list[str], title: str, extra: dict, baseline: str | None = None) -> None:
    """metrics.json, results.md and report.html in --out, and a short summary on the terminal."""
    from tandem.eval.formatting import format_value
    from tandem.eval.harness import save_results
    from tandem.eval.report import matrix_rows, write_reports

    from ..tables import format_table

    save_results(results, args.out, {"title": title, "split": args.split, "self_hits": args.self_hits, **extra})
    paths = write_reports(results, args.out, metrics, title, baseline)
    for metric in metrics[:2]:
        headers, rows = matrix_rows(results, metric)
        print(f"\n{metric}")
        print(format_table(headers, rows))
    if any(r.latency_p50_ms == r.latency_p50_ms for r in results):  # not NaN: measured
        print("\n" + format_table(
            ["dataset", "condition", "p50 ms", "batch q/s"],
            [[r.dataset, r.condition, format_value(r.latency_p50_ms, "ms"), format_value(r.throughput_qps, "qps")] for r in results],
            align="llrr",
        ))
    print(f"\nwrote {args.out}/metrics.json, {paths['markdown']}, {paths['html']}" + (" and run files" if baseline is None and not args.runs else ""))


def run_tune(args) -> int:
    from tandem.eval.conditions import save_tuned_fusion
    from tandem.eval.tune import tune_fusion, tuning_retrievers
    from tandem.retrieval.datasets import load_split
    from tandem.retrieval.fusion import FusionConfig
    from tandem.retrieval.searcher import FUSION_FILENAME, Searcher

    from ..tables import format_table

    eval_set = load_split(args.dataset, args.split, args.data_dir)
    if args.max_queries is not None:
        eval_set.queries = eval_set.queries[: args.max_queries]
    index_dir = _index_for(args, args.dataset)
    searcher = Searcher.open(index_dir)
    retrievers = tuning_retrievers(searcher, args.split, [r.strip() for r in args.retrievers.split(",")] if args.retrievers else None)
    searcher.prepare_search(retrievers)  # after the checks: a bad --retrievers or --split fails at once
    best, table = tune_fusion(searcher, eval_set, args.split, retrievers, args.metric, args.depth, weight_step=args.weight_step)
    details = {"dataset": args.dataset, "split": args.split, "metric": args.metric, "num_queries": len(eval_set.queries), "grid": table}
    path = save_tuned_fusion(index_dir, retrievers, best, details)
    if not args.retrievers or set(retrievers) == set(searcher.retrievers):
        # serving fetches the default candidate depth per retriever, not the (deeper) tuning depth
        serving = best.model_copy(update={"depth": FusionConfig.model_fields["depth"].default})
        (index_dir / FUSION_FILENAME).write_text(serving.model_dump_json(indent=2) + "\n", encoding="utf-8")
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
    from tandem.eval.repro import DEFAULT_MATRIX, load_matrix, run_matrix

    from ..tables import format_table

    matrix = load_matrix(args.matrix or DEFAULT_MATRIX)
    split = lambda text: [s.strip() for s in text.split(",")] if text else None  # noqa: E731
    cells = run_matrix(matrix, args.index_root, args.out, args.data_dir, args.quick, split(args.conditions), split(args.datasets))
    rows = [[c.condition, c.dataset, c.metric, f"{c.expected:.4f}", f"{c.measured:.4f}", "✓" if c.ok else "✗", c.source] for c in cells]
    print(format_table(["condition", "dataset", "metric", "expected", "measured", "", "source"], rows, align="lllrrll"))
    failed = [c for c in cells if not c.ok]
    print(f"\n{len(cells) - len(failed)}/{len(cells)} cells reproduce")
    return 1 if failed else 0
