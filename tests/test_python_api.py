"""The README's Python API example runs as written (on a small BEIR folder named as in the example)."""
import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_readme_python_api_example_runs(scifact_subset, tmp_path, monkeypatch, capsys):
    root, _, _ = scifact_subset
    os.symlink(root, tmp_path / "my-beir")
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_python_example(), str(README), "exec"), {})
    out = capsys.readouterr().out
    assert "['sparse']" in out and "'nDCG@10'" in out
    assert "Document(doc_id='new-1'" in out
    assert (tmp_path / "idx" / "manifest.json").is_file()
