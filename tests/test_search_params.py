"""Search-time parameters (`tandem search --param RETRIEVER.KEY=VALUE`): read from each retriever's
``configure`` signature, checked against the index's retrievers, converted, then applied."""
from __future__ import annotations

import pytest

from tandem.index.errors import TandemError
from tandem.retrieval.search_params import apply_parameters, parse_assignments, search_parameters
from tandem.retrieval.searcher import Searcher
from tandem.cli import main


class AnyKey:
    def configure(self, **params) -> None:
        self.params = params


class Typed:
    def configure(self, *, depth: int | None = None, ratio: float | None = None, exact: bool | None = None) -> None:
        self.values = (depth, ratio, exact)


def test_parameters_come_from_the_configure_signature():
    assert search_parameters(Typed()) == {"depth": int, "ratio": float, "exact": bool}
    assert search_parameters(AnyKey()) == {"*": str}
    assert search_parameters(object()) == {}


@pytest.mark.parametrize("item", ["dense.ef_search", "dense=5", ".ef_search=5", "dense.=5", "dense.ef_search="])
def test_malformed_assignments_are_refused(item):
    with pytest.raises(TandemError, match="expected RETRIEVER.PARAMETER=VALUE"):
        parse_assignments([item])


def test_assignments_group_by_retriever():
    assert parse_assignments(["dense.ef_search=64", "dense.nprobe=8", "bm25.k1=1.2"]) == {"dense": {"ef_search": "64", "nprobe": "8"}, "bm25": {"k1": "1.2"}}


def test_dense_ef_search_reaches_every_faiss_segment(tiny_index):
    with Searcher.open(tiny_index) as searcher:
        applied = apply_parameters(searcher, {"dense": {"ef_search": "77", "nprobe": "5"}})
        assert applied == {"dense": {"ef_search": 77, "nprobe": 5}}
        dense = searcher.retriever("dense")
        assert (dense.search_parameters["ef_search"], dense.search_parameters["nprobe"]) == (77, 5)
        seen = []
        for _, index in dense.segments:  # every segment's search gets them
            index.search = lambda queries, k, search=index.search, **params: seen.append(params) or search(queries, k, **params)
        searcher.retrieve("dense", ["vitamin D"], 3)
        assert seen == [{"ef_search": 77, "nprobe": 5, "rerank_factor": None}] * len(dense.segments)
        with Searcher.open(tiny_index) as other:  # another searcher shares the segments' FAISS indexes, not the settings
            assert other.retriever("dense").segments[0][1] is dense.segments[0][1]
            assert other.retriever("dense").search_parameters == {"ef_search": None, "nprobe": None, "rerank_factor": None}


@pytest.mark.parametrize("assignments, fragment", [
    ({"dens": {"ef_search": "8"}}, "unknown retriever 'dens' (this index has: sparse, dense)"),
    ({"sparse": {"ef_search": "8"}}, "retriever 'sparse' takes bound_factor, not 'ef_search'"),
    ({"dense": {"efsearch": "8"}}, "retriever 'dense' takes ef_search, nprobe, rerank_factor, not 'efsearch'"),
    ({"dense": {"ef_search": "many"}}, "'many' is not a valid int"),
    ({"dense": {"ef_search": "0"}}, "retriever 'dense': ef_search must be a whole number of at least 1, got 0"),
])
def test_wrong_parameters_are_refused_and_nothing_is_applied(tiny_index, assignments, fragment):
    with Searcher.open(tiny_index) as searcher:
        before = dict(searcher.retriever("dense").search_parameters)
        with pytest.raises(TandemError) as caught:
            apply_parameters(searcher, {"dense": {"nprobe": "3"}, **assignments})
        assert fragment in str(caught.value)
        assert searcher.retriever("dense").search_parameters == before


def test_sparse_bound_factor_is_the_retrievers_own_and_is_checked(tiny_index, monkeypatch):
    from tandem.index import sparse_kernel

    seen = []
    kernel = sparse_kernel.search_top_k
    monkeypatch.setattr("tandem.index.sparse.search_top_k", lambda *a: seen.append(a[6]) or kernel(*a))
    monkeypatch.setattr("tandem.index.sparse.PRUNE_DOCS_PER_K", 0)  # the pruning kernel even on a tiny index
    with Searcher.open(tiny_index) as searcher, Searcher.open(tiny_index) as other:
        retriever = searcher.retriever("sparse")
        assert retriever.bound_factor == 1.0  # exact unless asked
        exact = searcher.retrieve("sparse", ["vitamin D bone"], 3)
        assert apply_parameters(searcher, {"sparse": {"bound_factor": "0.8"}}) == {"sparse": {"bound_factor": 0.8}}
        assert retriever.bound_factor == 0.8 and seen == [1.0]
        approximate = searcher.retrieve("sparse", ["vitamin D bone"], 3)
        assert seen[-1] == 0.8  # every segment's search gets it
        assert all(approximate[0][d] == s for d, s in exact[0].items() if d in approximate[0])  # scores stay exact
        # another searcher of the same commit shares the segments' indexes, not the setting
        assert other.retriever("sparse").segments[0][1] is retriever.segments[0][1]
        other.retrieve("sparse", ["vitamin D bone"], 3)
        assert seen[-1] == 1.0 and other.retriever("sparse").bound_factor == 1.0
        for bad in ("0", "1.5", "-0.2"):
            with pytest.raises(TandemError, match=rf"retriever 'sparse': bound_factor must be in \(0, 1\] \(got {bad}"):
                apply_parameters(searcher, {"sparse": {"bound_factor": bad}})
        assert retriever.bound_factor == 0.8


def test_cli_param_flag(tiny_index, capsys):
    assert main(["search", "--index", str(tiny_index), "vitamin D", "--mode", "dense", "--param", "dense.ef_search=32", "--json"]) == 0
    capsys.readouterr()
    assert main(["search", "--index", str(tiny_index), "vitamin D", "--param", "dense.ef=32"]) == 2
    assert capsys.readouterr().err == "tandem: error: --param: retriever 'dense' takes ef_search, nprobe, rerank_factor, not 'ef'\n"
