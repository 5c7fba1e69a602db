"""Fusion against tiny hand-computed fixtures (ranx style)."""
import math

import pytest

from tandem.retrieval.fusion import FusionConfig, fuse
from tandem.retrieval.fusion.normalize import minmax, zscore
from tandem.retrieval.fusion.rrf import rrf
from tandem.retrieval.fusion.wsum import wsum

import numpy as np

SPARSE = {"a": 10.0, "b": 8.0, "c": 4.0}
DENSE = {"b": 0.9, "d": 0.7, "a": 0.5}


def total(contributions):
    return {doc: sum(parts.values()) for doc, parts in contributions.items()}


def test_rrf_by_hand():
    fused = total(rrf({"sparse": SPARSE, "dense": DENSE}, {}, k=60))
    assert math.isclose(fused["a"], 1 / 61 + 1 / 63)
    assert math.isclose(fused["b"], 1 / 62 + 1 / 61)
    assert math.isclose(fused["c"], 1 / 63)
    assert math.isclose(fused["d"], 1 / 62)


def test_rrf_weights():
    fused = total(rrf({"sparse": SPARSE, "dense": DENSE}, {"sparse": 2.0, "dense": 0.5}, k=1))
    assert math.isclose(fused["a"], 2 / 2 + 0.5 / 4)


def test_wsum_minmax_with_missing_document_imputation():
    # sparse minmax: a=1, b=(8-4)/6=2/3, c=0; dense minmax: b=1, d=0.5, a=0
    fused = total(wsum({"sparse": SPARSE, "dense": DENSE}, {"sparse": 0.5, "dense": 0.5}, normalization="minmax"))
    assert math.isclose(fused["a"], 0.5 * 1 + 0.5 * 0)
    assert math.isclose(fused["b"], 0.5 * 2 / 3 + 0.5 * 1)
    # c missing from dense -> dense minimum (0); d missing from sparse -> sparse minimum (0)
    assert math.isclose(fused["c"], 0.0)
    assert math.isclose(fused["d"], 0.5 * 0.5)


def test_wsum_zscore_and_none():
    fused = total(wsum({"x": {"a": 1.0, "b": 3.0}}, {}, normalization="zscore"))
    assert math.isclose(fused["a"], -1.0) and math.isclose(fused["b"], 1.0)
    fused = total(wsum({"x": {"a": 1.0, "b": 3.0}, "y": {"a": 2.0}}, {"y": 2.0}, normalization="none"))
    assert math.isclose(fused["a"], 1.0 + 4.0)
    assert math.isclose(fused["b"], 3.0 + 2 * 2.0)  # b missing from y -> y's minimum (2.0)


def test_normalizations_edge_cases():
    assert minmax(np.array([5.0, 5.0])).tolist() == [1.0, 1.0]
    assert zscore(np.array([5.0, 5.0])).tolist() == [0.0, 0.0]
    assert minmax(np.array([])).size == 0


def test_fuse_hits_carry_components_and_break_ties_by_id():
    hits = fuse({"sparse": SPARSE, "dense": DENSE}, FusionConfig(method="rrf"), k=4)
    assert [h.doc_id for h in hits] == ["b", "a", "d", "c"]  # d (1/62) > c (1/63)
    b = hits[0]
    assert b.rank == 1 and b.components["sparse"].rank == 2 and b.components["dense"].rank == 1
    assert b.components["sparse"].score == 8.0
    assert math.isclose(b.components["sparse"].contribution, 1 / 62) and math.isclose(b.components["dense"].contribution, 1 / 61)
    assert math.isclose(b.score, sum(c.contribution for c in b.components.values()))
    assert hits[3].components["dense"].rank is None and hits[3].components["dense"].score is None
    tied = fuse({"x": {"z": 1.0}, "y": {"y": 1.0}}, FusionConfig(method="rrf"), k=2)
    assert [h.doc_id for h in tied] == ["y", "z"]


def test_config_rejects_unknown_names():
    with pytest.raises(ValueError):
        FusionConfig(method="combmnz")
    with pytest.raises(ValueError):
        FusionConfig(normalization="sigmoid")
