"""Fuse TREC run files with the engine's fusion code and score the result.

    python scripts/fuse_runs.py --dataset scifact --runs sparse=a.trec dense=b.trec [--method rrf]

Used for hybrids of retrievers that live in different indexes (e.g. a trained sparse model with
the packaged dense one); prints nDCG@10 and R@100 and paired p-values against each input run.
"""
from __future__ import annotations

import argparse

from eval.metrics import evaluate
from eval.runs import read_run
from eval.significance import compare
from retrieval.datasets import load_split
from retrieval.fusion import FusionConfig, fuse


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--runs", nargs="+", required=True, help="name=path.trec")
    parser.add_argument("--method", default="rrf", choices=["rrf", "wsum"])
    parser.add_argument("-k", type=int, default=1000)
    args = parser.parse_args()
    eval_set = load_split(args.dataset, args.split)
    runs = {}
    for spec in args.runs:
        name, _, path = spec.partition("=")
        runs[name] = read_run(path)
    config = FusionConfig(method=args.method, depth=args.k)
    fused = {}
    for q in eval_set.queries:
        lists = {name: dict(sorted(run.get(q.query_id, {}).items(), key=lambda x: (-x[1], x[0]))) for name, run in runs.items()}
        fused[q.query_id] = {h.doc_id: h.score for h in fuse(lists, config, args.k)}
    metrics = ["nDCG@10", "R@100"]
    result = evaluate(fused, eval_set.qrels, metrics)
    print(f"{args.dataset} {args.method}({'+'.join(runs)}): " + ", ".join(f"{m} {v:.4f}" for m, v in result.mean.items()))
    for name, run in runs.items():
        single = evaluate(run, eval_set.qrels, metrics)
        stats = compare(result.per_query["nDCG@10"], single.per_query["nDCG@10"])
        print(f"  vs {name}: nDCG@10 {single.mean['nDCG@10']:.4f}, diff {stats['diff']:+.4f}, p(t) {stats['p_ttest']:.4f}, p(perm) {stats['p_permutation']:.4f}")


if __name__ == "__main__":
    main()
