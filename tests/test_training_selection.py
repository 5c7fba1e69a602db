"""Training extras: pseudo-queries from the corpus, dev-split model selection, frozen vocabulary."""
import json

import numpy as np
import pytest
import torch

from tandem.index.errors import TandemError

from conftest import TINY_DOCS, write_jsonl

DEV_QUERIES = {"q1": ("vitamin deficiency bones", "d3"), "q2": ("tower in paris", "d1"), "q3": ("oxidative phosphorylation", "d5")}


@pytest.fixture(scope="module")
def tiny_beir(tmp_path_factory):
    """A BEIR-layout folder over the tiny corpus with a dev split."""
    root = tmp_path_factory.mktemp("tiny-beir") / "tiny"
    (root / "qrels").mkdir(parents=True)
    write_jsonl(root / "corpus.jsonl", TINY_DOCS)
    write_jsonl(root / "queries.jsonl", [{"_id": q, "text": text} for q, (text, _) in DEV_QUERIES.items()])
    rows = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q, (_, d) in DEV_QUERIES.items()]
    for split in ("dev", "test"):
        (root / "qrels" / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_pseudo_queries_are_titles_or_first_sentences(tmp_path):
    from tandem.retrieval.training.pseudo_queries import pseudo_queries, pseudo_query_text
    from tandem.index.corpus import Document

    assert pseudo_query_text(Document("a", "Vitamin D and bones", "Text.")) == "Vitamin D and bones"
    assert pseudo_query_text(Document("b", "", "Plants make glucose daily. Then more.")) == "Plants make glucose daily."
    assert pseudo_query_text(Document("c", "Python", "Python is a language.")) == "Python is a language."  # one-word title
    assert pseudo_query_text(Document("d", "Python", "")) is None  # nothing long enough to be a query
    corpus = write_jsonl(tmp_path / "corpus.jsonl", TINY_DOCS)
    queries, qrels = pseudo_queries(corpus, 3, seed=1)
    assert len(queries) == 3 and all(q.query_id.startswith("pq-") for q in queries)
    for q in queries:
        (doc_id,) = qrels[q.query_id]
        assert q.query_id == "pq-" + doc_id and qrels[q.query_id][doc_id] == 1
    assert pseudo_queries(corpus, 3, seed=1) == (queries, qrels)  # seeded
    everything, _ = pseudo_queries(corpus, 100, exclude={"d1"})
    assert "pq-d1" not in {q.query_id for q in everything} and len(everything) == 4  # the empty d6 is skipped


def test_dev_evaluation_matches_the_engine(tiny_beir, tmp_path):
    """nDCG@10 of the in-training dev evaluation equals `tandem eval` on an inference-free index."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from tandem.retrieval.build import BuildConfig, build_index
    from tandem.retrieval.datasets import load_split
    from tandem.retrieval.idf_query import document_frequencies, idf_from_df
    from tandem.retrieval.models import load_pretrained, resolve_model
    from tandem.retrieval.searcher import Searcher
    from tandem.retrieval.training.validation import DevSet, evaluate_student

    with pytest.raises(TandemError, match="test split"):
        DevSet.load(str(tiny_beir), "test")
    dev = DevSet.load(str(tiny_beir), "dev")
    ref = resolve_model("splade-tiny")
    tokenizer, model = load_pretrained(AutoTokenizer, ref), load_pretrained(AutoModelForMaskedLM, ref)
    df, n = document_frequencies(tokenizer, dev.doc_texts, model.config.vocab_size)
    measured = evaluate_student(model, tokenizer, dev, torch.tensor(idf_from_df(df, n)), "inference-free", 256)

    index = tmp_path / "idx"
    build_index(BuildConfig(corpus=str(tiny_beir), sparse_mode="inference-free", dense=None), index, tiny_beir / "corpus.jsonl", log=lambda _: None)
    searcher = Searcher.open(index)
    eval_set = load_split(str(tiny_beir), "dev")
    import pytrec_eval

    run = {q.query_id: {h.doc_id: h.score for h in r.hits} for q, r in zip(eval_set.queries, searcher.batch_search([q.text for q in eval_set.queries], k=100, mode="sparse"))}
    scores = pytrec_eval.RelevanceEvaluator(eval_set.qrels, {"ndcg_cut.10"}).evaluate(run)
    expected = np.mean([scores[q]["ndcg_cut_10"] if q in scores else 0.0 for q in eval_set.qrels])
    assert measured["nDCG@10"] == pytest.approx(expected, abs=1e-6)
    stats = Searcher.open(index).manifest.segments[0].stats["sparse"]  # one segment: a fresh build
    assert measured["nnz"] == pytest.approx(stats["avg_nnz_per_doc"], rel=1e-3) and measured["flops"] == pytest.approx(stats["flops"], rel=1e-3)


@pytest.mark.slow
def test_training_keeps_the_best_dev_checkpoint_and_can_freeze_vocab(tiny_beir, tmp_path):
    from transformers import AutoModelForMaskedLM

    from tandem.retrieval.models import load_pretrained, resolve_model
    from tandem.retrieval.training.sparse import SparseTrainConfig, frozen_vocab_parameters, train_sparse
    from tandem.retrieval.training.teacher import TeacherRecord, ensemble, write_teacher_file

    records = []
    for i, (query, positive) in enumerate([("vitamin deficiency bones", "d3"), ("tower in paris", "d1"), ("plants make glucose", "d2"), ("programming typing", "d4")]):
        doc_ids = ["d1", "d2", "d3", "d4", "d5"]
        scores = {"dense": [1.0 if d == positive else 0.1 * j for j, d in enumerate(doc_ids)]}
        records.append(TeacherRecord(f"t{i}", query, doc_ids, scores, ensemble(scores).tolist(), [positive]))
    teacher_file = tmp_path / "teachers.jsonl"
    write_teacher_file(teacher_file, {"teachers": ["dense"], "scale": 30.0}, records)
    out = tmp_path / "student"
    config = SparseTrainConfig(teacher_file=str(teacher_file), corpus=str(tiny_beir / "corpus.jsonl"), out=str(out), candidates=3, batch_queries=2,
                               max_steps=4, lr=1e-3, lambda_d=1.0, warmup_steps=1, max_length=32, freeze="vocab",
                               dev_dataset=str(tiny_beir), dev_split="dev", eval_every=2)
    summary = train_sparse(config, log=lambda _: None)
    selection = summary["model_selection"]
    curve = selection["curve"]
    assert [c["step"] for c in curve] == [0, 2, 4]
    best = max(curve, key=lambda c: c["nDCG@10"])  # the first of equal values: the earliest step
    assert selection["selected_step"] == best["step"] and selection["selected"]["nDCG@10"] == best["nDCG@10"]
    assert json.loads((out / "tandem_training.json").read_text())["model_selection"]["selected_step"] == best["step"]

    original = load_pretrained(AutoModelForMaskedLM, resolve_model("splade-tiny"))
    trained = load_pretrained(AutoModelForMaskedLM, resolve_model(str(out)))
    for before, after in zip(frozen_vocab_parameters(original), frozen_vocab_parameters(trained)):
        torch.testing.assert_close(before, after)  # frozen: embeddings, decoder weights and bias unchanged
    # the shared layers trained: the saved ones are the initial ones exactly when step 0 was selected
    shared_unchanged = torch.equal(original.bert.encoder.layer[0].output.dense.weight, trained.bert.encoder.layer[0].output.dense.weight)
    assert shared_unchanged == (selection["selected_step"] == 0)


def test_student_scale_multiplies_scores_in_every_ranking_loss():
    from tandem.retrieval.training import losses
    from tandem.retrieval.training.sparse import SparseTrainConfig, ranking_loss

    torch.manual_seed(0)
    queries, docs, teacher = torch.rand(2, 6), torch.rand(2, 3, 6), torch.tensor([[30.0, 10.0, 0.0], [0.0, 30.0, 15.0]])
    student = torch.einsum("bv,bcv->bc", queries, docs)
    base = dict(teacher_file="t", corpus="c", out="o")
    kl = ranking_loss(SparseTrainConfig(**base), queries, docs, teacher, scale=0.2)
    assert kl.item() == pytest.approx(losses.kl_distillation(0.2 * student, teacher).item(), rel=1e-6)
    mm = ranking_loss(SparseTrainConfig(**base, loss="margin-mse"), queries, docs, teacher, scale=0.5)
    assert mm.item() == pytest.approx(losses.margin_mse_candidates(0.5 * student, teacher).item(), rel=1e-6)
    nce = ranking_loss(SparseTrainConfig(**base, loss="infonce"), queries, docs, teacher, scale=2.0)
    in_batch = 2.0 * queries @ docs.reshape(-1, 6).T  # query i's positive is its own first candidate, row 3 i
    assert nce.item() == pytest.approx(torch.nn.functional.cross_entropy(in_batch, torch.tensor([0, 3])).item(), rel=1e-6)
