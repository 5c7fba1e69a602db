"""Inputs of the scale benchmark (issue 11 §4): pkgsum prefixes as `tandem encode` shards, and the
synthetic long-document matrices with their queries.

pkgsum prefixes are cut from the shards `tandem encode` wrote for the whole corpus (no document is
encoded again): the first N documents become a one-shard encoding of a prefix corpus file (the first
N corpus lines), with a shard manifest that records exactly that corpus, so `tandem index build
--from-encoded` checks and builds it as it would any shard. Everything is written to a scratch folder,
never into the project.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tandem.index.corpus import file_sha256, read_corpus
from tandem.retrieval.encode import SHARD_FILE, ShardManifest, ShardSpec, docs_digest, read_shards

DATA_DIR = Path(os.environ.get("TANDEM_DATA_DIR", "/work/shared/data"))
PKGSUM_CORPUS = DATA_DIR / "scale/pkgsum/corpus.jsonl.gz"
MSMARCO_DEV = DATA_DIR / "msmarco/topics-qrels/topics.msmarco-passage.dev-subset.txt"


def msmarco_queries(limit: int) -> list[str]:
    """The first ``limit`` MS MARCO dev-small query texts (real web queries; no judgements are used)."""
    lines = MSMARCO_DEV.read_text(encoding="utf-8").splitlines()[:limit]
    return [line.split("\t", 1)[1].strip() for line in lines]


def encoding_record(encoded: Path) -> dict:
    """How the full-corpus shards were encoded: docs/s per shard from their manifests (for 'build time with encoding')."""
    shards = read_shards([encoded])
    per_shard = []
    for shard in shards.shards:
        m = shard.manifest
        per_shard.append({"shard": str(m.spec), "num_docs": m.num_docs, "seconds": m.seconds, "docs_per_second": m.docs_per_second,
                          "threads": m.threads, "host": m.host, "precision": m.encoders.get("sparse", {}).get("precision")})
    seconds = [s["seconds"].get("sparse") for s in per_shard]
    rates = [s["docs_per_second"].get("sparse") for s in per_shard]
    out = {"shards": per_shard, "encoder": shards.encoders.get("sparse", {}).get("model")}
    if all(r for r in rates):
        out["docs_per_second_per_shard_mean"] = round(float(np.mean(rates)), 1)
        out["shards_in_parallel"] = len(per_shard)
        out["note"] = "shards were encoded side by side (one process each) on this 2-core machine; per-document cost = 1 / (docs/s of one shard)"
    if all(s for s in seconds):
        out["wall_seconds_max_shard"] = round(float(max(seconds)), 1)
    return out


def pkgsum_prefix(encoded: Path, num_docs: int, work: Path) -> tuple[Path, Path]:
    """(corpus file, encoded shard folder) of the first ``num_docs`` pkgsum documents, cut from ``encoded``
    (the full-corpus shards); reused if already cut. The full corpus is returned as it is."""
    shards = read_shards([encoded])
    if num_docs >= shards.num_docs:
        return shards.corpus_path, encoded
    folder = work / f"pkgsum-{num_docs}"
    shard_dir = folder / "encoded" / ShardSpec(0, 1).folder
    corpus = folder / "corpus.jsonl.gz"
    if (shard_dir / SHARD_FILE).is_file():
        return corpus, shard_dir
    shutil.rmtree(folder, ignore_errors=True)
    tmp = folder / "encoded" / ".staging"
    tmp.mkdir(parents=True)
    with gzip.open(shards.corpus_path, "rt", encoding="utf-8") as src, gzip.open(corpus, "wt", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i == num_docs:
                break
            dst.write(line)
    docs = read_corpus(corpus)
    first = shards.first
    ids, vectors, postings = [], [], 0
    for shard in shards.shards:
        m = shard.manifest
        with gzip.open(shard.path / m.files["sparse"], "rt", encoding="utf-8") as src:
            for line in src:
                if len(vectors) == num_docs:
                    break
                vectors.append(line)
                postings += len(json.loads(line)["vector"])
        ids.extend((shard.path / m.files["ids"]).read_text(encoding="utf-8").split("\n")[: m.num_docs])
        if len(vectors) == num_docs:
            break
    with gzip.open(tmp / first.files["sparse"], "wt", encoding="utf-8") as dst:
        dst.writelines(vectors)
    (tmp / first.files["ids"]).write_text("\n".join(ids[:num_docs]) + "\n", encoding="utf-8")
    shutil.copytree(shards.shards[0].path / first.files["tokenizer"], tmp / first.files["tokenizer"])
    files = {key: name for key, name in first.files.items() if key in ("ids", "sparse", "tokenizer")}
    manifest = first.model_copy(update={
        "shard": 0, "num_shards": 1, "start": 0, "end": num_docs, "num_docs": num_docs, "files": files, "num_postings": postings,
        "corpus": first.corpus.model_copy(update={"source": str(corpus.resolve()), "sha256": file_sha256(corpus), "num_docs": num_docs}),
        "docs_sha256": docs_digest(docs), "encoders": {k: v for k, v in first.encoders.items() if k == "sparse"}})
    (tmp / SHARD_FILE).write_text(ShardManifest.model_validate(manifest.model_dump()).model_dump_json(indent=2), encoding="utf-8")
    tmp.rename(shard_dir)
    return corpus, shard_dir


def save_query_vectors(path: Path, vectors: list) -> None:
    """Sparse query vectors (``tandem.index.sparse.SparseVector``) as one npz: concatenated ids/weights + offsets."""
    offsets = np.cumsum([0] + [v.nnz for v in vectors])
    ids = np.concatenate([v.ids for v in vectors]) if vectors else np.zeros(0, np.int32)
    weights = np.concatenate([v.weights for v in vectors]) if vectors else np.zeros(0, np.float32)
    np.savez(path, offsets=offsets, ids=ids.astype(np.int32), weights=weights.astype(np.float32))


def load_query_vectors(path: Path) -> list:
    from tandem.index.sparse import SparseVector

    saved = np.load(path)
    o = saved["offsets"]
    return [SparseVector(saved["ids"][o[i]:o[i + 1]], saved["weights"][o[i]:o[i + 1]]) for i in range(len(o) - 1)]


def matrix_from_index(sparse_dir: Path) -> sp.csr_matrix:
    """The documents x vocab matrix stored in a native sparse segment folder."""
    from tandem.index.sparse import SparseIndex

    return SparseIndex(sparse_dir).doc_matrix()
