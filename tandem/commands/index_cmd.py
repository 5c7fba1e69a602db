"""`tandem index build` and `tandem index info`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import add_data_dir, optional_model


def register(sub) -> None:
    parser = sub.add_parser("index", help="build and inspect indexes")
    isub = parser.add_subparsers(dest="index_command", required=True, metavar="SUBCOMMAND")

    build = isub.add_parser("build", help="build an index from a corpus", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    build.add_argument("--corpus", required=True, help="dataset name (scifact, nfcorpus, ...), BEIR folder, or corpus.jsonl")
    build.add_argument("--out", required=True, type=Path, help="index directory to create")
    add_data_dir(build)
    build.add_argument("--sparse", default="splade-tiny", type=optional_model, help="SPLADE model: short name, folder or HF id; 'none' to skip")
    build.add_argument("--sparse-mode", default="inference-free", choices=["inference-free", "siamese"], help="inference-free: queries are tokenizer + IDF (no model call); siamese: queries go through the encoder")
    build.add_argument("--dense", default="minilm-l6", type=optional_model, help="dense model: short name, folder or HF id; 'none' to skip")
    build.add_argument("--faiss", default="flat", choices=["flat", "hnsw", "ivfpq"], help="FAISS index type")
    build.add_argument("--hnsw-m", type=int, default=32)
    build.add_argument("--ef-construction", type=int, default=200)
    build.add_argument("--ef-search", type=int, default=128)
    build.add_argument("--nlist", type=int, default=None, help="ivfpq lists (default ~4*sqrt(N))")
    build.add_argument("--pq-m", type=int, default=None, help="ivfpq sub-quantisers (default dim/4)")
    build.add_argument("--nprobe", type=int, default=16)
    build.add_argument("--bm25", action="store_true", help="also build a Lucene BM25 index (pyserini)")
    build.add_argument("--bm25-fields", default="flat", choices=["flat", "multifield"])
    build.add_argument("--lucene-impact", action="store_true", help="also index the sparse vectors in a Lucene impact index (retriever 'impact')")
    build.add_argument("--impact-scale", type=float, default=100.0, help="impacts are round(weight * scale)")
    build.add_argument("--batch-size", type=int, default=16)
    build.add_argument("--max-length", type=int, default=256)
    build.add_argument("--doc-top-k", type=int, default=None, help="keep only the k largest sparse weights per document")
    build.add_argument("--query-prefix", default="", help="dense query prefix, e.g. 'query: '")
    build.add_argument("--document-prefix", default="", help="dense document prefix, e.g. 'passage: '")
    build.add_argument("--overwrite", action="store_true", help="replace an existing index (only once the new one is complete)")
    build.set_defaults(handler=run_build)

    info = isub.add_parser("info", help="print an index's manifest and sizes")
    info.add_argument("index", type=Path)
    info.add_argument("--verify", action="store_true", help="re-check every file's sha256")
    info.add_argument("--json", action="store_true", help="print the manifest as JSON")
    info.set_defaults(handler=run_info)


def run_build(args) -> int:
    from index.dense import FaissConfig
    from index.errors import TandemError
    from retrieval.build import BuildConfig, build_index
    from retrieval.datasets import resolve_corpus

    from ..tables import format_table, human_bytes

    for name in ("batch_size", "max_length"):
        if getattr(args, name) < 1:
            raise TandemError("must be at least 1", "--" + name.replace("_", "-"))
    corpus_path = resolve_corpus(args.corpus, args.data_dir)
    faiss = FaissConfig(type=args.faiss, hnsw_m=args.hnsw_m, ef_construction=args.ef_construction, ef_search=args.ef_search, nlist=args.nlist, pq_m=args.pq_m, nprobe=args.nprobe)
    config = BuildConfig(
        corpus=args.corpus, sparse=args.sparse, sparse_mode=args.sparse_mode, dense=args.dense, faiss=faiss,
        bm25=args.bm25, bm25_fields=args.bm25_fields, lucene_impact=args.lucene_impact, impact_scale=args.impact_scale, max_length=args.max_length, batch_size=args.batch_size,
        doc_top_k=args.doc_top_k, query_prefix=args.query_prefix, document_prefix=args.document_prefix,
    )
    manifest = build_index(config, args.out, corpus_path, overwrite=args.overwrite)
    print(f"\nbuilt {args.out}: {manifest.num_docs} documents in {manifest.build_seconds:.1f} s")
    rows = [[name, human_bytes(c.bytes), c.settings.get("build_seconds"), _describe(name, c.settings)] for name, c in manifest.components.items()]
    print(format_table(["component", "size", "seconds", "details"], rows, align="lrrl"))
    return 0


def _describe(name: str, settings: dict) -> str:
    if name == "sparse":
        return f"{settings['mode']}, {settings['num_postings']} postings, {settings['avg_nnz_per_doc']:.1f} terms/doc, FLOPS {settings['flops']:.2f}"
    if name == "dense":
        return f"{settings['dim']}-d, faiss {settings['faiss']['type']}"
    if name == "bm25":
        return ", ".join(f"{k}={v}" for k, v in settings.items() if k in ("fields", "k1", "b"))
    if name == "impact":
        return f"Lucene impact, scale {settings['scale']:g}"
    return ""


def run_info(args) -> int:
    from index.errors import TandemError
    from index.manifest import read_manifest, verify_checksums

    from ..tables import format_table, human_bytes

    manifest = read_manifest(args.index)
    if args.json:
        print(manifest.model_dump_json(indent=2))
    else:
        print(f"index        {args.index}")
        print(f"format       {manifest.format_version} (tandem {manifest.tandem_version}), built {manifest.created_at} in {manifest.build_seconds:.1f} s")
        print(f"corpus       {manifest.corpus.source} ({manifest.corpus.num_docs} docs, {manifest.corpus.num_empty} empty, sha256 {manifest.corpus.sha256[:12]}...)")
        rows = [[name, human_bytes(c.bytes), len(c.files), _describe(name, c.settings)] for name, c in manifest.components.items()]
        print(format_table(["component", "size", "files", "details"], rows, align="lrrl"))
        total = sum(c.bytes for c in manifest.components.values())
        print(f"total        {human_bytes(total)}")
        for name, component in manifest.components.items():
            encoder = component.settings.get("encoder")
            if encoder:
                print(f"{name} encoder: {json.dumps(encoder)}")
    if args.verify:
        bad = verify_checksums(args.index, manifest)
        if bad:
            raise TandemError(f"{len(bad)} file(s) fail their checksum: {', '.join(bad[:5])}", str(args.index))
        print("checksums    all files match the manifest")
    return 0
