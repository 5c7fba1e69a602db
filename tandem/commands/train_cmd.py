"""`tandem train teachers|sparse|dense`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import add_data_dir, parse_weights


def register(sub) -> None:
    train = sub.add_parser("train", help="train sparse and dense students by distillation")
    tsub = train.add_subparsers(dest="train_command", required=True, metavar="SUBCOMMAND")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    teachers = tsub.add_parser("teachers", help="mine candidates and precompute teacher scores into a file", formatter_class=fmt)
    teachers.add_argument("--dataset", required=True, help="dataset name (or folder) whose --split queries are mined")
    teachers.add_argument("--split", required=True, help="train or dev (never test)")
    teachers.add_argument("--index", type=Path, required=True, help="an index of the dataset with dense and bm25 retrievers")
    teachers.add_argument("--teachers", default="dense,sparse,bm25", help="comma-separated retrievers of --index whose scores teach the students")
    teachers.add_argument("--weights", default=None, help="e.g. dense=1,sparse=1,bm25=0.5")
    teachers.add_argument("--candidates", type=int, default=20, help="top-k from BM25 and from dense each")
    teachers.add_argument("--scale", type=float, default=30.0, help="teacher scores (normalised, averaged) times this; an inverse temperature for the KL loss")
    teachers.add_argument("--max-queries", type=int, default=None, help="use only the first N queries of the split")
    teachers.add_argument("--pseudo-queries", type=int, default=0, metavar="N",
                          help="add N pseudo-queries from the corpus: a document's title (or first sentence) as the query of that document")
    teachers.add_argument("--pseudo-seed", type=int, default=13, help="random seed for choosing the pseudo-query documents")
    teachers.add_argument("--out", type=Path, required=True, help="teacher file to write (JSON lines)")
    add_data_dir(teachers)
    teachers.set_defaults(handler=run_teachers)

    sparse = tsub.add_parser("sparse", help="train a SPLADE-style student (inference-free or siamese)", formatter_class=fmt)
    sparse.add_argument("--teacher-file", type=Path, required=True, help="teacher scores written by 'tandem train teachers'")
    sparse.add_argument("--corpus", required=True, help="dataset name or corpus.jsonl the teacher file refers to")
    sparse.add_argument("--out", type=Path, required=True, help="folder for the trained model (and its training log)")
    sparse.add_argument("--student", default="splade-tiny", help="model to start from: a short name or a model folder")
    sparse.add_argument("--mode", default="inference-free", choices=["inference-free", "siamese"], help="inference-free: queries are tokenizer + IDF; siamese: queries go through the model too")
    sparse.add_argument("--teachers", default=None, help="subset of the file's teachers (default: all, the ensemble)")
    sparse.add_argument("--loss", default="kl", choices=["kl", "margin-mse", "infonce"], help="ranking loss over each query's candidates")
    sparse.add_argument("--temperature", type=float, default=1.0, help="softmax temperature of the KL and InfoNCE losses")
    sparse.add_argument("--student-scale", type=float, default=0.2,
                        help="multiply the student's scores by this in the ranking loss (at 1.0 the inference-free splade-tiny student is over-confident and collapses)")
    sparse.add_argument("--learn-scale", action="store_true", help="learn that scale (its log) with --scale-lr")
    sparse.add_argument("--scale-lr", type=float, default=1e-2, help="learning rate of the learned scale (with --learn-scale)")
    sparse.add_argument("--sparsity", default="idf-aware", choices=["idf-aware", "plain", "raw", "none"], help="sparsity penalty: idf-aware or plain FLOPS in score space, raw FLOPS, or none")
    sparse.add_argument("--lambda-d", type=float, default=1e-3, help="weight of the document sparsity penalty")
    sparse.add_argument("--lambda-q", type=float, default=1e-4, help="weight of the query sparsity penalty (siamese mode)")
    sparse.add_argument("--warmup-steps", type=int, default=50, help="steps over which the sparsity weights grow quadratically to their value")
    sparse.add_argument("--max-active", type=int, default=None, help="penalise only documents with more active terms")
    sparse.add_argument("--candidates", type=int, default=8, help="candidates per query in the loss (the teacher's best plus negatives)")
    sparse.add_argument("--batch-queries", type=int, default=4, help="queries per optimisation step")
    sparse.add_argument("--grad-accum", type=int, default=1, help="batches whose gradients are accumulated before each update")
    sparse.add_argument("--lr", type=float, default=2e-5, help="learning rate")
    sparse.add_argument("--idf-lr", type=float, default=None, help="train the IDF table too (inference-free)")
    sparse.add_argument("--epochs", type=int, default=1, help="passes over the teacher file's queries")
    sparse.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (default: the epochs decide)")
    sparse.add_argument("--max-length", type=int, default=192, help="tokens per document (and query) in training")
    sparse.add_argument("--seed", type=int, default=13, help="random seed (sampling and initialisation)")
    sparse.add_argument("--freeze", default="none", choices=["none", "vocab"],
                        help="vocab: keep word embeddings and the MLM decoder (weights, bias) fixed, so that sparsity comes from the shared layers")
    sparse.add_argument("--dev-dataset", default=None, help="select the checkpoint by nDCG@10 on this dataset's --dev-split (full-corpus retrieval)")
    sparse.add_argument("--dev-split", default="dev", help="train or dev (never test)")
    sparse.add_argument("--eval-every", type=int, default=100, help="steps between dev evaluations (also at step 0 and at the end)")
    sparse.add_argument("--dev-max-queries", type=int, default=None, help="use only the first N dev queries for checkpoint selection")
    add_data_dir(sparse)
    sparse.set_defaults(handler=run_sparse)

    dense = tsub.add_parser("dense", help="train a dense bi-encoder student", formatter_class=fmt)
    dense.add_argument("--teacher-file", type=Path, required=True, help="teacher scores written by 'tandem train teachers'")
    dense.add_argument("--corpus", required=True, help="dataset name or corpus file the teacher file refers to")
    dense.add_argument("--out", type=Path, required=True, help="folder for the trained model")
    dense.add_argument("--student", default="minilm-l6", help="model to start from: a short name or a model folder")
    dense.add_argument("--teachers", default=None, help="subset of the file's teachers (default: all, the ensemble)")
    dense.add_argument("--loss", default="kl", choices=["kl", "margin-mse"], help="ranking loss over each query's candidates")
    dense.add_argument("--student-temperature", type=float, default=0.05, help="temperature of the student's similarity scores in the KL loss")
    dense.add_argument("--candidates", type=int, default=8, help="candidates per query in the loss (the teacher's best plus negatives)")
    dense.add_argument("--batch-queries", type=int, default=8, help="queries per optimisation step")
    dense.add_argument("--lr", type=float, default=2e-5, help="learning rate")
    dense.add_argument("--epochs", type=int, default=1, help="passes over the teacher file's queries")
    dense.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (default: the epochs decide)")
    dense.add_argument("--max-length", type=int, default=192, help="tokens per document (and query) in training")
    add_data_dir(dense)
    dense.set_defaults(handler=run_dense)


def _list(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def run_teachers(args) -> int:
    from tandem.index.errors import TandemError
    from tandem.retrieval.datasets import load_split
    from tandem.retrieval.searcher import Searcher
    from tandem.retrieval.training.teacher import mine_teacher_scores, write_teacher_file

    if args.split == "test":
        raise TandemError("refusing to build training data from the test split", "--split")
    eval_set = load_split(args.dataset, args.split, args.data_dir)
    if args.max_queries:
        eval_set.queries = eval_set.queries[: args.max_queries]
    if args.pseudo_queries:
        from tandem.retrieval.training.pseudo_queries import with_pseudo_queries

        eval_set = with_pseudo_queries(eval_set, args.pseudo_queries, args.pseudo_seed)
    searcher = Searcher.open(args.index)
    header, records = mine_teacher_scores(searcher, eval_set, _list(args.teachers), args.candidates, parse_weights(args.weights) or None, args.scale)
    write_teacher_file(args.out, header, records)
    print(f"wrote {args.out}: {len(records)} queries, {sum(len(r.doc_ids) for r in records) / max(1, len(records)):.1f} candidates each, teachers {header['teachers']}")
    return 0


def run_sparse(args) -> int:
    from tandem.retrieval.datasets import resolve_corpus
    from tandem.retrieval.training.sparse import SparseTrainConfig, train_sparse

    config = SparseTrainConfig(
        teacher_file=str(args.teacher_file), corpus=str(resolve_corpus(args.corpus, args.data_dir)), out=str(args.out), student=args.student,
        mode=args.mode, teachers=_list(args.teachers), loss=args.loss, temperature=args.temperature, sparsity=args.sparsity,
        student_scale=args.student_scale, learn_scale=args.learn_scale, scale_lr=args.scale_lr,
        lambda_d=args.lambda_d, lambda_q=args.lambda_q, warmup_steps=args.warmup_steps, max_active=args.max_active,
        candidates=args.candidates, batch_queries=args.batch_queries, grad_accum=args.grad_accum, lr=args.lr, idf_lr=args.idf_lr,
        epochs=args.epochs, max_steps=args.max_steps, max_length=args.max_length, seed=args.seed, freeze=args.freeze,
        dev_dataset=args.dev_dataset, dev_split=args.dev_split, eval_every=args.eval_every, dev_max_queries=args.dev_max_queries,
    )
    summary = train_sparse(config, data_dir=args.data_dir)
    print(f"saved {args.out} after {summary['steps']} steps in {summary['seconds']:.0f} s; final {json.dumps({k: round(v, 4) for k, v in summary['final'].items()})}")
    return 0


def run_dense(args) -> int:
    from tandem.retrieval.datasets import resolve_corpus
    from tandem.retrieval.training.dense import DenseTrainConfig, train_dense

    config = DenseTrainConfig(
        teacher_file=str(args.teacher_file), corpus=str(resolve_corpus(args.corpus, args.data_dir)), out=str(args.out), student=args.student,
        teachers=_list(args.teachers), loss=args.loss, student_temperature=args.student_temperature, candidates=args.candidates,
        batch_queries=args.batch_queries, lr=args.lr, epochs=args.epochs, max_steps=args.max_steps, max_length=args.max_length,
    )
    summary = train_dense(config)
    print(f"saved {args.out} after {len(summary['history'])} steps in {summary['seconds']:.0f} s")
    return 0
