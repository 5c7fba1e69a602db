"""`tandem index build|info|add|merge|delete|compact|upgrade`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tandem.index.dense import AUTO_HNSW_MIN_VECTORS, HNSW_RERANKS, HNSW_STORAGES, FaissConfig
from tandem.index.merge_policy import MergePolicy

from .common import add_corpus_options, add_data_dir, corpus_options_from_args, optional_model

FORMATTER = argparse.ArgumentDefaultsHelpFormatter


def _add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="if another writer holds the index lock, wait up to this long for it (0 = fail at once with a message)")


def register(sub) -> None:
    parser = sub.add_parser("index", help="build, inspect and change indexes")
    isub = parser.add_subparsers(dest="index_command", required=True, metavar="SUBCOMMAND")

    build = isub.add_parser("build", help="build an index from a corpus", formatter_class=FORMATTER)
    faiss_defaults = FaissConfig()
    build.add_argument("--corpus", default=None, help="dataset name (scifact, nfcorpus, ...), BEIR folder, or a corpus file (required unless --from-encoded)")
    build.add_argument("--from-encoded", nargs="+", type=Path, default=None, metavar="DIR",
                       help="build from `tandem encode` shards (shard folders or the folder holding them) without loading a model: the encoders and their "
                            "settings (--sparse, --dense, --max-length, --batch-size, --doc-top-k, prefixes, --precision) are the shards'; --corpus defaults to the one they recorded")
    build.add_argument("--out", required=True, type=Path, help="index folder to create")
    add_data_dir(build)
    build.add_argument("--sparse", default="splade-tiny", type=optional_model, help="SPLADE model: short name, folder or HF id; 'none' to skip")
    build.add_argument("--sparse-mode", default="inference-free", choices=["inference-free", "siamese"], help="inference-free: queries are tokenizer + IDF (no model call); siamese: queries go through the encoder")
    build.add_argument("--dense", default="minilm-l6", type=optional_model, help="dense model: short name, folder or HF id; 'none' to skip")
    build.add_argument("--faiss", default="auto", choices=["auto", "flat", "hnsw", "ivfpq"],
                       help="FAISS index type per segment: flat (exact), hnsw (graph, fast), ivfpq (compressed, ~60 bytes a vector at dim 384); "
                            "auto: flat below --auto-hnsw-min-vectors vectors, hnsw from there on")
    build.add_argument("--auto-hnsw-min-vectors", type=int, default=AUTO_HNSW_MIN_VECTORS,
                       help="auto: segments with at least this many vectors get hnsw (one flat query passes ~5 ms on one core around here)")
    build.add_argument("--hnsw-m", type=int, default=faiss_defaults.hnsw_m, help="hnsw: graph neighbours per node")
    build.add_argument("--ef-construction", type=int, default=faiss_defaults.ef_construction,
                       help="hnsw: candidate list size while building (400: recall of out-of-domain queries well above 200's, for ~1.5x the build time)")
    build.add_argument("--hnsw-storage", default=faiss_defaults.hnsw_storage, choices=list(HNSW_STORAGES),
                       help="hnsw: vectors the graph walks over: fp16 (the default: half of fp32's memory, searches ~1.5x faster, same recall), bf16, fp32 (exact scores), "
                            "or sq8 (graph built over fp16, walked over 8-bit codes, best candidates re-scored: see --hnsw-rerank)")
    build.add_argument("--hnsw-rerank", default=None, choices=list(HNSW_RERANKS),
                       help="hnsw: re-score the graph's best --rerank-factor x k candidates with these stored vectors (default: fp32 for --hnsw-storage sq8, "
                            "exact scores; none otherwise)")
    build.add_argument("--rerank-factor", type=float, default=faiss_defaults.rerank_factor,
                       help="hnsw with a rerank: candidates re-scored per result wanted (search time: --param dense.rerank_factor=F)")
    build.add_argument("--ef-search", type=int, default=faiss_defaults.ef_search, help="hnsw: candidate list size while searching (recall@10 0.99 at 1M vectors needed 256)")
    build.add_argument("--nlist", type=int, default=None, help="ivfpq: inverted lists (default ~4*sqrt(N))")
    build.add_argument("--pq-m", type=int, default=None, help="ivfpq: sub-quantisers = bytes a vector (default dim/8)")
    build.add_argument("--nprobe", type=int, default=16, help="ivfpq: lists visited per query")
    build.add_argument("--faiss-train-size", type=int, default=None, help="ivfpq: vectors sampled for training (default max(50 * nlist, 65536), at most all)")
    build.add_argument("--sparse-backend", default="native-sparse", help="registered backend that holds the sparse retriever (see `tandem index backends`)")
    build.add_argument("--sparse-weights", default=None, choices=["float32", "uint16", "uint8"],
                       help="native-sparse: precision of stored weights (default uint8; uint16/uint8 quantise with scale = max weight / levels, "
                            "the scale and the largest error recorded; float32 keeps the weights exactly)")
    build.add_argument("--sparse-forward", action="store_true", help="native-sparse: also store documents row-wise, for fast explanations on large indexes")
    build.add_argument("--reorder", choices=["none", "bp"], default="none",
                       help="bp: give documents that share sparse terms neighbouring ids (recursive graph bisection), so exact "
                            "sparse search skips more (pkgsum 729k: ~100 s at build)")
    build.add_argument("--backend-option", action="append", default=[], metavar="BACKEND.KEY=VALUE",
                       help="a build or default search setting of a backend with its own settings, repeatable: "
                            "seismic.summary_energy=0.8, seismic.heap_factor=0.9, bmp.block_size=8, bmp.alpha=1 (see each backend's docstring)")
    build.add_argument("--dense-backend", default="faiss", help="registered backend that holds the dense retriever (see `tandem index backends`)")
    build.add_argument("--backend", default="native", choices=["native", "milvus"],
                       help="milvus: the sparse and dense retrievers live in one Milvus collection (milvus-sparse, milvus-dense); native: --sparse-backend/--dense-backend")
    build.add_argument("--docstore", default="sqlite", choices=["sqlite", "milvus"],
                       help="where titles and texts live: sqlite (per segment, in the index folder) or milvus (the collection of --backend milvus, "
                            "so `tandem serve` replicas need no copy of the texts; each title and text must fit a Milvus VARCHAR, 65,535 bytes)")
    build.add_argument("--milvus-uri", default=None, help="Milvus: a local file ending in .db (Milvus Lite) or http(s)://host:19530 (a Milvus server)")
    build.add_argument("--milvus-collection", default=None, help="Milvus collection name (default: tandem_<name of --out>)")
    build.add_argument("--milvus-token-env", default=None, metavar="VAR", help="environment variable holding the Milvus token (the name is recorded, never the token)")
    build.add_argument("--milvus-dense-index", default="FLAT", choices=["FLAT", "IVF_FLAT", "HNSW"], help="Milvus dense index (Milvus Lite: FLAT, IVF_FLAT)")
    build.add_argument("--milvus-nlist", type=int, default=1024, help="Milvus IVF_FLAT: inverted lists")
    build.add_argument("--milvus-nprobe", type=int, default=64, help="Milvus IVF_FLAT: lists visited per query")
    build.add_argument("--bm25", action="store_true", help="also build a Lucene BM25 index (retriever 'bm25')")
    build.add_argument("--bm25-fields", default="flat", choices=["flat", "multifield"], help="flat: title + text in one field; multifield: title and text as separate fields")
    build.add_argument("--bm25-backend", default="lucene-bm25", help="backend of the BM25 retriever: lucene-bm25 (Anserini, reproduces pyserini) or milvus-bm25 "
                                                                      "(Milvus's BM25 function in the --milvus-uri collection; English analyzer, k1=0.9, b=0.4)")
    build.add_argument("--lucene-impact", action="store_true", help="also index the sparse vectors in a Lucene impact index (retriever 'impact')")
    build.add_argument("--impact-scale", type=float, default=100.0, help="impacts are round(weight * scale)")
    build.add_argument("--batch-size", type=int, default=16, help="documents per encoder batch")
    build.add_argument("--max-length", type=int, default=256, help="tokens per document kept by the encoders")
    build.add_argument("--doc-top-k", type=int, default=None, help="keep only the k largest sparse weights per document (default: all)")
    build.add_argument("--query-prefix", default="", help="dense query prefix, e.g. 'query: '")
    build.add_argument("--document-prefix", default="", help="dense document prefix, e.g. 'passage: '")
    build.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                       help="encoder precision: fp32 (the reference) or bf16 (SPLADE: same vectors, 2-3x faster on CPUs with bf16 units; dense: bfloat16 autocast)")
    build.add_argument("--overwrite", action="store_true", help="replace an existing Tandem index (as its next commit, once the new build is complete)")
    build.add_argument("--merge-factor", type=int, default=MergePolicy().merge_factor, metavar="N",
                       help="merge policy of `index add`: every N adjacent segments of one size level are merged into one (Lucene's log merge policy; "
                            "0: never merge automatically)")
    add_corpus_options(build)
    _add_wait(build)
    build.set_defaults(handler=run_build)

    info = isub.add_parser("info", help="print an index's manifest, segments and sizes", formatter_class=FORMATTER)
    info.add_argument("index", type=Path, help="index folder")
    info.add_argument("--verify", action="store_true", help="re-check every file's sha256 and all of its data (postings decoded, stores counted; no model is loaded)")
    info.add_argument("--json", action="store_true", help="print the manifest as JSON")
    info.set_defaults(handler=run_info)

    add = isub.add_parser("add", help="add documents to an index (a new segment; an existing id is replaced)", formatter_class=FORMATTER)
    add.add_argument("--index", required=True, type=Path, help="index folder")
    add.add_argument("--corpus", default=None, type=Path, help="file with the documents to add (any corpus format; with --from-encoded: their texts, default the corpus the shards recorded)")
    add.add_argument("--from-encoded", nargs="+", type=Path, default=None, metavar="DIR",
                     help="add the documents of `tandem encode` shards without loading a model (their encoders must be the index's)")
    add.add_argument("--no-merge", action="store_true", help="leave the new segment unmerged (the index's merge policy runs otherwise; `tandem index merge` runs it later)")
    add_corpus_options(add)
    _add_wait(add)
    add.set_defaults(handler=run_add)

    merge = isub.add_parser("merge", help="merge segments as the index's merge policy asks (what `index add` does after adding)", formatter_class=FORMATTER)
    merge.add_argument("--index", required=True, type=Path, help="index folder")
    merge.add_argument("--concurrent", action="store_true",
                       help="write the merged segments without holding the writer lock, so other writers add and delete meanwhile "
                            "(their deletes are carried into the merged segments; a merge whose segments another writer changed is dropped)")
    _add_wait(merge)
    merge.set_defaults(handler=run_merge)

    delete = isub.add_parser("delete", help="delete documents by id", formatter_class=FORMATTER)
    delete.add_argument("--index", required=True, type=Path, help="index folder")
    delete.add_argument("--ids", required=True, type=Path, help="file with one document id per line")
    delete.add_argument("--strict", action="store_true", help="fail (deleting nothing) if any id is not in the index; otherwise unknown ids are reported")
    _add_wait(delete)
    delete.set_defaults(handler=run_delete)

    compact = isub.add_parser("compact", help="merge all segments into one, dropping deleted documents (recomputes a corpus IDF table)", formatter_class=FORMATTER)
    compact.add_argument("--index", required=True, type=Path, help="index folder")
    _add_wait(compact)
    compact.set_defaults(handler=run_compact)

    backends = isub.add_parser("backends", help="list the registered backends", formatter_class=FORMATTER)
    backends.set_defaults(handler=run_backends)

    upgrade = isub.add_parser("upgrade", help="convert a Tandem 0.1 index (format 1) to the live format in place (no re-encoding)", formatter_class=FORMATTER)
    upgrade.add_argument("index", type=Path, help="index folder")
    _add_wait(upgrade)
    upgrade.set_defaults(handler=run_upgrade)


def run_build(args) -> int:
    from tandem.index.errors import TandemError
    from tandem.retrieval.build import BuildConfig, build_index
    from tandem.retrieval.datasets import resolve_corpus

    for name in ("batch_size", "max_length"):
        if getattr(args, name) < 1:
            raise TandemError("must be at least 1", "--" + name.replace("_", "-"))
    options = with_backend_options(BuildConfig(corpus="-"), args.backend_option)  # bad options fail here, before the corpus is read
    shards = None
    if args.from_encoded:
        from tandem.retrieval.encode import read_shards

        shards = read_shards(args.from_encoded)
    elif args.corpus is None:
        raise TandemError("give the corpus to index (or --from-encoded with `tandem encode` shards)", "--corpus")
    corpus_path = resolve_corpus(args.corpus, args.data_dir) if args.corpus else shards.corpus_path
    faiss = FaissConfig(type=args.faiss, auto_hnsw_min_vectors=args.auto_hnsw_min_vectors, hnsw_m=args.hnsw_m, ef_construction=args.ef_construction,
                        hnsw_storage=args.hnsw_storage, hnsw_rerank=args.hnsw_rerank, rerank_factor=args.rerank_factor, ef_search=args.ef_search, nlist=args.nlist, pq_m=args.pq_m, nprobe=args.nprobe, train_size=args.faiss_train_size)
    faiss.resolved(0, 1)  # bad values fail here, naming their flag, before any model loads
    config = BuildConfig(
        corpus=args.corpus or str(corpus_path), sparse=args.sparse, sparse_mode=args.sparse_mode, dense=args.dense, faiss=faiss,
        bm25=args.bm25, bm25_fields=args.bm25_fields, bm25_backend=args.bm25_backend, sparse_backend=args.sparse_backend, dense_backend=args.dense_backend,
        sparse_weights=args.sparse_weights or options.sparse_weights, sparse_forward=args.sparse_forward, reorder=args.reorder, lucene_impact=args.lucene_impact, impact_scale=args.impact_scale, max_length=args.max_length, batch_size=args.batch_size,
        doc_top_k=args.doc_top_k, query_prefix=args.query_prefix, document_prefix=args.document_prefix, corpus_options=corpus_options_from_args(args),
        precision=args.precision, docstore=args.docstore, from_encoded=[str(p) for p in args.from_encoded] if args.from_encoded else None,
        seismic=options.seismic, bmp=options.bmp, merge_policy=merge_policy_from(args.merge_factor),
    )
    if args.backend == "milvus" or args.milvus_uri:
        config = _with_milvus(config, args)
    manifest = build_index(config, args.out, corpus_path, overwrite=args.overwrite, wait=args.wait)
    from tandem.retrieval.warmup import prepare_search

    prepare_search(manifest.components)  # the first search after a build does not compile
    print(f"\nbuilt {args.out}: {manifest.num_docs:,} documents in {manifest.build_seconds:,.1f} s")
    _print_components(manifest, args.out)
    return 0


BACKEND_OPTION_GROUPS = ("seismic", "bmp")  # BuildConfig fields holding a backend's own settings model


def with_backend_options(config, items: list[str]):
    """``config`` with ``BACKEND.KEY=VALUE`` settings applied to its backend settings models, each checked
    by the model (unknown keys, types and ranges refused in one line naming the option)."""
    from pydantic import ValidationError

    from tandem.index.errors import TandemError, first_validation_error
    from tandem.retrieval.search_params import parse_assignments

    update = {}
    for group, values in parse_assignments(items, "--backend-option").items():
        if group not in BACKEND_OPTION_GROUPS:
            raise TandemError(f"no backend settings named {group!r} (choose {', '.join(BACKEND_OPTION_GROUPS)})", "--backend-option")
        model = type(config).model_fields[group].annotation.__args__[0]  # SeismicConfig | None -> SeismicConfig
        current = getattr(config, group) or model()
        try:
            update[group] = model.model_validate({**current.model_dump(), **values})
        except ValidationError as exc:
            location, message = first_validation_error(exc)
            raise TandemError(f"{group}.{location}: {message}", "--backend-option") from None
    return config.model_copy(update=update)


def _print_components(manifest, root: Path) -> None:
    """One row per retriever (size on disk over all segments and its shared files) and one for the documents."""
    from tandem.retrieval.backends import BACKENDS

    from ..tables import format_table, human_bytes

    def size(prefixes: list[str]) -> int:
        return sum((root / rel).stat().st_size for s in manifest.segments for rel in s.files if any(rel.startswith(p) for p in prefixes))

    rows = []
    for c in manifest.components:
        total = c.bytes + size([f"segments/{s.name}/{c.name}/" for s in manifest.segments])
        engine = BACKENDS.get(c.backend)
        rows.append([c.name, c.backend, human_bytes(total), engine.describe(c, manifest.segments) if engine else "(unknown backend)"])
    docs = size([f"segments/{s.name}/docs.sqlite" for s in manifest.segments])
    rows.append(["(documents)", "sqlite", human_bytes(docs), f"{manifest.num_docs:,} live documents in {len(manifest.segments)} segment(s)"])
    print(format_table(["retriever", "backend", "size", "details"], rows, align="llrl"))


def run_info(args) -> int:
    from tandem.index.errors import TandemError
    from tandem.index.manifest import read_manifest

    from ..tables import format_table, human_bytes

    manifest = read_manifest(args.index)
    if args.json:
        print(manifest.model_dump_json(indent=2))
    else:
        print(f"index        {args.index}")
        print(f"format       {manifest.format_version} (tandem {manifest.tandem_version}), generation {manifest.generation}, created {manifest.created_at}, updated {manifest.updated_at}")
        print(f"corpus       {manifest.corpus.source} ({manifest.corpus.num_docs:,} docs at build, sha256 {manifest.corpus.sha256[:12]}...)")
        print(f"documents    {manifest.num_docs:,} live in {len(manifest.segments)} segment(s), {sum(s.num_deleted for s in manifest.segments):,} deleted not yet compacted")
        policy = manifest.merge_policy
        floor = f"segments under {policy.min_merge_docs:,} documents count as one level; " if policy.min_merge_docs > 1 else ""
        print("merging      " + (f"every {policy.merge_factor} segments of one size level after an add ({floor}automatic merges stop at "
                                  f"{policy.max_merge_docs:,} documents)" if policy.enabled else "never automatically"))
        if (manifest.build_config or {}).get("reorder", "none") != "none":
            print("doc order    recursive graph bisection of the sparse terms (--reorder bp) in the built, merged and compacted segments; added ones in arrival order")
        from tandem.retrieval.backends import BACKENDS

        rows = [[c.name, c.backend, human_bytes(c.bytes), len(c.files), BACKENDS[c.backend].describe(c, manifest.segments) if c.backend in BACKENDS else "(unknown backend)"] for c in manifest.components]
        print(format_table(["retriever", "backend", "shared size", "files", "details"], rows, align="llrrl"))
        seg_rows = [[s.name, f"{s.num_docs:,}", f"{s.num_deleted:,}", human_bytes(s.bytes)] for s in manifest.segments]
        print(format_table(["segment", "docs", "deleted", "size"], seg_rows, align="lrrr"))
        print(f"total        {human_bytes(manifest.total_bytes)}")
        for component in manifest.components:
            encoder = component.settings.get("encoder")
            if encoder:
                print(f"{component.name} encoder: {json.dumps(encoder)}")
    if args.verify:
        from tandem.retrieval.integrity import verify_index

        _, bad = verify_index(args.index)
        if bad:
            raise TandemError(f"{len(bad)} problem(s): {'; '.join(bad[:5])}", str(args.index))
        print("checksums    all files match the manifest")
    return 0


def _report(report) -> None:
    data = report.summary()
    parts = [f"{report.operation}: generation {report.generation}"]
    for key in ("added", "replaced", "deleted"):
        if data[key]:
            parts.append(f"{key} {data[key]:,}")
    if report.unknown_ids:
        parts.append(f"{len(report.unknown_ids):,} unknown id(s) (e.g. {', '.join(repr(i) for i in report.unknown_ids[:3])})")
    if report.merged_segments:
        parts.append(f"merged {report.merged_segments} segments into {report.merges_written} ({report.merge_seconds:,.2f} s)")
    parts.append(f"{report.num_docs:,} live documents in {report.num_segments} segment(s)")
    parts.append(f"{report.seconds:,.2f} s" + (f" ({report.encode_seconds:,.2f} s encoding)" if report.encode_seconds else ""))
    print("; ".join(parts))


def run_add(args) -> int:
    from tandem.index.corpus import read_corpus
    from tandem.retrieval.writer import IndexWriter

    if args.from_encoded:
        from tandem.retrieval.encode import add_from_encoded

        _report(add_from_encoded(args.index, args.from_encoded, args.corpus, corpus_options_from_args(args), wait=args.wait, merge=not args.no_merge))
        return 0
    if args.corpus is None:
        from tandem.index.errors import TandemError

        raise TandemError("give the documents to add (or --from-encoded with `tandem encode` shards)", "--corpus")
    docs = read_corpus(args.corpus, options=corpus_options_from_args(args))
    _report(IndexWriter(args.index, wait=args.wait).add(docs, merge=not args.no_merge))
    return 0


def run_merge(args) -> int:
    from tandem.retrieval.writer import IndexWriter

    writer = IndexWriter(args.index, wait=args.wait)
    _report(writer.merge_concurrently() if args.concurrent else writer.merge())
    return 0


def merge_policy_from(merge_factor: int):
    """The merge policy of ``--merge-factor``, checked by the model (a bad value refused in one line naming the flag)."""
    from pydantic import ValidationError

    from tandem.index.errors import TandemError, first_validation_error

    try:
        return MergePolicy(merge_factor=merge_factor)
    except ValidationError as exc:
        raise TandemError(first_validation_error(exc)[1], "--merge-factor") from None


def read_id_file(path: Path) -> list[str]:
    """One id per line (blank lines skipped); errors name the file and line."""
    from tandem.index.errors import InputError

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", str(path)) from None
    ids = []
    for line_no, line in enumerate(raw.split(b"\n"), start=1):
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise InputError(f"not valid UTF-8 (byte {exc.start})", f"{path}:{line_no}") from None
        if text:
            ids.append(text)
    if not ids:
        raise InputError("no ids in the file", str(path))
    return ids


def run_delete(args) -> int:
    from tandem.retrieval.writer import IndexWriter

    report = IndexWriter(args.index, wait=args.wait).delete(read_id_file(args.ids), strict=args.strict)
    _report(report)
    if report.unknown_ids:
        print(f"tandem: warning: {len(report.unknown_ids):,} id(s) were not in the index", file=sys.stderr)
    return 0


def run_compact(args) -> int:
    from tandem.retrieval.writer import IndexWriter

    _report(IndexWriter(args.index, wait=args.wait).compact())
    return 0


def _with_milvus(config, args):
    """``--backend milvus``: both vector retrievers in one Milvus collection (settings checked before any model loads)."""
    import re

    from tandem.index.errors import TandemError
    from tandem.index.milvus import MilvusConfig

    if not args.milvus_uri:
        raise TandemError("--backend milvus needs --milvus-uri (a local .db file for Milvus Lite, or http://host:19530)", "--milvus-uri")
    collection = args.milvus_collection or "tandem_" + re.sub(r"\W", "_", args.out.resolve().name)
    milvus = MilvusConfig(uri=args.milvus_uri, collection=collection, token_env=args.milvus_token_env, dense_index=args.milvus_dense_index,
                          nlist=args.milvus_nlist, nprobe=args.milvus_nprobe, documents=args.docstore == "milvus").resolved()
    from tandem.index.milvus import connect

    connect(milvus.uri, milvus.token_env)  # unreachable: one line naming the URI before any model loads
    update = {"milvus": milvus}
    if args.backend == "milvus":
        update.update(sparse_backend="milvus-sparse", dense_backend="milvus-dense")
    return config.model_copy(update=update)


def run_backends(args) -> int:
    from tandem.retrieval.backends import BACKENDS

    from ..tables import format_table

    rows = [[name, b.doc_input, "per segment" if b.segment_local else "index-wide", b.description] for name, b in sorted(BACKENDS.items())]
    print(format_table(["backend", "input", "storage", "what"], rows, align="llll"))
    return 0


def run_upgrade(args) -> int:
    from tandem.retrieval.upgrade import upgrade_index

    manifest = upgrade_index(args.index, wait=args.wait)
    print(f"upgraded {args.index} to format {manifest.format_version}: {manifest.num_docs:,} documents, retrievers {', '.join(manifest.component_names)}")
    return 0
