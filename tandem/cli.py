"""`tandem` command line: one module per command group under ``tandem/commands``.

Each command module defines ``register(subparsers)``; handlers import heavy libraries lazily so
that ``tandem --help`` stays fast. A :class:`TandemError` prints one line and exits with 2.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from index.errors import TandemError

COMMAND_MODULES = ["index_cmd", "search_cmd", "eval_cmd", "serve_cmd", "train_cmd"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tandem", description="Hybrid sparse + dense retrieval engine.")
    parser.add_argument("--version", action="version", version="tandem 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"tandem.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tandem.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _quiet_libraries()
        return int(args.handler(args) or 0)
    except TandemError as exc:
        print(f"tandem: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tandem: interrupted", file=sys.stderr)
        return 130


def _quiet_libraries() -> None:
    """Silence the transformers weight-loading progress bars and warnings on the CLI."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
