"""`tandem fuse`: fuse TREC run files made elsewhere (other indexes, other tools) into one run file,
with the engine's fusion (:func:`tandem.retrieval.fusion.fuse`) and run writer (:func:`tandem.eval.runs.write_run`).

    tandem fuse sparse=a.trec dense=b.trec --method wsum --weights sparse=0.4,dense=0.6 --out fused.trec
    tandem eval --run fused.trec --run a.trec --run b.trec --dataset scifact
"""
from __future__ import annotations

from pathlib import Path

from .common import positive_int

RUN_DEPTH = 1000  # hits a run file usually has per query (trec_eval's and pyserini's default)


def register(sub) -> None:
    parser = sub.add_parser("fuse", help="fuse TREC run files (rrf or weighted sum) into one run file",
                            description="Fuse run files query by query; evaluate the result with `tandem eval --run`.")
    parser.add_argument("runs", nargs="+", metavar="[NAME=]RUN", help="run files, each optionally named (default name: the file name without its extension)")
    parser.add_argument("--method", "--fusion", dest="fusion", default=None, choices=["rrf", "wsum"], help="fusion method (default: rrf)")
    parser.add_argument("--weights", default=None, help="run weights, e.g. sparse=0.4,dense=0.6 (finite, >= 0; runs not named: 1); with rrf they weight each 1/(k+rank)")
    parser.add_argument("--norm", default=None, choices=["minmax", "zscore", "none"], help="score normalisation of each run for wsum (default: minmax)")
    parser.add_argument("--rrf-k", type=float, default=None, metavar="K", help="the k of rrf, > 0 (default: 60)")
    parser.add_argument("--depth", type=positive_int, default=None, metavar="N", help=f"hits taken from each run per query (default: {RUN_DEPTH})")
    parser.add_argument("-k", "--hits", dest="k", type=positive_int, default=RUN_DEPTH, metavar="N", help=f"hits per query in the fused run (default: {RUN_DEPTH})")
    parser.add_argument("--out", "--output", dest="out", type=Path, required=True, metavar="FILE", help="fused TREC run file to write")
    parser.add_argument("--run-tag", default=None, metavar="TAG", help="tag in the last column (default: tandem-fuse-<method>)")
    parser.set_defaults(handler=run_fuse)


def run_fuse(args) -> int:
    from tandem.eval.run_fusion import check_weight_names, fuse_runs
    from tandem.eval.runs import write_run
    from tandem.retrieval.fusion import FusionConfig, override_fusion

    from .eval_cmd import read_named_runs
    from .search_cmd import FUSION_FLAGS, describe_fusion, fusion_overrides

    overrides = fusion_overrides(args)  # flag syntax first
    runs = read_named_runs(args.runs, "RUN")
    check_weight_names(overrides.get("weights", {}), runs)
    config = override_fusion(FusionConfig(depth=RUN_DEPTH), overrides, list(runs), lambda field: FUSION_FLAGS.get(field.split(".")[0], field))
    fused = fuse_runs({name: run for name, (_, run) in runs.items()}, config, args.k)
    write_run(args.out, fused, tag=args.run_tag or f"tandem-fuse-{config.method}")
    print(describe_fusion(config, list(runs), overrides).replace("per retriever", "per run"))
    print(f"fused {len(runs)} runs ({', '.join(runs)}) over {len(fused):,} queries, top {args.k} each: wrote {args.out}")
    return 0
