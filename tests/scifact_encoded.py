"""BEIR scifact's SPLADE vectors, encoded once per test session and shared by the slow tests that need
real learned-sparse vectors (the ``encoded_scifact`` fixture in conftest.py).

Encoding is what those tests spent their time on (splade-tiny at 256 tokens: ~50 ms a document on one
core): the Seismic and BMP recall tests encoded the first 1,000 and 2,000 documents each, and the Lucene
impact test all 5,183 through ``build_index``. Now all of scifact is encoded once, as `tandem encode`
writes it (the sparse encoder ``tandem index build`` uses by default: splade-tiny, max_length 256), so
the impact test builds with ``from_encoded`` (same vectors, no model) and the recall tests take the
first rows of the same matrix.

On a CPU with bfloat16 instructions the encoding runs at ``precision="bf16"``: SPLADE then screens the
vocabulary projection in bfloat16 and recomputes every surviving term in float32, so the vectors are
the fp32 ones (the first 60 scifact documents: the same terms, weights equal to the bit), measured
2.4-3.0x faster on one thread (200 documents: 20 s against 49-61 s, load average 8-9).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import scipy.sparse as sp


@dataclass
class EncodedCorpus:
    """A corpus's SPLADE vectors (row i = document i in file order) and what they were made from."""

    shard: Path  # the `tandem encode` shard folder (``build_index(BuildConfig(from_encoded=[str(shard)]), ...)``)
    corpus_path: Path
    matrix: sp.csr_matrix  # docs x vocab, float32
    texts: list[str]  # each document's contents (title and text), as the encoder saw them
    tokenizer: object

    @property
    def vocab_size(self) -> int:
        return int(self.matrix.shape[1])


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated, slower than fp32."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = set(cpuinfo.read_text().split()) if cpuinfo.exists() else set()
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def encode_corpus(corpus_path: Path, out: Path) -> EncodedCorpus:
    """Encode ``corpus_path`` with the default sparse encoder of ``tandem index build`` (bf16 where the CPU
    has it: the same vectors, faster) into a shard in ``out`` and read its vectors back (the shard's float
    weights read back exactly)."""
    from tandem.index.corpus import read_corpus
    from tandem.retrieval.build import BuildConfig
    from tandem.retrieval.encode import encode_shard, read_shards

    config = BuildConfig(corpus=str(corpus_path), dense=None, precision="bf16" if cpu_has_bf16() else "fp32")
    shard, _ = encode_shard(config, corpus_path, out, show_progress=False)
    docs = read_corpus(corpus_path)
    encoded = read_shards([shard]).encoded_docs(docs, show_progress=False)
    (matrix,) = encoded.sparse.values()
    (tokenizer,) = encoded.tokenizers.values()
    return EncodedCorpus(shard, Path(corpus_path), matrix.tocsr(), [d.contents for d in docs], tokenizer)


def idf_queries(corpus: EncodedCorpus, num_docs: int, queries_path: Path) -> list:
    """Every query in ``queries_path`` (train and test), encoded inference-free with the IDF of the first
    ``num_docs`` documents; queries with no term in the vocabulary are left out."""
    from tandem.retrieval.datasets import read_queries
    from tandem.retrieval.idf_query import IdfQueryEncoder, document_frequencies, idf_from_df

    df, n = document_frequencies(corpus.tokenizer, corpus.texts[:num_docs], corpus.vocab_size)
    encoder = IdfQueryEncoder(corpus.tokenizer, idf_from_df(df, n))
    return [q for q in encoder.encode([q.text for q in read_queries(queries_path)]) if q.nnz]


def recall_at_10(matrix: sp.csr_matrix, queries: list, search: Callable[[object], np.ndarray], native_dir: Path) -> float:
    """Mean recall@10 of ``search(query) -> segment rows`` against the native engine's exact top 10 over
    ``matrix`` (written to ``native_dir`` with float32 weights)."""
    from tandem.index.sparse import SparseIndex, write_sparse_index
    from tandem.index.sparse_format import SparseIndexConfig

    write_sparse_index(native_dir, matrix, config=SparseIndexConfig(weights="float32"))
    exact = SparseIndex(native_dir)
    recalls = []
    for vector in queries:
        truth, _ = exact.search(vector, 10)
        recalls.append(np.intersect1d(truth, search(vector)).size / max(truth.size, 1))
    return float(np.mean(recalls))

