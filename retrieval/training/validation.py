"""Model selection during sparse training: full-corpus retrieval on a dev split.

The student encodes the whole corpus (eval mode, no gradients), queries are scored exactly
(inference-free: IDF-weighted query tokens; siamese: encoded queries) and nDCG@10 of the top 100
(pytrec_eval, trec_eval semantics; self-hits dropped where query and doc ids share a namespace)
decides which checkpoint is kept. Test splits are refused.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tandem.index.corpus import read_corpus
from tandem.index.errors import TandemError
from tandem.index.sparse import matrix_stats, stack_vectors

from ..idf_query import IdfQueryEncoder
from ..splade import SpladeConfig, SpladeEncoder


@dataclass
class DevSet:
    name: str
    split: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]
    drop_self_hits: bool

    @classmethod
    def load(cls, dataset: str, split: str, data_dir=None, max_queries: int | None = None) -> "DevSet":
        from ..datasets import load_split

        if split == "test":
            raise TandemError("refusing to select models on the test split", "--dev-split")
        eval_set = load_split(dataset, split, data_dir)
        docs = list(read_corpus(eval_set.require_corpus()))
        queries = eval_set.queries[:max_queries] if max_queries else eval_set.queries
        return cls(eval_set.name, split, [d.doc_id for d in docs], [d.contents for d in docs], [q.query_id for q in queries],
                   [q.text for q in queries], {q.query_id: eval_set.qrels[q.query_id] for q in queries}, eval_set.shares_id_space)


def evaluate_student(model, tokenizer, dev: DevSet, idf: torch.Tensor, mode: str, max_length: int,
                     query_max_length: int = 64, depth: int = 100) -> dict[str, float]:
    """nDCG@10 on the dev split, and the document side's average nonzeros and FLOPS.

    Documents go through the same ``SpladeEncoder`` as an index build, inference-free queries
    through the same ``IdfQueryEncoder`` as a search, so the figures are what ``tandem eval`` on an
    index of this checkpoint would report.
    """
    import pytrec_eval

    vocab = int(model.config.vocab_size)
    was_training = model.training
    model.eval()
    try:
        docs = stack_vectors(SpladeEncoder.around(model, tokenizer, SpladeConfig(max_length=max_length, batch_size=32)).encode(dev.doc_texts), vocab)
        if mode == "inference-free":
            query_vectors = IdfQueryEncoder(tokenizer, torch.relu(idf).detach().numpy()).encode(dev.query_texts)
        else:
            query_vectors = SpladeEncoder.around(model, tokenizer, SpladeConfig(max_length=query_max_length, batch_size=32)).encode(dev.query_texts)
        queries = stack_vectors(query_vectors, vocab)
    finally:
        model.train(was_training)
    scores = (queries @ docs.T).toarray()
    run = {}
    for i, qid in enumerate(dev.query_ids):
        top = np.argsort(-scores[i], kind="stable")[: depth + 1]
        hits = [(dev.doc_ids[j], float(scores[i, j])) for j in top if scores[i, j] > 0 and not (dev.drop_self_hits and dev.doc_ids[j] == qid)]
        if hits:  # a query with no hit scores 0 below
            run[qid] = dict(hits[:depth])
    per_query = pytrec_eval.RelevanceEvaluator(dev.qrels, {"ndcg_cut.10"}).evaluate(run)
    ndcg = float(np.mean([per_query.get(q, {}).get("ndcg_cut_10", 0.0) for q in dev.qrels]))
    stats = matrix_stats(docs)
    return {"nDCG@10": ndcg, "nnz": stats["avg_nnz_per_doc"], "flops": stats["flops"]}
