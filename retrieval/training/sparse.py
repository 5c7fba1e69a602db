"""`tandem train sparse`: distil a SPLADE-style student from (ensemble) teacher scores.

Inference-free student: documents through the MLM encoder, queries as IDF over their distinct
tokens, ``s(q, d) = sum_{t in q} idf_t w_t(d)``. Siamese student: ``s = q · d`` with both sides
encoded. Ranking loss (KL by default) over each query's candidates plus a sparsity penalty on the
document vectors (IDF-aware FLOPS by default; see ``losses``) warmed up quadratically.
"""
from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel
from tqdm.auto import tqdm

from tandem.index.corpus import read_corpus
from tandem.index.errors import TandemError

from ..idf_query import document_frequencies, idf_from_df
from ..models import load_pretrained, resolve_model
from ..pooling import splade_pool
from . import losses
from .teacher import read_teacher_file, reweight, training_batch
from .validation import DevSet, evaluate_student


class SparseTrainConfig(BaseModel):
    """Everything a sparse training run depends on; saved next to the checkpoint."""

    teacher_file: str
    corpus: str  # corpus.jsonl of the documents the teacher file refers to
    out: str
    student: str = "splade-tiny"
    mode: Literal["inference-free", "siamese"] = "inference-free"
    teachers: list[str] | None = None  # subset of the file's teachers; None = all (the ensemble)
    loss: Literal["kl", "margin-mse", "infonce"] = "kl"
    temperature: float = 1.0
    student_scale: float = 0.2  # student scores are multiplied by this in the ranking loss (1.0 collapses; see docs)
    learn_scale: bool = False  # ... and it is learned (as a log) with its own learning rate
    scale_lr: float = 1e-2
    sparsity: Literal["idf-aware", "plain", "raw", "none"] = "idf-aware"
    lambda_d: float = 1e-3
    lambda_q: float = 1e-4  # siamese: FLOPS on query vectors
    warmup_steps: int = 50  # quadratic warm-up of the sparsity weights
    max_active: int | None = None  # l0-style threshold: penalise only documents with more active terms
    candidates: int = 8
    batch_queries: int = 4
    grad_accum: int = 1
    lr: float = 2e-5
    idf_lr: float | None = None  # inference-free: train the IDF table too, with its own learning rate
    epochs: int = 1
    max_steps: int | None = None
    max_length: int = 192
    query_max_length: int = 64
    seed: int = 13
    freeze: Literal["none", "vocab"] = "none"  # vocab: keep the word embeddings / MLM decoder (and its bias) fixed
    dev_dataset: str | None = None  # model selection: nDCG@10 on this dataset's dev split, best checkpoint kept
    dev_split: str = "dev"
    eval_every: int = 100
    dev_max_queries: int | None = None
    eval_max_length: int = 256


def sparsity_penalty(config: SparseTrainConfig, doc_reps: torch.Tensor, idf: torch.Tensor) -> torch.Tensor:
    reps = doc_reps
    if config.max_active is not None:
        mask = (reps > 0).sum(dim=1) > config.max_active
        if not mask.any():
            return reps.sum() * 0.0
        reps = reps[mask]
    if config.sparsity == "idf-aware":
        return losses.idf_aware_flops(reps, idf)
    if config.sparsity == "plain":
        return losses.plain_flops_score_space(reps, idf)
    if config.sparsity == "raw":
        return losses.flops(reps)
    return reps.sum() * 0.0


def ranking_loss(config: SparseTrainConfig, query_reps: torch.Tensor, doc_reps: torch.Tensor, teacher: torch.Tensor,
                 scale: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Ranking loss for queries [B, V] against their candidates [B, C, V] (column 0 = teacher's best).

    ``scale`` multiplies the student's scores. A student whose ranking disagrees with the teacher
    lowers the KL most cheaply by becoming less confident, i.e. by shrinking every score; with
    ``log(1 + ReLU)`` weights that means zeroing terms, which sparsifies the student even with no
    sparsity penalty. A (learned) scale lets the confidence change without touching the weights.
    """
    if config.loss == "infonce":
        # In-batch negatives: query i against every candidate of every query; its positive is (i, 0).
        flat = doc_reps.reshape(-1, doc_reps.shape[-1])
        scores = query_reps @ flat.T * scale / config.temperature
        positives = torch.arange(query_reps.shape[0]) * doc_reps.shape[1]
        return torch.nn.functional.cross_entropy(scores, positives)
    student = losses.inference_free_scores(query_reps, doc_reps) * scale
    if config.loss == "kl":
        return losses.kl_distillation(student, teacher, config.temperature)
    return losses.margin_mse_candidates(student, teacher)


def frozen_vocab_parameters(model) -> list[torch.nn.Parameter]:
    """The per-token parameters of an MLM: input embeddings, output (decoder) weights and bias.

    Under Adam a parameter whose only gradient is the sparsity penalty moves at the full learning
    rate whatever λ is (Adam divides by the gradient's own scale); for a token that is in no
    training query, its embedding row and decoder bias get exactly that. Freezing them leaves
    sparsity to the shared layers, where ranking and penalty gradients are weighed by λ.
    """
    params = [model.get_input_embeddings().weight]
    out = model.get_output_embeddings()
    if out is not None:
        params += [out.weight] + ([out.bias] if getattr(out, "bias", None) is not None else [])
    return list({id(p): p for p in params}.values())


def train_sparse(config: SparseTrainConfig, log=print, data_dir=None) -> dict:
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    teacher = read_teacher_file(Path(config.teacher_file))
    teachers = config.teachers or teacher.header["teachers"]
    targets = reweight(teacher, teachers)
    docs = {d.doc_id: d.contents for d in read_corpus(config.corpus)}
    missing = {d for r in teacher.records for d in r.doc_ids if d not in docs}
    if missing:
        raise TandemError(f"{len(missing)} candidate documents are not in the corpus (e.g. {sorted(missing)[:3]})", config.corpus)

    ref = resolve_model(config.student)
    tokenizer = load_pretrained(AutoTokenizer, ref)
    model = load_pretrained(AutoModelForMaskedLM, ref)
    model.train()
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)))
    vocab = int(model.config.vocab_size)
    df, n = document_frequencies(tokenizer, docs.values(), vocab)
    idf_init = torch.tensor(idf_from_df(df, n))
    idf = torch.nn.Parameter(idf_init.clone(), requires_grad=config.idf_lr is not None)
    if config.freeze == "vocab":
        for param in frozen_vocab_parameters(model):
            param.requires_grad_(False)
    groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": config.lr}]
    if config.idf_lr is not None:
        groups.append({"params": [idf], "lr": config.idf_lr})
    log_scale = torch.nn.Parameter(torch.tensor(math.log(config.student_scale)), requires_grad=config.learn_scale)
    if config.learn_scale:
        groups.append({"params": [log_scale], "lr": config.scale_lr, "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)

    examples = list(range(len(teacher.records)))
    steps_per_epoch = math.ceil(len(examples) / config.batch_queries / config.grad_accum)
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    history, dev_curve = [], []
    dev = DevSet.load(config.dev_dataset, config.dev_split, data_dir, config.dev_max_queries) if config.dev_dataset else None
    best = {"step": 0, "nDCG@10": -1.0, "state": None}

    def validate(at_step: int) -> None:
        result = evaluate_student(model, tokenizer, dev, idf, config.mode, config.eval_max_length, config.query_max_length)
        dev_curve.append({"step": at_step, **result})
        log(f"dev {dev.name}/{dev.split} step {at_step}: nDCG@10 {result['nDCG@10']:.4f}, doc nnz {result['nnz']:.1f}, FLOPS {result['flops']:.3f}")
        if result["nDCG@10"] > best["nDCG@10"]:
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best.update(step=at_step, state=state, idf=idf.detach().clone(), **result)

    if dev is not None:
        validate(0)
    step, started, docs_seen = 0, time.perf_counter(), 0
    bar = tqdm(total=total_steps, desc=f"train sparse ({config.mode}, {config.sparsity})", unit="step")
    while step < total_steps:
        rng.shuffle(examples)
        for start in range(0, len(examples), config.batch_queries * config.grad_accum):
            if step >= total_steps:
                break
            optimizer.zero_grad()
            stats = {"loss": 0.0, "rank": 0.0, "sparsity": 0.0, "nnz": 0.0}
            lam_d = losses.quadratic_warmup(step, config.warmup_steps, config.lambda_d)
            lam_q = losses.quadratic_warmup(step, config.warmup_steps, config.lambda_q)
            for micro in range(config.grad_accum):
                chosen = examples[start + micro * config.batch_queries : start + (micro + 1) * config.batch_queries]
                if not chosen:
                    continue
                queries, batch_docs, batch_teacher = training_batch(teacher, targets, chosen, docs, config.candidates, rng)
                enc = tokenizer(batch_docs, padding=True, truncation=True, max_length=config.max_length, return_tensors="pt")
                doc_reps = splade_pool(model(**enc).logits, enc["attention_mask"], special)
                reps = doc_reps.view(len(chosen), config.candidates, -1)
                qenc = tokenizer(queries, padding=True, truncation=True, max_length=config.query_max_length, return_tensors="pt")
                if config.mode == "inference-free":
                    query_reps = losses.inference_free_query_reps(qenc["input_ids"], torch.relu(idf), qenc["attention_mask"], special)
                else:
                    query_reps = splade_pool(model(**qenc).logits, qenc["attention_mask"], special)
                rank = ranking_loss(config, query_reps, reps, torch.tensor(batch_teacher), log_scale.exp())
                penalty = sparsity_penalty(config, doc_reps, torch.relu(idf).detach())
                loss = rank + lam_d * penalty
                if config.mode == "siamese":
                    loss = loss + lam_q * losses.flops(query_reps)
                (loss / config.grad_accum).backward()
                stats["loss"] += loss.item() / config.grad_accum
                stats["rank"] += rank.item() / config.grad_accum
                stats["sparsity"] += penalty.item() / config.grad_accum
                stats["nnz"] += (doc_reps > 0).sum(dim=1).float().mean().item() / config.grad_accum
                docs_seen += len(batch_docs)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            stats.update(step=step, lambda_d=lam_d, scale=log_scale.exp().item(), docs_per_s=docs_seen / (time.perf_counter() - started))
            history.append(stats)
            bar.set_postfix(loss=f"{stats['loss']:.3f}", rank=f"{stats['rank']:.3f}", flops=f"{stats['sparsity']:.2f}", nnz=f"{stats['nnz']:.0f}", dps=f"{stats['docs_per_s']:.1f}")
            bar.update(1)
            if dev is not None and (step % config.eval_every == 0 or step == total_steps):
                validate(step)
    bar.close()
    selection = None
    if dev is not None:
        model.load_state_dict(best["state"])
        with torch.no_grad():
            idf.copy_(best["idf"])
        selection = {"dataset": dev.name, "split": dev.split, "metric": "nDCG@10", "selected_step": best["step"],
                     "selected": {k: best[k] for k in ("nDCG@10", "nnz", "flops")}, "curve": dev_curve}
        log(f"kept the step-{best['step']} checkpoint (dev nDCG@10 {best['nDCG@10']:.4f})")
    return _save(config, model, tokenizer, idf if config.idf_lr is not None else None, history, time.perf_counter() - started, teacher.header, selection)


def _save(config: SparseTrainConfig, model, tokenizer, idf, history: list[dict], seconds: float, teacher_header: dict, selection: dict | None = None) -> dict:
    out = Path(config.out)
    tmp = out.with_name(f".{out.name}.partial")
    model.eval()
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if idf is not None:
        table = {tok: float(w) for tok, w in zip(tokenizer.convert_ids_to_tokens(list(range(idf.numel()))), torch.relu(idf).tolist()) if w > 0}
        (tmp / "idf.json").write_text(json.dumps(table))
    summary = {"config": config.model_dump(), "teacher_file_header": teacher_header, "seconds": round(seconds, 1), "steps": len(history),
               "final": history[-1] if history else {}, "model_selection": selection, "history": history}
    (tmp / "tandem_training.json").write_text(json.dumps(summary, indent=1))
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    return summary
