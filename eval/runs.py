"""TREC run files: ``qid Q0 docid rank score tag``, one hit per line."""
from __future__ import annotations

from pathlib import Path

from index.errors import InputError

Run = dict[str, dict[str, float]]


def write_run(path: Path, run: Run, tag: str = "tandem") -> None:
    """Write hits ranked by score descending, ties by doc id; written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for qid in sorted(run):
            ranked = sorted(run[qid].items(), key=lambda item: (-item[1], item[0]))
            for rank, (doc_id, score) in enumerate(ranked, start=1):
                out.write(f"{qid} Q0 {doc_id} {rank} {score:.6f} {tag}\n")
    tmp.replace(path)


def read_run(path: Path) -> Run:
    path = Path(path)
    if not path.is_file():
        raise InputError("run file not found", str(path))
    run: Run = {}
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise InputError(f"expected 6 columns 'qid Q0 docid rank score tag', got {len(parts)}", f"{path}:{line_no}")
            qid, _, doc_id, _, score, _ = parts
            try:
                value = float(score)
            except ValueError:
                raise InputError(f"score {score!r} is not a number", f"{path}:{line_no}") from None
            if doc_id in run.setdefault(qid, {}):
                raise InputError(f"document {doc_id!r} appears twice for query {qid!r}", f"{path}:{line_no}")
            run[qid][doc_id] = value
    return run
