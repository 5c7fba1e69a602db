"""`tandem repro`: run the reproduction matrix (repro/matrix.yaml) and check every cell."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from tandem.index.errors import TandemError, first_validation_error

# Package data, so that `tandem repro` finds it when installed from a wheel; repro/matrix.yaml in the
# source tree is a link to this file.
DEFAULT_MATRIX = Path(__file__).with_name("repro_matrix.yaml")


class Expectation(BaseModel):
    expected: float
    tolerance: float = 0.00005
    source: str


class ConditionSpec(BaseModel):
    description: str
    build: dict[str, Any]
    mode: str
    quick: bool = False
    datasets: dict[str, dict[str, Expectation]]


class Matrix(BaseModel):
    version: int
    defaults: dict[str, Any] = Field(default_factory=dict)
    conditions: dict[str, ConditionSpec]


def load_matrix(path: Path = DEFAULT_MATRIX) -> Matrix:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TandemError(f"cannot read reproduction matrix: {exc}", str(path)) from None
    try:
        return Matrix.model_validate(raw)
    except ValidationError as exc:
        location, message = first_validation_error(exc)
        raise TandemError(f"matrix field {location}: {message}", str(path)) from None


@dataclass
class CellResult:
    condition: str
    dataset: str
    metric: str
    expected: float
    measured: float
    tolerance: float
    source: str

    @property
    def ok(self) -> bool:
        return abs(self.measured - self.expected) <= self.tolerance + 1e-12


def index_dir_for(root: Path, dataset: str, build: dict[str, Any]) -> Path:
    key = hashlib.sha256(json.dumps(build, sort_keys=True).encode()).hexdigest()[:10]
    return root / f"{dataset.replace('/', '-')}-{key}"


def run_matrix(matrix: Matrix, index_root: Path, out_dir: Path, data_dir: str | None = None, quick: bool = False,
               conditions: list[str] | None = None, datasets: list[str] | None = None) -> list[CellResult]:
    from tandem.retrieval.build import BuildConfig, build_index
    from tandem.retrieval.datasets import load_split
    from tandem.retrieval.searcher import Searcher

    from .conditions import parse_condition
    from .harness import evaluate_conditions

    split = matrix.defaults.get("split", "test")
    k = int(matrix.defaults.get("k", 1000))
    remove_self_hits = bool(matrix.defaults.get("remove_self_hits", True))
    cells: list[CellResult] = []
    for name, spec in matrix.conditions.items():
        if (quick and not spec.quick) or (conditions and name not in conditions):
            continue
        for dataset, expectations in spec.datasets.items():
            if datasets and dataset not in datasets:
                continue
            eval_set = load_split(dataset, split, data_dir)
            index_dir = index_dir_for(index_root, dataset, spec.build)
            if not (index_dir / "manifest.json").is_file():
                build_index(BuildConfig(corpus=dataset, **spec.build), index_dir, eval_set.corpus_path)
            searcher = Searcher.open(index_dir)
            condition = parse_condition(spec.mode)
            result = evaluate_conditions(searcher, index_dir, eval_set, dataset, split, [condition], out_dir / name,
                                         k=k, metrics=list(expectations), remove_self_hits=remove_self_hits, latency_sample=0)[0]
            for metric, exp in expectations.items():
                cells.append(CellResult(name, dataset, metric, exp.expected, result.metrics[metric], exp.tolerance, exp.source))
    return cells
