"""`tandem index upgrade`: a Tandem 0.1 (format 1) index is refused with the command that converts it,
and after conversion answers exactly as the index it was made from."""
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tandem.index.checksums import sha256_file
from tandem.index.errors import IndexFormatError
from tandem.index.manifest import read_manifest, verify_checksums
from tandem.retrieval.searcher import Searcher
from tandem.cli import main

from test_corrupt_index import write_format1_sparse

QUERIES = ["vitamin D and bone density", "Eiffel Tower in Paris", "cell energy ATP", "plants and sunlight"]


def write_format1_index(source: Path, out: Path) -> None:
    """The layout Tandem 0.1 wrote (docs.sqlite, sparse/, dense/, manifest.json format 1), from a format-2 index."""
    from tandem.index.sparse import SparseIndex

    manifest = read_manifest(source)
    segment = source / "segments" / manifest.segments[0].name
    out.mkdir()
    shutil.copy(segment / "docs.sqlite", out / "docs.sqlite")
    with sqlite3.connect(out / "docs.sqlite") as con:  # 0.1 stores had no meta table
        con.execute("DROP TABLE meta")
    sparse = manifest.component("sparse")
    write_format1_sparse(out / "sparse", SparseIndex(segment / "sparse").doc_matrix())
    shutil.copytree(source / sparse.shared_dir / "tokenizer", out / "sparse" / "tokenizer")
    if (source / sparse.shared_dir / "query_weights.npy").is_file():
        shutil.copy(source / sparse.shared_dir / "query_weights.npy", out / "sparse" / "query_weights.npy")
    (out / "dense").mkdir()
    shutil.copy(segment / "dense" / "faiss.index", out / "dense" / "faiss.index")

    def files(*rels: str) -> dict:
        paths = [p for rel in rels for p in ([out / rel] if (out / rel).is_file() else sorted((out / rel).rglob("*")))]
        return {str(p.relative_to(out)): sha256_file(p) for p in paths if p.is_file()}

    dense = manifest.component("dense")
    v1 = {
        "format_version": 1, "tandem_version": "0.1.0", "created_at": manifest.created_at, "build_seconds": 1.0,
        "corpus": manifest.corpus.model_dump(), "build_config": manifest.build_config,
        "components": {
            "docstore": {"files": files("docs.sqlite"), "bytes": 1, "settings": {}},
            "sparse": {"files": files("sparse"), "bytes": 1, "settings": {k: v for k, v in sparse.settings.items() if k != "index"}},
            "dense": {"files": files("dense"), "bytes": 1, "settings": {**dense.settings, "num_vectors": manifest.num_docs}},
        },
    }
    (out / "manifest.json").write_text(json.dumps(v1, indent=2))


@pytest.mark.slow
def test_format1_index_is_refused_then_upgraded_in_place(tiny_index, tmp_path, capsys):
    old = tmp_path / "old"
    write_format1_index(tiny_index, old)
    with pytest.raises(IndexFormatError, match=f"tandem index upgrade {old}"):
        Searcher.open(old)
    assert main(["search", "--index", str(old), "vitamin"]) == 2
    assert "tandem index upgrade" in capsys.readouterr().err

    assert main(["index", "upgrade", str(old)]) == 0
    assert sorted(p.name for p in old.iterdir()) == ["commits", "components", "manifest.json", "segments"]  # 0.1 files gone
    manifest = read_manifest(old)
    assert manifest.format_version == 2 and manifest.num_docs == read_manifest(tiny_index).num_docs
    assert verify_checksums(old, manifest) == []
    with Searcher.open(tiny_index) as reference, Searcher.open(old) as upgraded:
        assert upgraded.modes == reference.modes
        for mode in reference.modes:
            for query in QUERIES:
                want = reference.search(query, k=6, mode=mode).hits
                got = upgraded.search(query, k=6, mode=mode).hits
                assert [h.doc_id for h in got] == [h.doc_id for h in want], (mode, query)
                np.testing.assert_allclose([h.score for h in got], [h.score for h in want], rtol=1e-6)
    assert main(["index", "upgrade", str(old)]) == 2  # already format 2: one line, nothing changed
    assert "nothing to upgrade" in capsys.readouterr().err
