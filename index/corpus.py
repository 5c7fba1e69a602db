"""Reading corpora in the common formats, validated record by record.

Formats (:class:`CorpusOptions` ``format``), each optionally gzipped (recognised by its content):

* ``beir``: JSON lines with ``_id``, ``title`` and ``text`` (BEIR ``corpus.jsonl``).
* ``jsonl``: JSON lines with the fields found in the first record (pyserini's JsonCollection
  ``{"id", "contents"}``, or ``id``/``docid``, ``text``/``contents``/``body``, ``title``).
* ``tsv``: ``id<TAB>text`` (MS MARCO ``collection.tsv``) or ``id<TAB>title<TAB>text``. A first row
  that names an id column (``id``, ``docid``, ...) and a text column (``text``, ``contents``, ...)
  is a header, and its names choose the columns.
* ``csv``: comma-separated with a header row naming the columns.
* ``parquet``: columns by name; needs the ``pyarrow`` package.

``auto`` picks the format from the file name (``.jsonl``/``.json``, ``.tsv``, ``.csv``,
``.parquet``, each also with ``.gz``), else from the first bytes. ``--id-field``, ``--title-field``
and ``--text-field`` name the fields when the defaults do not fit.

Every record is checked: ids are non-empty strings or integers (not ``true``), unique, at most
:data:`tandem.index.limits.MAX_DOC_ID_CHARS` characters, with no control characters and, by default, no
whitespace (TREC run files are whitespace-separated); title and text are strings (or missing);
no field holds a lone surrogate. A bad record is an :class:`InputError` naming ``file:line``
(``file:row N`` for Parquet). A corpus with no documents, or whose documents are all empty, is
an error too.
"""
from __future__ import annotations

import gzip
import itertools
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from .checksums import sha256_file as file_sha256  # noqa: F401  (the one checksum helper; old name kept)
from .errors import InputError
from .limits import MAX_DOC_ID_CHARS

CorpusFormat = Literal["auto", "beir", "jsonl", "tsv", "csv", "parquet"]
CORPUS_FORMATS: tuple[str, ...] = get_args(CorpusFormat)

# Field names tried, in order, when the options do not name a field (matched case-insensitively
# in headers and Parquet schemas).
ID_FIELD_NAMES = ("_id", "id", "docid", "doc_id", "pid")
TITLE_FIELD_NAMES = ("title",)
TEXT_FIELD_NAMES = ("text", "contents", "body", "passage")

_SUFFIX_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".tsv": "tsv", ".tab": "tsv", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
# Never allowed in an id: C0/C1 control characters (tab, newline, ...), Unicode line separators and
# lone surrogates. Whitespace is refused separately (and can be allowed).
_FORBIDDEN_ID_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s")
_SURROGATE = re.compile("[\ud800-\udfff]")


class CorpusOptions(BaseModel):
    """How to read a corpus file: its format and which fields hold the id, title and text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: CorpusFormat = "auto"
    id_field: str | None = Field(default=None, min_length=1)
    title_field: str | None = Field(default=None, min_length=1)
    text_field: str | None = Field(default=None, min_length=1)
    allow_id_spaces: bool = False


@dataclass(frozen=True, slots=True)
class Document:
    doc_id: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        """Title and text as one field (the ``flat`` view used by encoders and BM25)."""
        return f"{self.title} {self.text}".strip() if self.title else self.text


@dataclass
class CorpusStats:
    num_docs: int = 0
    num_empty: int = 0
    format: str = ""  # the format read: beir, jsonl, tsv, csv or parquet (+ "gzip" when compressed)


@dataclass(frozen=True)
class _Fields:
    """The field (or column) names a source's id, title and text come from."""

    id: str
    title: str | None
    text: str


@dataclass
class _Source:
    """Records of one corpus file: ``(number, id, title, text)``, numbered by line or row."""

    where_prefix: str
    unit: Literal["line", "row"]
    fields: _Fields
    available: tuple[str, ...]  # the first record's fields or the header's columns, for messages
    records: Iterator[tuple[int, Any, Any, Any]]
    format: str

    def where(self, number: int) -> str:
        return f"{self.where_prefix}:{number}" if self.unit == "line" else f"{self.where_prefix}:row {number}"


# -- opening files ---------------------------------------------------------------------------------

def _is_gzip(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(2) == _GZIP_MAGIC
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", str(path)) from None


def _open_binary(path: Path):
    """The file's bytes, decompressed when it is gzipped."""
    compressed = _is_gzip(path)
    try:
        return gzip.open(path, "rb") if compressed else path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", str(path)) from None


def iter_text_lines(path: str | Path, skip_blank: bool = True) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` of a text file (gzipped or not) decoded as UTF-8.

    Line endings are kept and a leading BOM is removed; blank lines are skipped unless
    ``skip_blank`` is false. Bad UTF-8 or a truncated ``.gz`` is an :class:`InputError` naming
    ``file:line``.
    """
    path = Path(path)
    line_no = 0
    with _open_binary(path) as handle:
        try:
            for line_no, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InputError(f"not valid UTF-8 (byte {exc.start})", f"{path}:{line_no}") from None
                if line_no == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                if skip_blank and not line.strip():
                    continue
                yield line_no, line
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise InputError(f"compressed data is corrupt or truncated ({exc})", f"{path}:{line_no + 1}") from None


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` of a JSON-lines file (gzipped or not); errors name the file and line."""
    path = Path(path)
    for line_no, line in iter_text_lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            hint = "; expected one JSON object per line" if line_no == 1 and line.lstrip().startswith("[") else ""
            raise InputError(f"malformed JSON: {exc.msg} (column {exc.colno}){hint}", f"{path}:{line_no}") from None
        if not isinstance(record, dict):
            raise InputError("expected a JSON object", f"{path}:{line_no}")
        yield line_no, record


# -- format detection ------------------------------------------------------------------------------

def detect_format(path: str | Path, requested: CorpusFormat = "auto") -> str:
    """The format to read ``path`` as: ``requested`` unless it is ``auto``, else from the name, else the content."""
    if requested != "auto":
        return requested
    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    by_name = _SUFFIX_FORMATS.get(Path(name).suffix)
    if by_name:
        return by_name
    with _open_binary(path) as handle:
        try:
            head = handle.read(4096)
        except (EOFError, zlib.error, gzip.BadGzipFile):
            head = b""
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    first_line = next((line for line in head.decode("utf-8", "replace").splitlines() if line.strip()), "")
    if first_line.lstrip().startswith("{"):
        return "jsonl"
    if "\t" in first_line:
        return "tsv"
    if "," in first_line:
        return "csv"
    raise InputError(f"cannot tell the corpus format from the name or the first line; give --format ({', '.join(CORPUS_FORMATS[1:])})", str(path))


# -- field resolution ------------------------------------------------------------------------------

def _pick(names: Iterable[str], candidates: tuple[str, ...]) -> str | None:
    """The first candidate among ``names`` (case-insensitive), as spelled in ``names``."""
    by_lower = {}
    for name in names:
        by_lower.setdefault(name.lower(), name)
    return next((by_lower[c] for c in candidates if c in by_lower), None)


def _columns_to_fields(columns: list[str], options: CorpusOptions, where: str) -> _Fields:
    """Choose the id, title and text columns of a header or schema (the options first)."""
    listed = ", ".join(columns)

    def choose(given: str | None, candidates: tuple[str, ...], flag: str, what: str, required: bool) -> str | None:
        if given is not None:
            found = given if given in columns else _pick(columns, (given.lower(),))
            if found is None:
                raise InputError(f"no column {given!r} (columns: {listed})", f"{where} ({flag})")
            return found
        found = _pick(columns, candidates)
        if found is None and required:
            raise InputError(f"no {what} column: looked for {', '.join(candidates)}; the columns are {listed} (name one with {flag})", where)
        return found

    id_column = choose(options.id_field, ID_FIELD_NAMES, "--id-field", "id", True)
    text_column = choose(options.text_field, TEXT_FIELD_NAMES, "--text-field", "text", True)
    title_column = choose(options.title_field, TITLE_FIELD_NAMES, "--title-field", "title", False)
    return _Fields(id_column, title_column, text_column)


# -- readers: one per format -----------------------------------------------------------------------

def _json_source(path: Path, options: CorpusOptions, beir: bool) -> _Source:
    records = iter_jsonl(path)
    first = next(records, None)
    keys = list(first[1]) if first else []
    if beir:
        fields = _Fields(options.id_field or "_id", options.title_field or "title", options.text_field or "text")
    else:
        fields = _Fields(
            options.id_field or _pick(keys, ID_FIELD_NAMES) or "_id",
            options.title_field or _pick(keys, TITLE_FIELD_NAMES) or "title",
            options.text_field or _pick(keys, TEXT_FIELD_NAMES) or "text",
        )
    rows = (
        (line_no, record.get(fields.id), record.get(fields.title), record.get(fields.text))
        for line_no, record in itertools.chain([first] if first else [], records)
    )
    name = "beir" if fields == _Fields("_id", "title", "text") else "jsonl"
    return _Source(str(path), "line", fields, tuple(keys), rows, name)


def _is_header(cells: list[str], options: CorpusOptions) -> bool:
    lowered = {c.strip().lower() for c in cells}
    id_names = {options.id_field.lower()} if options.id_field else set(ID_FIELD_NAMES)
    text_names = {options.text_field.lower()} if options.text_field else set(TEXT_FIELD_NAMES)
    return bool(lowered & id_names) and bool(lowered & text_names)


def _tsv_source(path: Path, options: CorpusOptions) -> _Source:
    lines = ((n, line.rstrip("\r\n")) for n, line in iter_text_lines(path))
    first = next(lines, None)
    if first is None:
        return _Source(str(path), "line", _Fields("id", None, "text"), (), iter(()), "tsv")
    first_no, first_line = first
    cells = first_line.split("\t")
    if _is_header(cells, options):
        columns = [c.strip() for c in cells]
        fields = _columns_to_fields(columns, options, f"{path}:{first_no}")
        data = lines
    else:
        if options.id_field or options.title_field or options.text_field:
            raise InputError(
                f"--id-field/--title-field/--text-field need a header row naming the columns, and line {first_no} is not one "
                f"(a header names an id column: {', '.join(ID_FIELD_NAMES)}, and a text column: {', '.join(TEXT_FIELD_NAMES)})",
                f"{path}:{first_no}",
            )
        if len(cells) not in (2, 3):
            raise InputError(
                f"expected 2 (id, text) or 3 (id, title, text) tab-separated columns, got {len(cells)}; "
                "with other columns, add a header row naming them",
                f"{path}:{first_no}",
            )
        columns = ["id", "text"] if len(cells) == 2 else ["id", "title", "text"]
        fields = _Fields("id", "title" if len(cells) == 3 else None, "text")
        data = itertools.chain([first], lines)
    return _Source(str(path), "line", fields, tuple(columns), _table_rows(data, columns, fields, path, "tab-separated"), "tsv")


def _table_rows(rows: Iterable[tuple[int, str | list[str]]], columns: list[str], fields: _Fields, path: Path, kind: str) -> Iterator[tuple[int, Any, Any, Any]]:
    """Map rows (a TSV line or CSV cells) to ``(number, id, title, text)`` by column position."""
    id_at, text_at = columns.index(fields.id), columns.index(fields.text)
    title_at = columns.index(fields.title) if fields.title is not None else None
    for number, row in rows:
        cells = row.split("\t") if isinstance(row, str) else row
        if len(cells) != len(columns):
            raise InputError(f"expected {len(columns)} {kind} columns ({', '.join(columns)}), got {len(cells)}", f"{path}:{number}")
        yield number, cells[id_at], cells[title_at] if title_at is not None else None, cells[text_at]


def _csv_source(path: Path, options: CorpusOptions) -> _Source:
    import csv
    import sys

    # Documents can be longer than the csv module's default 128 KiB field limit.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    # Blank lines are kept: they may be inside a quoted field, and csv.reader counts them in line_num.
    # strict: a stray or unterminated quote is an error, not a silently merged field.
    reader = csv.reader((line for _, line in iter_text_lines(path, skip_blank=False)), strict=True)

    def rows() -> Iterator[tuple[int, list[str]]]:
        last_line = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InputError(f"malformed CSV: {exc}", f"{path}:{last_line + 1}") from None
            start, last_line = last_line + 1, reader.line_num
            if cells:
                yield start, cells

    numbered_rows = rows()
    header = next(numbered_rows, None)
    if header is None:
        return _Source(str(path), "line", _Fields("id", None, "text"), (), iter(()), "csv")
    header_no, columns = header
    columns = [c.strip() for c in columns]
    fields = _columns_to_fields(columns, options, f"{path}:{header_no}")
    return _Source(str(path), "line", fields, tuple(columns), _table_rows(numbered_rows, columns, fields, path, "comma-separated"), "csv")


def _parquet_source(path: Path, options: CorpusOptions) -> _Source:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("reading Parquet needs the 'pyarrow' package: pip install 'tandem-retrieval[parquet]'", str(path)) from None
    try:
        if _is_gzip(path):
            with gzip.open(path, "rb") as handle:
                source: Any = pa.BufferReader(handle.read())
        else:
            source = str(path)
        parquet = pq.ParquetFile(source)
    except (pa.ArrowException, OSError, EOFError, zlib.error) as exc:
        raise InputError(f"not a readable Parquet file ({exc})", str(path)) from None
    schema = parquet.schema_arrow
    fields = _columns_to_fields(list(schema.names), options, str(path))
    id_type = schema.field(fields.id).type
    if not (pa.types.is_string(id_type) or pa.types.is_large_string(id_type) or pa.types.is_integer(id_type)):
        raise InputError(f"column {fields.id!r} has type {id_type}; ids must be strings or integers", str(path))
    for name in (fields.title, fields.text):
        if name is None:
            continue
        kind = schema.field(name).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
            raise InputError(f"column {name!r} has type {kind}; it must hold strings", str(path))
    wanted = list(dict.fromkeys(name for name in (fields.id, fields.title, fields.text) if name is not None))

    def rows() -> Iterator[tuple[int, Any, Any, Any]]:
        row = 0
        try:
            for batch in parquet.iter_batches(batch_size=8192, columns=wanted):
                ids = batch.column(fields.id).to_pylist()
                texts = batch.column(fields.text).to_pylist()
                titles = batch.column(fields.title).to_pylist() if fields.title else itertools.repeat(None)
                for doc_id, text, title in zip(ids, texts, titles):
                    row += 1
                    yield row, doc_id, title, text
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"cannot read Parquet data after row {row} ({exc})", str(path)) from None

    return _Source(str(path), "row", fields, tuple(schema.names), rows(), "parquet")


def _open_source(path: Path, options: CorpusOptions) -> _Source:
    if path.is_dir():
        raise InputError("is a folder, not a corpus file", str(path))
    fmt = detect_format(path, options.format)
    if fmt in ("beir", "jsonl"):
        source = _json_source(path, options, beir=fmt == "beir")
    elif fmt == "tsv":
        source = _tsv_source(path, options)
    elif fmt == "csv":
        source = _csv_source(path, options)
    else:
        source = _parquet_source(path, options)
    if _is_gzip(path):
        source.format += "+gzip"
    return source


# -- validation ------------------------------------------------------------------------------------

def _show(value: Any) -> str:
    """A value as the user wrote it (JSON spelling), shortened."""
    try:
        shown = json.dumps(value)
    except (TypeError, ValueError):
        shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _checked_id(value: Any, name: str, where: str, allow_spaces: bool) -> str:
    if value is None:
        raise InputError(f"missing {name!r}", where)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"{name!r} must be a string or an integer, got {_show(value)}", where)
    doc_id = str(value)
    if not doc_id.strip():
        raise InputError(f"{name!r} is empty", where)
    if len(doc_id) > MAX_DOC_ID_CHARS:
        raise InputError(f"{name!r} is {len(doc_id)} characters long; ids may have at most {MAX_DOC_ID_CHARS} (longer ones cannot be fetched over the REST API)", where)
    bad = _FORBIDDEN_ID_CHARS.search(doc_id)
    if bad:
        kind = "a lone surrogate (not valid Unicode)" if _SURROGATE.match(bad.group()) else "a control character"
        raise InputError(f"{name!r} {_show(doc_id)} contains {kind} {bad.group()!r}; ids must be plain text (such characters corrupt TREC run files)", where)
    if doc_id != doc_id.strip():
        raise InputError(f"{name!r} {_show(doc_id)} has leading or trailing whitespace", where)
    if not allow_spaces and _WHITESPACE.search(doc_id):
        raise InputError(
            f"{name!r} {_show(doc_id)} contains whitespace: TREC run and qrels files separate columns by whitespace, "
            "so such an id cannot be written or matched there (--allow-id-spaces accepts it anyway)",
            where,
        )
    return doc_id


def _checked_text(value: Any, name: str | None, where: str) -> str:
    if value is None or name is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{name!r} must be a string, got {_show(value)}", where)
    bad = _SURROGATE.search(value)
    if bad:
        raise InputError(f"{name!r} contains a lone surrogate {bad.group()!r} (not valid Unicode) at character {bad.start()}", where)
    return value


def iter_corpus(path: str | Path, options: CorpusOptions | None = None, stats: CorpusStats | None = None) -> Iterator[Document]:
    """Yield the validated documents of a corpus file one by one (for corpora too large for a list).

    Raises :class:`InputError` at the first bad record (naming ``file:line``), and after the last
    record when there was none or every document was empty. ``stats`` is filled as it goes.
    """
    path = Path(path)
    options = options or CorpusOptions()
    stats = stats if stats is not None else CorpusStats()
    source = _open_source(path, options)
    stats.format = source.format
    fields = source.fields
    first_seen: dict[str, int] = {}
    for number, raw_id, raw_title, raw_text in source.records:
        where = source.where(number)
        doc_id = _checked_id(raw_id, fields.id, where, options.allow_id_spaces)
        if doc_id in first_seen:
            raise InputError(f"duplicate {fields.id} {doc_id!r} (first on {source.unit} {first_seen[doc_id]})", where)
        first_seen[doc_id] = number
        title = _checked_text(raw_title, fields.title, where)
        text = _checked_text(raw_text, fields.text, where)
        stats.num_docs += 1
        if not (title.strip() or text.strip()):
            stats.num_empty += 1
        yield Document(doc_id, title, text)
    if stats.num_docs == 0:
        raise InputError("corpus is empty (no documents)", str(path))
    if stats.num_empty == stats.num_docs:
        read = f"{fields.text!r}" + (f" and {fields.title!r}" if fields.title else "")
        have = f"; the first record has {', '.join(source.available)}" if source.available else ""
        raise InputError(
            f"all {stats.num_docs} documents are empty: no text in {read}{have} (choose the fields with --text-field/--title-field, or the format with --format)",
            str(path),
        )


def read_corpus(path: str | Path, stats: CorpusStats | None = None, options: CorpusOptions | None = None) -> list[Document]:
    """Read and validate a whole corpus file (any format of :class:`CorpusOptions`) into a list.

    Some empty documents are kept (counted in ``stats.num_empty``); a corpus with no documents or
    only empty ones is an :class:`InputError`, as is any bad record (see :func:`iter_corpus`).
    """
    stats = stats if stats is not None else CorpusStats()
    stats.num_docs = stats.num_empty = 0
    return list(iter_corpus(path, options, stats))
