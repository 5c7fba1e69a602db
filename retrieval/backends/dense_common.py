"""What every retriever of dense vectors shares on the query side."""
from __future__ import annotations

import numpy as np

from ..encoders import dense_encoder


class DenseQuerySide:
    """The component's dense encoder (cached by its settings, on ``self._device``), its tokenizer, and
    ``encode`` (query texts -> embeddings), from ``self.settings["encoder"]``."""

    settings: dict
    _device: str = "cpu"

    @property
    def encoder(self):
        return dense_encoder(self.settings["encoder"], self._device)

    @property
    def tokenizer(self):
        return self.encoder.tokenizer

    def encode(self, queries: list[str]) -> np.ndarray:
        return self.encoder.encode_queries(list(queries))
