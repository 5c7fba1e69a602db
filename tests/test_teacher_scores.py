"""Heterogeneous ensemble teacher: min-max ensemble by hand, teacher-file round trip and bad files."""
import gzip
import json

import numpy as np
import pytest

from tandem.index.errors import InputError, TandemError
from tandem.retrieval.training.teacher import (
    TeacherRecord, ensemble, ensemble_candidates, make_records, minmax_normalize, read_teacher_file, write_teacher_file,
)

# Two teachers on query q1; dense lacks candidate "d", bm25 lacks candidate "b".
SCORES = {
    "dense": {"q1": {"a": 0.2, "b": 0.6, "c": 1.0}, "q3": {"x": 1.0, "y": 3.0}},
    "bm25": {"q1": {"a": 10.0, "c": 30.0, "d": 20.0}, "q2": {"u": 5.0, "v": 5.0}},
}


def test_minmax_normalize():
    # (s - min) / (max - min): (2, 4, 3) -> (0, 1, 0.5)
    assert minmax_normalize([2.0, 4.0, 3.0]).tolist() == [0.0, 1.0, 0.5]
    assert minmax_normalize({"a": -1.0, "b": 1.0}) == {"a": 0.0, "b": 1.0}
    # constant scores (and a single candidate) carry no preference -> 0, never NaN
    assert minmax_normalize([7.0, 7.0]).tolist() == [0.0, 0.0]
    assert minmax_normalize({"only": 3.0}) == {"only": 0.0}
    assert minmax_normalize([]).tolist() == []
    with pytest.raises(InputError, match="finite"):
        minmax_normalize([1.0, float("nan")])


def test_minmax_ensemble_of_two_teachers_with_missing_candidates():
    out = ensemble(SCORES, scale=30.0)
    # q1 dense over (a, b, c): 0.2, 0.6, 1.0 -> 0, 0.5, 1; missing d -> 0
    # q1 bm25 over (a, c, d): 10, 30, 20 -> 0, 1, 0.5; missing b -> 0
    # mean * 30: a (0+0)/2*30 = 0, b (0.5+0)/2*30 = 7.5, c (1+1)/2*30 = 30, d (0+0.5)/2*30 = 7.5
    assert out["q1"] == pytest.approx({"a": 0.0, "b": 7.5, "c": 30.0, "d": 7.5})
    assert list(out["q1"]) == ["a", "b", "c", "d"]  # union in first-seen order, teachers in the given order
    # q2 only in bm25 with constant scores -> 0 everywhere; q3 only in dense: x 0, y 1 -> (1+0)/2*30 = 15
    assert out["q2"] == {"u": 0.0, "v": 0.0}
    assert out["q3"] == pytest.approx({"x": 0.0, "y": 15.0})
    assert list(out) == ["q1", "q3", "q2"]
    # weighted dense 3, bm25 1, scale 1: b = (3*0.5 + 1*0)/4 = 0.375, d = (3*0 + 1*0.5)/4 = 0.125
    weighted = ensemble(SCORES, {"dense": 3.0, "bm25": 1.0}, scale=1.0)
    assert weighted["q1"] == pytest.approx({"a": 0.0, "b": 0.375, "c": 1.0, "d": 0.125})
    # the per-query list form (None = not scored) gives the same numbers
    listed = ensemble({"dense": [0.2, 0.6, 1.0, None], "bm25": [10.0, None, 30.0, 20.0]}, scale=30.0)
    np.testing.assert_allclose(listed, [0.0, 7.5, 30.0, 7.5])
    np.testing.assert_allclose(ensemble_candidates({"dense": [0.2, 0.6, 1.0, None], "bm25": [10.0, None, 30.0, 20.0]}, {"dense": 3.0, "bm25": 1.0}, 1.0),
                               [0.0, 0.375, 1.0, 0.125])


@pytest.mark.parametrize("weights, message", [({"colbert": 1.0}, "unknown teacher"), ({"dense": -1.0}, "negative"),
                                              ({"dense": 0.0, "bm25": 0.0}, "sum to zero"), ({"dense": float("inf")}, "finite")])
def test_bad_weights(weights, message):
    with pytest.raises(TandemError, match=message):
        ensemble(SCORES, weights)


def _records():
    records = make_records(SCORES, {"dense": 2.0}, 30.0, queries={"q1": "what is a", "q2": "ü ∪ v"}, positives={"q1": ["c"]})
    records[0].ensemble[1] = 0.1 + 0.2  # a float with a long repr survives exactly
    records[0].scores["dense"][0] = 1 / 3
    return records


def test_make_records_aligns_raw_scores():
    r = make_records(SCORES)[0]
    assert (r.qid, r.doc_ids) == ("q1", ["a", "b", "c", "d"])
    assert r.scores == {"dense": [0.2, 0.6, 1.0, None], "bm25": [10.0, None, 30.0, 20.0]}
    assert r.ensemble == pytest.approx([0.0, 7.5, 30.0, 7.5])


@pytest.mark.parametrize("name", ["teachers.jsonl", "teachers.jsonl.gz"])
def test_teacher_file_round_trip(tmp_path, name):
    records = _records()
    path = tmp_path / name
    written = write_teacher_file(path, {"teachers": ["dense", "bm25"], "weights": {"dense": 2.0}, "scale": 30.0, "dataset": "toy"}, records)
    assert written["weights"] == {"dense": 2.0, "bm25": 1.0} and written["num_queries"] == 3
    assert {"normalization", "created", "dataset"} <= set(written)
    loaded = read_teacher_file(path)
    assert loaded.header == written
    assert loaded.records == records
    assert loaded.records[0].ensemble[1] == 0.1 + 0.2 and loaded.records[0].scores["dense"][0] == 1 / 3
    # writing what was read gives the same bytes
    again = tmp_path / ("again-" + name)
    write_teacher_file(again, loaded.header, loaded.records)
    assert again.read_bytes() == path.read_bytes()


def _lines(tmp_path):
    path = tmp_path / "teachers.jsonl"
    write_teacher_file(path, {"teachers": ["dense", "bm25"], "scale": 30.0}, _records())
    return path, path.read_text(encoding="utf-8").splitlines()


def _edit(line: str, **changes) -> str:
    data = json.loads(line)
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize("corrupt, line, message", [
    (lambda ls: ls[:2] + [ls[2][:40]] + ls[3:], 3, "malformed JSON"),
    (lambda ls: ls[:2] + [ls[2].replace('"ensemble": [0.0', '"ensemble": [NaN')] + ls[3:], 3, "non-finite"),
    (lambda ls: [ls[0], _edit(ls[1], ensemble=[1.0])] + ls[2:], 2, "differ in length"),
    (lambda ls: [ls[0], _edit(ls[1], scores={"dense": [1, 2, 3, 4]})] + ls[2:], 2, "exactly the header's teachers"),
    (lambda ls: [ls[0], ls[1], ls[1], ls[3]], 3, "appears twice"),
    (lambda ls: [ls[0], _edit(ls[1], qid=7)] + ls[2:], 2, "qid must be"),
    (lambda ls: [ls[0], '{"qid": "q9", "query": "x"}'] + ls[2:], 2, "lacks field"),
    (lambda ls: [ls[0], _edit(ls[1], ensemble=[0, "1", 2, 3])] + ls[2:], 2, "finite number"),
    (lambda ls: ls[:-1], 3, "truncated"),
    (lambda ls: [_edit(ls[0], format="something else")] + ls[1:], 1, "not a teacher-score file"),
    (lambda ls: [_edit(ls[0], teachers="dense")] + ls[1:], 1, "teachers"),
    (lambda ls: ["[1, 2]"] + ls[1:], 1, "JSON object"),
])
def test_corrupted_teacher_file_names_file_and_line(tmp_path, corrupt, line, message):
    path, lines = _lines(tmp_path)
    path.write_text("\n".join(corrupt(lines)) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message) as info:
        read_teacher_file(path)
    assert isinstance(info.value, TandemError)
    assert info.value.where == f"{path}:{line}"
    assert str(path) in str(info.value)


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "teachers.jsonl.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match="cannot read") as info:
        read_teacher_file(bad)
    assert info.value.where.startswith(str(bad))
    with pytest.raises(InputError, match="not found"):
        read_teacher_file(tmp_path / "missing.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        read_teacher_file(empty)
    good = tmp_path / "ok.jsonl.gz"
    write_teacher_file(good, {"teachers": ["dense", "bm25"], "scale": 30.0}, _records())
    assert len(gzip.decompress(good.read_bytes()).splitlines()) == 4


def test_writer_rejects_bad_records(tmp_path):
    path = tmp_path / "t.jsonl"
    bad = TeacherRecord("q1", "x", ["d1", "d2"], {"dense": [1.0, float("nan")]}, [0.0, 1.0])
    with pytest.raises(InputError, match="finite") as info:
        write_teacher_file(path, {"teachers": ["dense"], "scale": 30.0}, [bad])
    assert info.value.where == f"{path}:2" and not path.exists()
