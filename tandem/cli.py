"""`tandem` command line: one module per command group under ``tandem/commands``.

Each command module defines ``register(subparsers)``; handlers import heavy libraries lazily so
that ``tandem --help`` stays fast. A :class:`TandemError` prints one line and exits with 2; a
closed stdout (``tandem ... | head``) ends the command quietly. ``tandem --verbose`` shows the
library logging (Lucene, transformers) that is hidden by default.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from tandem.index.errors import TandemError
from tandem.index.lucene.jvm import VERBOSE_ENV

from . import __version__
from .commands.common import use_help_formatter

COMMAND_MODULES = ["index_cmd", "encode_cmd", "search_cmd", "eval_cmd", "serve_cmd", "train_cmd"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): ``tandem search: error: argument -k/--hits: ...``."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="tandem", description="Hybrid sparse + dense retrieval engine.")
    parser.add_argument("--version", action="version", version=f"tandem {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show library logging: Lucene/Anserini INFO lines and transformers warnings (hidden by default)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"tandem.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tandem.commands.{name}":
                continue
            raise
        module.register(sub)
    use_help_formatter(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``tandem`` command; returns the exit code (2 for a :class:`TandemError`)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version, or a flag error already printed as one line
            sys.stdout.flush()
            return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 2
        _set_verbosity(args.verbose)
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, inside the handler below
        return code
    except TandemError as exc:
        print(f"tandem: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `tandem ... | head`: the reader left; stop quietly, as `cat` does
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("tandem: interrupted", file=sys.stderr)
        return 130


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left


def _discard_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (e.g. captured in tests)
        pass


def _set_verbosity(verbose: bool) -> None:
    """Quiet by default: the JVM's INFO logging, transformers' warnings and weight-loading bars.

    Set through environment variables read when those libraries start, so nothing heavy is
    imported here (and worker processes inherit the choice).
    """
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


if __name__ == "__main__":
    raise SystemExit(main())
