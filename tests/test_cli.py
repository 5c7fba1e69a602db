"""CLI end to end on a small subset of BEIR scifact from the data dir."""
import json
from pathlib import Path

import pytest

from tandem.cli import main


@pytest.mark.slow
def test_build_info_search_and_run_file(scifact_subset, tmp_path, capsys):
    root, qrels, ids = scifact_subset
    index = tmp_path / "idx"
    assert main(["index", "build", "--corpus", str(root / "corpus.jsonl"), "--out", str(index)]) == 0
    out = capsys.readouterr().out
    assert "300 documents" in out and "sparse" in out and "dense" in out

    assert main(["index", "info", str(index), "--verify"]) == 0
    assert "all files match" in capsys.readouterr().out

    assert main(["search", "--index", str(index), "cancer risk", "-k", "3"]) == 0
    table = capsys.readouterr().out
    assert "sparse rank" in table and "dense rank" in table

    assert main(["search", "--index", str(index), "cancer risk", "-k", "2", "--json", "--mode", "sparse", "--explain"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert len(payload["hits"]) == 2 and payload["hits"][0]["explain"]

    run = tmp_path / "run.trec"
    assert main(["search", "--index", str(index), "--queries", str(root / "queries.jsonl"), "--run", str(run), "-k", "10", "--fusion", "wsum", "--weights", "sparse=0.5,dense=0.5"]) == 0
    rows = [line.split() for line in run.read_text().splitlines()]
    assert rows and all(len(r) == 6 and r[1] == "Q0" and r[2] in ids for r in rows)
    # Sanity of quality: most queries find a relevant document in the top 10.
    found = {r[0] for r in rows if qrels.get(r[0], {}).get(r[2], 0) > 0}
    assert len(found) >= 0.6 * len({r[0] for r in rows if r[0] in qrels})


@pytest.mark.slow
def test_bad_weights_and_fusion(scifact_subset, tmp_path, capsys):
    root, _, _ = scifact_subset
    corpus = tmp_path / "corpus.jsonl"  # argument checks: a few documents are enough (encoding is what costs)
    corpus.write_text("".join((root / "corpus.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)[:20]), encoding="utf-8")
    index = tmp_path / "idx2"
    assert main(["index", "build", "--corpus", str(corpus), "--out", str(index), "--dense", "none", "--sparse-mode", "inference-free"]) == 0
    capsys.readouterr()
    assert main(["search", "--index", str(index), "x ray", "--weights", "sparse:1"]) == 2
    assert "--weights" in capsys.readouterr().err
    assert main(["search", "--index", str(index), "x ray", "--depth", "0"]) == 2
    assert "--depth" in capsys.readouterr().err


def test_one_version_everywhere():
    import tomllib

    from tandem.index.manifest import TANDEM_VERSION
    from tandem import __version__

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    assert __version__ == TANDEM_VERSION == pyproject["project"]["version"]
