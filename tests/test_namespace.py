"""One import namespace (issue 14): the source folders index/, retrieval/, eval/ and service/ are the packages
tandem.index, tandem.retrieval, tandem.eval and tandem.service, and every module is imported once, under that
one name, from the folder it lives in."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO

FOLDERS = ("index", "retrieval", "eval", "service")

REPORT = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps({
    "bare": sorted(m for m in sys.modules if m.split(".")[0] in %r),
    "files": {m: getattr(mod, "__file__", None) for m, mod in list(sys.modules.items()) if m.split(".")[0] == "tandem"},
    "all_files": [getattr(mod, "__file__", None) for mod in list(sys.modules.values())],
}))
""" % (FOLDERS,)


def source_modules() -> dict[str, str]:
    """Every module of the checkout by its import name -> the file it must be loaded from."""
    modules = {}
    for folder in ("tandem", *FOLDERS):
        prefix = ("tandem",) if folder == "tandem" else ("tandem", folder)
        for path in (REPO / folder).rglob("*.py"):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            if parts[-1] == "__main__" or "__pycache__" in parts:
                continue
            name = ".".join(prefix + (parts[:-1] if parts[-1] == "__init__" else parts))
            modules[name] = str(path)
    return modules


def import_in_fresh_interpreter(names: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", REPORT, *names], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_one_name_per_module(report: dict, expected: dict[str, str]) -> None:
    assert report["bare"] == []  # nothing imported as `index`, `retrieval.x`, ...
    for name, path in expected.items():
        assert report["files"].get(name) == path, name
    # Tandem's own files (a virtualenv inside the checkout holds libraries whose extension modules may be listed twice)
    loaded = [f for f in report["all_files"] if f and f.startswith(str(REPO)) and not f.startswith(sys.prefix)]
    assert len(loaded) == len(set(loaded)), sorted(f for f in loaded if loaded.count(f) > 1)


def test_the_four_packages_resolve_to_their_folders():
    expected = {name: path for name, path in source_modules().items() if name.count(".") <= 1}
    assert set(expected) >= {"tandem", "tandem.index", "tandem.retrieval", "tandem.eval", "tandem.service", "tandem.cli"}
    report = import_in_fresh_interpreter([*expected, "tandem.index.errors", "tandem.index.lucene.jvm"])
    assert_one_name_per_module(report, expected)


@pytest.mark.slow
def test_every_module_is_imported_once_under_its_tandem_name():
    expected = source_modules()
    report = import_in_fresh_interpreter(sorted(expected))
    assert_one_name_per_module(report, expected)


def test_a_module_runs_with_python_dash_m_under_its_tandem_name():
    proc = subprocess.run([sys.executable, "-m", "tandem.index.lucene.run"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("usage: python -m tandem.index.lucene.run ")


def test_pyproject_lists_every_source_package_under_the_namespace():
    tomllib = pytest.importorskip("tomllib")
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert setuptools["package-dir"] == {f"tandem.{folder}": folder for folder in FOLDERS}
    packages = {name for name, path in source_modules().items() if path.endswith("__init__.py")}
    assert sorted(setuptools["packages"]) == sorted(packages)
    assert all(key.startswith("tandem") for key in setuptools.get("package-data", {}))
