"""Argument helpers shared by commands."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from tandem.index.errors import TandemError

if TYPE_CHECKING:
    from tandem.index.corpus import CorpusOptions


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows ``(default: X)`` only where a flag has a default worth showing.

    No default is shown when it is None, False (an on/off flag), empty, or when the help text
    already explains it (mentions "default").
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        default = action.default
        if default is None or default is False or default == "" or default == [] or default is argparse.SUPPRESS:
            return help_text
        if "default" in help_text.lower():
            return help_text
        return super()._get_help_string(action)


def use_help_formatter(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and every subcommand parser under it :class:`HelpFormatter`."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                use_help_formatter(child)


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


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def optional_model(value: str) -> str | None:
    return None if value.lower() in ("none", "no", "off", "") else value


def add_corpus_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--format``, ``--id-field``, ``--title-field``, ``--text-field`` and ``--allow-id-spaces``
    (how to read the corpus file); turn them into options with :func:`corpus_options_from_args`."""
    from tandem.index.corpus import CORPUS_FORMATS, ID_FIELD_NAMES, TEXT_FIELD_NAMES, TITLE_FIELD_NAMES

    group = parser.add_argument_group("corpus format")
    group.add_argument(
        "--format", dest="corpus_format", default="auto", choices=CORPUS_FORMATS,
        help="corpus file format: beir (JSON lines _id/title/text), jsonl (JSON lines, e.g. pyserini's id/contents), "
        "tsv (id<TAB>text or id<TAB>title<TAB>text, optional header row), csv (header row), parquet; "
        "each may be gzipped. auto: from the file name, else the first line",
    )
    group.add_argument("--id-field", default=None, metavar="NAME", help=f"field or column holding the document id (default: the first of {', '.join(ID_FIELD_NAMES)} present)")
    group.add_argument("--title-field", default=None, metavar="NAME", help=f"field or column holding the title (default: {', '.join(TITLE_FIELD_NAMES)} if present, else no title)")
    group.add_argument("--text-field", default=None, metavar="NAME", help=f"field or column holding the text (default: the first of {', '.join(TEXT_FIELD_NAMES)} present)")
    group.add_argument(
        "--allow-id-spaces", action="store_true",
        help="accept document ids that contain spaces (refused by default: TREC run and qrels files are whitespace-separated, so such ids break them)",
    )


def corpus_options_from_args(args: argparse.Namespace) -> CorpusOptions:
    """The :class:`tandem.index.corpus.CorpusOptions` given by the flags of :func:`add_corpus_options`."""
    from tandem.index.corpus import CorpusOptions

    flags = {"id_field": "--id-field", "title_field": "--title-field", "text_field": "--text-field"}
    for name, flag in flags.items():
        value = getattr(args, name, None)
        if value is not None and not value.strip():
            raise TandemError("must name a field (got an empty string)", flag)
    return CorpusOptions(
        format=getattr(args, "corpus_format", "auto"),
        id_field=getattr(args, "id_field", None),
        title_field=getattr(args, "title_field", None),
        text_field=getattr(args, "text_field", None),
        allow_id_spaces=getattr(args, "allow_id_spaces", False),
    )
