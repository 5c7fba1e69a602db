"""`tandem encode`: encode a corpus, or one shard of it, into vector files (see :mod:`tandem.retrieval.encode`)."""
from __future__ import annotations

from pathlib import Path

from .common import HelpFormatter, add_corpus_options, add_data_dir, corpus_options_from_args, optional_model, positive_int


def register(sub) -> None:
    parser = sub.add_parser(
        "encode", formatter_class=HelpFormatter,
        help="encode a corpus (or shard i of n) into sparse JsonVectorCollection + dense .npy files, for `tandem index build --from-encoded`",
        description="Encode documents with the sparse and/or dense encoder and write the vectors to OUT/shard-<i>-of-<n>/. "
                    "Shards can run anywhere (several machines, GPUs, a job array); `tandem index build --from-encoded OUT` then builds "
                    "the index without loading a model. Running the same command again after an interruption resumes.",
    )
    parser.add_argument("--corpus", required=True, help="dataset name (scifact, nfcorpus, ...), BEIR folder, or a corpus file (any format, gzipped or not)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the encoded shards (each shard writes its own subfolder)")
    parser.add_argument("--shard", default="0/1", metavar="I/N",
                        help="encode only the I-th (0-based) of N contiguous slices of the corpus, e.g. --shard $SLURM_ARRAY_TASK_ID/$N")
    add_data_dir(parser)
    parser.add_argument("--sparse", default="splade-tiny", type=optional_model, help="SPLADE model: short name, folder or HF id; 'none' to skip")
    parser.add_argument("--dense", default="minilm-l6", type=optional_model, help="dense model: short name, folder or HF id; 'none' to skip")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="fp32: the reference; bf16: SPLADE screens its vocabulary projection in bfloat16 (same vectors, 2-3x faster on CPUs with bf16 units), "
                             "dense runs under bfloat16 autocast (cosine to fp32 > 0.9999)")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="documents per encoder batch")
    parser.add_argument("--max-length", type=positive_int, default=256, help="tokens per document kept by the encoders")
    parser.add_argument("--doc-top-k", type=positive_int, default=None, help="keep only the k largest sparse weights per document (default: all)")
    parser.add_argument("--query-prefix", default="", help="dense query prefix, e.g. 'query: ' (recorded for the index)")
    parser.add_argument("--document-prefix", default="", help="dense document prefix, e.g. 'passage: '")
    parser.add_argument("--device", default="cpu", help="torch device for the encoders, e.g. cuda:0")
    parser.add_argument("--no-gzip", action="store_true", help="write sparse.jsonl instead of sparse.jsonl.gz")
    parser.add_argument("--overwrite", action="store_true", help="encode a shard again even if OUT already holds it")
    add_corpus_options(parser)
    parser.set_defaults(handler=run_encode)


def run_encode(args) -> int:
    from tandem.retrieval.build import BuildConfig
    from tandem.retrieval.datasets import resolve_corpus
    from tandem.retrieval.encode import ShardSpec, encode_shard

    spec = ShardSpec.parse(args.shard)
    corpus_path = resolve_corpus(args.corpus, args.data_dir)
    config = BuildConfig(corpus=args.corpus, sparse=args.sparse, dense=args.dense, max_length=args.max_length, batch_size=args.batch_size,
                         doc_top_k=args.doc_top_k, query_prefix=args.query_prefix, document_prefix=args.document_prefix, precision=args.precision,
                         corpus_options=corpus_options_from_args(args))
    folder, manifest = encode_shard(config, corpus_path, args.out, spec, overwrite=args.overwrite, gzip_sparse=not args.no_gzip, device=args.device)
    rates = ", ".join(f"{name} {rate:,.1f} docs/s" for name, rate in manifest.docs_per_second.items())
    print(f"encoded shard {spec} ({manifest.num_docs:,} documents, corpus rows {manifest.start:,}..{manifest.end - 1:,} of {manifest.corpus.num_docs:,}) "
          f"into {folder} in {manifest.seconds.get('total', 0):,.1f} s ({rates})")
    return 0
