"""Dense bi-encoder for any sentence-transformers / Hugging Face encoder.

Pooling (:mod:`tandem.retrieval.pooling`) follows the model's ``1_Pooling/config.json`` (mean, cls, max; mean if absent);
embeddings are L2-normalised. Optional query/document prefixes (e.g. "query: ").
``precision="bf16"`` runs the transformer under bfloat16 autocast (:mod:`tandem.retrieval.precision`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch

from tandem.index.progress import progress

from .models import load_pretrained, resolve_model
from .pooling import check_pooling, model_pooling, pool
from .precision import Precision, autocast, check_precision


@dataclass
class DenseConfig:
    model: str = "minilm-l6"
    max_length: int = 256
    batch_size: int = 64
    query_prefix: str = ""
    document_prefix: str = ""
    pooling: str | None = None  # None = as the model's config says
    normalize: bool = True
    precision: Precision = "fp32"  # bf16: bfloat16 autocast, embeddings pooled in float32


class DenseEncoder:
    def __init__(self, config: DenseConfig | None = None, device: str = "cpu") -> None:
        from transformers import AutoModel, AutoTokenizer

        self.config = config or DenseConfig()
        check_precision(self.config.precision)
        self.ref = resolve_model(self.config.model)
        self.tokenizer = load_pretrained(AutoTokenizer, self.ref)
        self.model = load_pretrained(AutoModel, self.ref).to(device).eval()
        self.device = device
        self.pooling = check_pooling(self.config.pooling or model_pooling(self.ref))
        self.dim = int(self.model.config.hidden_size)

    def settings(self) -> dict:
        return {**asdict(self.config), "pooling": self.pooling, "location": self.ref.location, "dim": self.dim}

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The model's pooling (:func:`tandem.retrieval.pooling.pool`), L2-normalised unless configured off."""
        pooled = pool(hidden, mask, self.pooling)
        return torch.nn.functional.normalize(pooled, dim=-1) if self.config.normalize else pooled

    def embed(self, texts: Sequence[str], prefix: str = "", show_progress: bool = False, desc: str = "dense encode", on_batch=None) -> np.ndarray:
        """Embeddings of ``texts``; ``on_batch(n)`` is called after each batch of n texts (for a caller's progress bar)."""
        texts = [prefix + t for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        enc = self.tokenizer(texts, truncation=True, max_length=self.config.max_length)
        order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
        with progress(total=len(texts), desc=desc, unit="doc", disable=not show_progress) as bar, torch.inference_mode():
            for start in range(0, len(order), self.config.batch_size):
                positions = order[start : start + self.config.batch_size]
                batch = self.tokenizer.pad([{k: enc[k][i] for k in enc.keys()} for i in positions], return_tensors="pt")
                batch = {k: v.to(self.device) for k, v in batch.items()}
                with autocast(self.config.precision, self.device):
                    hidden = self.model(**batch).last_hidden_state.float()
                out[positions] = self.pool(hidden, batch["attention_mask"]).cpu().numpy()
                bar.update(len(positions))
                if on_batch is not None:
                    on_batch(len(positions))
        return out

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        return self.embed(queries, self.config.query_prefix)

    def encode_documents(self, texts: Sequence[str], show_progress: bool = False, on_batch=None) -> np.ndarray:
        return self.embed(texts, self.config.document_prefix, show_progress=show_progress, on_batch=on_batch)
