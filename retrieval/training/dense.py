"""`tandem train dense`: distil a bi-encoder (default minilm-l6) from the same teacher-score file.

Student score: cosine similarity of L2-normalised pooled embeddings divided by a temperature
(0.05 by default, so scores span a range comparable to the teacher's ×30 scale). Loss: KL over
each query's candidates (default) or Margin-MSE.
"""
from __future__ import annotations

import json
import math
import random
import shutil
import time
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel
from tqdm.auto import tqdm

from tandem.index.corpus import read_corpus

from ..models import load_pretrained, resolve_model
from ..pooling import model_pooling, pool
from . import losses
from .teacher import read_teacher_file, reweight, training_batch

SENTENCE_TRANSFORMERS_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling", "2_Normalize")


class DenseTrainConfig(BaseModel):
    teacher_file: str
    corpus: str
    out: str
    student: str = "minilm-l6"
    teachers: list[str] | None = None
    loss: Literal["kl", "margin-mse"] = "kl"
    student_temperature: float = 0.05
    candidates: int = 8
    batch_queries: int = 8
    lr: float = 2e-5
    epochs: int = 1
    max_steps: int | None = None
    max_length: int = 192
    seed: int = 13


def student_embeddings(model, tokenizer, texts: list[str], pooling: str, max_length: int) -> torch.Tensor:
    """The training forward: L2-normalised pooled embeddings [N, H] with autograd, pooled exactly as
    :class:`tandem.retrieval.dense_encoder.DenseEncoder` pools at serving time."""
    enc = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    hidden = model(**enc).last_hidden_state
    return torch.nn.functional.normalize(pool(hidden, enc["attention_mask"], pooling), dim=-1)


def train_dense(config: DenseTrainConfig) -> dict:
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    teacher = read_teacher_file(Path(config.teacher_file))
    targets = reweight(teacher, config.teachers or teacher.header["teachers"])
    docs = {d.doc_id: d.contents for d in read_corpus(config.corpus)}
    ref = resolve_model(config.student)
    tokenizer = load_pretrained(AutoTokenizer, ref)
    model = load_pretrained(AutoModel, ref)
    model.train()
    pooling = model_pooling(ref)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)

    examples = list(range(len(teacher.records)))
    total = config.max_steps or math.ceil(len(examples) / config.batch_queries) * config.epochs
    history, step, started = [], 0, time.perf_counter()
    bar = tqdm(total=total, desc="train dense", unit="step")
    while step < total:
        rng.shuffle(examples)
        for start in range(0, len(examples), config.batch_queries):
            if step >= total:
                break
            chosen = examples[start : start + config.batch_queries]
            queries, texts, teacher_rows = training_batch(teacher, targets, chosen, docs, config.candidates, rng)
            q = student_embeddings(model, tokenizer, queries, pooling, config.max_length)
            d = student_embeddings(model, tokenizer, texts, pooling, config.max_length).view(len(chosen), config.candidates, -1)
            student = torch.einsum("bh,bch->bc", q, d) / config.student_temperature
            teacher_scores = torch.tensor(teacher_rows)
            loss = losses.kl_distillation(student, teacher_scores) if config.loss == "kl" else losses.margin_mse_candidates(student, teacher_scores)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            history.append({"step": step, "loss": loss.item()})
            bar.set_postfix(loss=f"{loss.item():.3f}", dps=f"{step * len(texts) / (time.perf_counter() - started):.1f}")
            bar.update(1)
    bar.close()
    out = Path(config.out)
    tmp = out.with_name(f".{out.name}.partial")
    model.eval()
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if ref.is_local:
        for name in SENTENCE_TRANSFORMERS_FILES:
            source = Path(ref.location) / name
            if source.is_dir():
                shutil.copytree(source, tmp / name, dirs_exist_ok=True)
            elif source.is_file():
                shutil.copy(source, tmp / name)
    summary = {"config": config.model_dump(), "teacher_file_header": teacher.header, "seconds": round(time.perf_counter() - started, 1), "history": history}
    (tmp / "tandem_training.json").write_text(json.dumps(summary, indent=1))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return summary
