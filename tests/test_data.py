"""Dataset readers on fixtures written here, and the real splits' sizes when ../shared/data exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qfocus.data import load_dataset, read_covidet, read_qmsum, read_squality, training_triples
from qfocus.data.qmsum import clean_utterance
from qfocus.errors import InputError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


MEETING = {
    "topic_list": [],
    "meeting_transcripts": [
        {"speaker": "Chair", "content": "Let us {vocalsound} begin . {disfmarker}"},
        {"speaker": "Ana", "content": "The budget {pause} is approved ."},
        {"speaker": "Ben", "content": "{vocalsound}"},
        {"speaker": "Ana", "content": "Next  we hire two  people ."},
    ],
    "general_query_list": [{"query": "Summarize the meeting.", "answer": "They approved the budget."}],
    "specific_query_list": [{"query": " What about hiring? ", "answer": "Two hires.", "relevant_text_span": [["3", "3"]]}],
}


def test_qmsum_turns_are_cleaned_and_every_query_is_an_example(tmp_path):
    examples = list(read_qmsum(write_jsonl(tmp_path / "val.jsonl", [MEETING])))
    assert [e.query for e in examples] == ["Summarize the meeting.", "What about hiring?"]
    assert examples[0].document == "Chair: Let us begin .\nAna: The budget is approved .\nAna: Next we hire two people ."
    assert examples[1].references == ("Two hires.",)
    assert clean_utterance("a {vocalsound}  b {disfmarker}") == "a b"


def test_qmsum_gold_spans_keep_only_the_relevant_turns(tmp_path):
    general, specific = read_qmsum(write_jsonl(tmp_path / "val.jsonl", [MEETING]), gold_spans=True)
    assert specific.document == "Ana: Next we hire two people ."
    assert general.document.startswith("Chair:")  # general queries keep the whole meeting


def test_squality_keeps_all_references_and_trains_on_each(tmp_path):
    story = {"metadata": {}, "document": " Once upon a time. ", "questions": [
        {"question_text": "What happens?", "question_number": 1,
         "responses": [{"response_text": "A", "worker_id": "w1", "uid": "u1"},
                       {"response_text": "B", "worker_id": "w2", "uid": "u2"}]}]}
    examples = list(read_squality(write_jsonl(tmp_path / "dev.jsonl", [story])))
    assert len(examples) == 1 and examples[0].references == ("A", "B")
    assert training_triples(examples) == [("What happens?", "Once upon a time.", "A"), ("What happens?", "Once upon a time.", "B")]


def test_covidet_groups_annotators_by_emotion_and_skips_na(tmp_path):
    posts = {"0": {"Reddit Post": "I got my shot.", "Annotations": {
        "Annotation 0": [{"Emotion": "fear", "Abstractive": "Scared of side effects."}, {"Emotion": "NA"}],
        "Annotation 1": [{"Emotion": "fear", "Abstractive": "Worried."}, {"Emotion": "joy", "Abstractive": "Relieved."}]}}}
    path = tmp_path / "val.json"
    path.write_text(json.dumps(posts))
    examples = {e.query: e for e in read_covidet(path)}
    assert set(examples) == {"Write a summary from the fear perspective", "Write a summary from the joy perspective"}
    assert examples["Write a summary from the fear perspective"].references == ("Scared of side effects.", "Worried.")


def test_malformed_lines_name_file_line_and_field(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(MEETING) + "\n{not json\n")
    with pytest.raises(InputError, match=r"train.jsonl:2: not valid JSON"):
        list(read_qmsum(path))
    broken = dict(MEETING, general_query_list=[{"answer": "x"}])
    with pytest.raises(InputError, match=r"train.jsonl:1: missing field 'query'"):
        list(read_qmsum(write_jsonl(path, [broken])))
    with pytest.raises(InputError, match=r"missing field 'Reddit Post'"):
        (tmp_path / "c.json").write_text(json.dumps({"0": {"Annotations": {"a": [{"Emotion": "joy", "Abstractive": "x"}]}}}))
        list(read_covidet(tmp_path / "c.json"))


def test_unknown_dataset_split_and_folder(tmp_path):
    with pytest.raises(InputError, match="unknown dataset 'xsum'"):
        load_dataset("xsum", "val")
    with pytest.raises(InputError, match="unknown split 'dev' of qmsum: use one of train, val, test"):
        load_dataset("qmsum", "dev")
    with pytest.raises(InputError, match="no test file"):  # a known split whose file the user has not got
        load_dataset("qmsum", "test", tmp_path)
    with pytest.raises(InputError, match="no such file"):
        load_dataset("qmsum", "val", tmp_path)


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared datasets are not beside the repository")
def test_real_split_sizes():
    assert len(load_dataset("qmsum", "train", SHARED / "qmsum")) == 1257
    assert len(load_dataset("qmsum", "val", SHARED / "qmsum")) == 272
    assert len(load_dataset("squality", "train", SHARED / "squality")) == 250
    assert len(load_dataset("squality", "val", SHARED / "squality")) == 125
    covidet = load_dataset("covidet", "val", SHARED / "covidet")
    assert len(training_triples(covidet)) == 1029 and all(e.references for e in covidet)
