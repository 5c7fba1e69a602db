"""A batch of queries is split across the search threads: same rankings as one thread, in query order,
errors surfacing; the sparse kernels release the GIL so those threads run at once."""
import threading

import numpy as np
import pytest
import scipy.sparse as sp

from tandem.index import sparse_kernel
from tandem.index.sparse import SparseIndex, SparseIndexConfig, SparseVector, write_sparse_index
from tandem.index.threads import map_in_threads, search_threads, set_search_threads


@pytest.fixture
def two_threads():
    set_search_threads(2)
    yield
    set_search_threads(None)


def test_map_in_threads_keeps_the_order_and_runs_on_two_threads_at_once(two_threads):
    seen = set()
    both_running = threading.Barrier(2, timeout=30)  # items 0 and 32 open the first two chunks: it breaks unless two threads run them at once

    def work(i):
        seen.add(threading.get_ident())
        if i in (0, 32):
            both_running.wait()
        return i * i

    items = list(range(300))
    assert map_in_threads(work, items) == [i * i for i in items]
    assert threading.get_ident() not in seen and len(seen) == 2


def test_one_search_thread_or_one_item_runs_on_the_calling_thread():
    caller = threading.get_ident()
    set_search_threads(1)
    try:
        assert map_in_threads(lambda _: threading.get_ident(), [1, 2, 3]) == [caller] * 3
    finally:
        set_search_threads(None)
    assert search_threads() >= 1
    assert map_in_threads(lambda _: threading.get_ident(), [1]) == [caller]


def test_an_error_in_one_query_of_a_batch_is_raised(two_threads):
    def work(i):
        if i == 57:
            raise ValueError("query 57 is bad")
        return i

    with pytest.raises(ValueError, match="query 57 is bad"):
        map_in_threads(work, list(range(200)))


def test_a_batch_inside_a_pool_thread_runs_inline(two_threads):
    outer = map_in_threads(lambda i: map_in_threads(lambda j: (i, j, threading.get_ident()), [0, 1]), list(range(8)))
    for row in outer:
        assert row[0][2] == row[1][2]  # the inner batch stayed on the pool thread that ran it


def test_search_threads_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        set_search_threads(0)


def test_the_sparse_search_kernels_release_the_gil():
    for kernel in (sparse_kernel.search_top_k, sparse_kernel.scan_top_k, sparse_kernel.accumulate):
        assert kernel.targetoptions.get("nogil") is True, kernel.__name__


@pytest.mark.parametrize("strategy", ["prune", "scan"])
def test_a_sparse_index_searched_on_two_threads_answers_as_on_one(tmp_path, two_threads, strategy):
    rng = np.random.default_rng(7)
    matrix = sp.random(6000, 300, density=0.02, format="csr", random_state=rng, dtype=np.float32)
    write_sparse_index(tmp_path / "idx", matrix, config=SparseIndexConfig(weights="uint8"))
    index = SparseIndex(tmp_path / "idx")
    index.strategy = strategy
    queries = [SparseVector(np.unique(rng.integers(0, 300, 6)).astype(np.int32), None) for _ in range(400)]
    queries = [SparseVector(q.ids, rng.random(q.ids.size, dtype=np.float32) + 0.1) for q in queries]
    one = [index.search(q, 10) for q in queries]
    both = map_in_threads(lambda q: index.search(q, 10), queries)
    for (d1, s1), (d2, s2) in zip(one, both):
        assert d1.tolist() == d2.tolist() and s1.tolist() == s2.tolist()


@pytest.mark.slow  # builds the tiny inference-free index (loads SPLADE)
def test_a_retriever_batch_on_two_threads_equals_one_query_at_a_time(tiny_if_index, two_threads):
    from tandem.retrieval.searcher import Searcher

    retriever = Searcher.open(tiny_if_index).retriever("sparse")
    queries = ["vitamin d bone", "python garbage collection", "mitochondria atp", "nothing matches zzz"] * 20
    batch = retriever.search(queries, 3)
    assert batch == [retriever.search([q], 3)[0] for q in queries]
    assert batch[0] and list(batch[0])[0] == "d3"
