"""The wheel: one import namespace, tandem (the source folders as tandem.index, tandem.retrieval, tandem.eval,
tandem.service) and nothing else (no top-level index/eval/..., not indexes/), every source file and every data
file the commands read, the LICENSE."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO
from tandem.eval.repro import DEFAULT_MATRIX, load_matrix

PACKAGES = ["eval", "index", "retrieval", "service", "tandem"]  # the source folders; installed as tandem.<folder>
DATA_FILES = ["tandem/eval/repro_matrix.yaml", "tandem/index/lucene/log4j2.xml", "tandem/index/lucene/logging.properties",
              "tandem/service/static/index.html"]


def test_the_matrix_in_the_source_tree_is_the_packaged_one():
    assert DEFAULT_MATRIX.parent == REPO / "eval"
    assert (REPO / "repro" / "matrix.yaml").resolve() == DEFAULT_MATRIX.resolve()


@pytest.mark.slow
def test_wheel_contents_and_commands_from_it(tmp_path):
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    for name in PACKAGES + ["repro"]:
        shutil.copytree(REPO / name, src / name, symlinks=True, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    (src / "indexes" / "scifact").mkdir(parents=True)
    (src / "indexes" / "scifact" / "__init__.py").write_text("")  # a working folder that "index*" would pick up
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src), "-w", str(tmp_path / "dist")],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "dist").glob("tandem_retrieval-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    assert {n.split("/")[0] for n in names} == {"tandem", dist_info}
    sources = {("" if folder == "tandem" else "tandem/") + path.relative_to(REPO).as_posix()
               for folder in PACKAGES for path in (REPO / folder).rglob("*.py")}
    assert sources <= set(names), sorted(sources - set(names))
    assert set(DATA_FILES) <= set(names)
    assert zipfile.ZipFile(wheel).read(f"{dist_info}/licenses/LICENSE") == (REPO / "LICENSE").read_bytes()
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata and "Requires-Dist: torch>=2.3" in metadata

    # Run the installed files, not the source tree: the wheel unpacked first on the path, the cwd elsewhere.
    installed = tmp_path / "installed"
    zipfile.ZipFile(wheel).extractall(installed)
    env = {**os.environ, "PYTHONPATH": str(installed)}
    code = ("import sys; from tandem.cli import main; import tandem.eval.repro as r; "
            "assert r.DEFAULT_MATRIX.is_relative_to(sys.argv[1]), r.DEFAULT_MATRIX; print(len(r.load_matrix().conditions)); "
            "sys.exit(main(['repro', '--quick', '--help']))")
    run = subprocess.run([sys.executable, "-c", code, str(installed)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == str(len(load_matrix().conditions))
    assert "usage: tandem repro" in run.stdout
