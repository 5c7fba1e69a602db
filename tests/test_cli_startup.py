"""`tandem search --mode sparse` on an inference-free index loads no model library and starts no JVM."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

HEAVY = ["torch", "transformers", "jnius", "pyserini", "faiss", "sentence_transformers"]

SCRIPT = """
import json, sys
from tandem.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


def run_in_fresh_interpreter(*args: str) -> tuple[dict, str]:
    """(the status line the script prints last, everything before it) of one CLI call in a new process."""
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    *output, status = proc.stdout.strip().splitlines()
    return json.loads(status), "\n".join(output)


def test_inference_free_sparse_search_imports_no_model_library_and_no_jvm(tiny_if_index):
    status, output = run_in_fresh_interpreter("search", "--index", str(tiny_if_index), "vitamin D bone density", "--mode", "sparse", "--json")
    assert status == {"code": 0, "loaded": []}
    assert json.loads(output)["hits"][0]["doc_id"] == "d3"


def test_help_imports_no_model_library():
    status, output = run_in_fresh_interpreter("--help")
    assert status == {"code": 0, "loaded": []}
    assert "search" in output
