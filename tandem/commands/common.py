"""Argument helpers shared by commands."""
from __future__ import annotations

import argparse

from index.errors import TandemError


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None, help="folder with datasets (default: $TANDEM_DATA_DIR)")


def parse_weights(text: str | None, where: str = "--weights") -> dict[str, float]:
    """Parse ``sparse=0.3,dense=0.7`` into a dict."""
    if not text:
        return {}
    weights = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            if not sep:
                raise ValueError
            weights[name.strip()] = float(value)
        except ValueError:
            raise TandemError(f"expected name=number pairs like sparse=0.4,dense=0.6, got {part!r}", where) from None
    return weights


def optional_model(value: str) -> str | None:
    return None if value.lower() in ("none", "no", "off", "") else value
