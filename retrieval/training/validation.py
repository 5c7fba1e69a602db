"""Model selection during sparse training: full-corpus retrieval on a dev split.

The student encodes the whole corpus (eval mode, no gradients), queries are scored exactly
(inference-free: IDF-weighted query tokens; siamese: encoded queries) and nDCG@10 of the top 100
(pytrec_eval, trec_eval semantics; self-hits dropped where query and doc ids share a namespace)
decides which checkpoint is kept. Test splits are refused.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from index.corpus import read_corpus
from index.errors import TandemError


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


def _pool(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    masked = logits.masked_fill(mask.unsqueeze(-1) == 0, float("-inf"))
    return torch.log1p(torch.relu(masked.amax(dim=1)))


@torch.no_grad()
def encode_sparse(model, tokenizer, texts: list[str], special: torch.Tensor, max_length: int, batch_size: int = 32) -> sp.csr_matrix:
    """SPLADE vectors of ``texts`` as a CSR matrix [len(texts), vocab]."""
    rows = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(texts[start : start + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        reps = _pool(model(**enc).logits, enc["attention_mask"]).index_fill(1, special, 0.0)
        rows.append(sp.csr_matrix(reps.numpy()))
    return sp.vstack(rows).tocsr()


def evaluate_student(model, tokenizer, dev: DevSet, idf: torch.Tensor, mode: str, special: torch.Tensor, max_length: int,
                     query_max_length: int = 64, depth: int = 100) -> dict[str, float]:
    """nDCG@10 on the dev split, and the document side's average nonzeros and FLOPS."""
    import pytrec_eval

    was_training = model.training
    model.eval()
    try:
        docs = encode_sparse(model, tokenizer, dev.doc_texts, special, max_length)
        if mode == "inference-free":
            weights = torch.relu(idf).detach().numpy()
            rows, cols = [], []
            for i, ids in enumerate(tokenizer(dev.query_texts, truncation=True, max_length=query_max_length)["input_ids"]):
                kept = sorted(set(ids) - set(special.tolist()))
                rows += [i] * len(kept)
                cols += kept
            queries = sp.csr_matrix((weights[cols], (rows, cols)), shape=(len(dev.query_texts), docs.shape[1]))
        else:
            queries = encode_sparse(model, tokenizer, dev.query_texts, special, query_max_length)
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
    df = np.asarray((docs > 0).sum(axis=0)).ravel() / docs.shape[0]
    return {"nDCG@10": ndcg, "nnz": float(docs.getnnz(axis=1).mean()), "flops": float((df**2).sum())}
