"""`qfocus synth`: InstructDS's filter rules, each synthetic-data strategy with crafted teacher outputs,
the budget ledger, resume after a kill (the same file as an uninterrupted run), a tiny model end to
end, `qfocus train --data-file`, and bad input as one-line errors."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from qfocus.cli import main
from qfocus.data import Example, read_triples
from qfocus.errors import InputError
from qfocus.synth import SynthConfig, Teacher, filters, progress_path, synthesize
from qfocus.synth.steps import Seed, answer_aug, instructds, new_question, rephrase, seed_items
from tests.test_train import tiny_config, write_covidet

SUMMARY = ("The committee agreed to replace the pumping station next spring. The treasurer warned that the budget "
           "allows only one new engineer, so hiring waits until the grant arrives in March.")


class Scripted(Teacher):
    """A teacher whose answers are crafted: `replies(kind, text)` gives each one; every call is counted
    the way the real teacher counts (prompt tokens = words of the request, answer tokens = words)."""

    def __init__(self, replies, fail_at: int | None = None):
        super().__init__(lm=None, strategy=None, generation=None)
        self.replies, self.fail_at, self.asked = replies, fail_at, []

    def _reply(self, kind: str, request: str, text: str) -> str:
        if self.fail_at is not None and self.ledger.calls >= self.fail_at:
            raise KeyboardInterrupt  # the process is killed here
        answer = self.replies(kind, text, request)
        self.asked.append((kind, text))
        self._count(len(request.split()) + len(text.split()), len(answer.split()))
        return answer

    def instruct(self, message, text, max_new_tokens=None):
        return self._reply("instruct:" + message.split()[0], message, text)

    def sample(self, message, text, n, max_new_tokens, seed):
        return [self._reply("sample", message, f"{text}#{i}") for i in range(n)]

    def summarize(self, document, query):
        return self._reply("summarize", document, query)


def crafted(kind: str, text: str, request: str = "") -> str:
    """Questions: a good one, one that copies the summary, a non-question, one nearly repeating the
    first, and an unanswerable one; checks answer with the summary's words unless the question is
    about the moon; any other query is rephrased."""
    if kind == "sample":
        number = int(text.rsplit("#", 1)[1])
        return ["1. What did the committee decide about the pumping station?",
                "Why does the treasurer say the budget allows only one new engineer, so hiring waits?",
                "pumping station",
                "What did the committee decide on the pumping station?",
                "What is the colour of the moon in the story?"][number % 5]
    if kind.startswith("instruct:Question"):
        return "not answered." if "moon" in text else request.split("Summary:\n", 1)[1]
    if kind.startswith("instruct:Rewrite"):
        return {"What was decided?": "Which decision did they take?", "Did they agree on the plan?": "did they agree on the plan"}.get(
            text, f"In other words: {text.lower()}?")
    if kind.startswith("instruct:Write"):
        return "What does the passage say about the budget?"
    return f"A summary for: {text}"


def seed(**overrides) -> Seed:
    values = dict(key="doc-1", document="Speaker A: the pumping station ...\nSpeaker B: the budget ...", query="Summarize the meeting.",
                  summary=SUMMARY, known=("Summarize the meeting.",))
    values.update(overrides)
    return Seed(**values)


# -- the filter's rules ------------------------------------------------------------------------------

def test_a_reply_s_first_question_is_taken():
    from qfocus.synth.steps import _first

    assert _first("The passage answers the question:\n1. What is the difference between the segments?") == \
        "What is the difference between the segments?"
    assert _first("No question here.") == "No question here." and _first("") == ""


def test_parse_questions_strips_numbering_and_bullets():
    text = "1. What was decided?\n\n2) Who objected?\n- Why now?\nQuestion 4: When?\n"
    assert filters.parse_questions(text) == ["What was decided?", "Who objected?", "Why now?", "When?"]


@pytest.mark.parametrize("text, expected", [
    ("What did the committee decide?", True), ("Summarize the budget discussion", True),
    ("pumping station", False), ("The committee met.", False), ("Why " + "very " * 45 + "long?", False),
])
def test_is_question(text, expected):
    assert filters.is_question(text) is expected


def test_leak_is_a_run_of_the_summary_words():
    assert filters.longest_shared_run("Why does the budget allows only one new engineer so hiring waits?", SUMMARY) >= 8
    assert filters.leaks("Why does the treasurer say the budget allows only one new engineer, so hiring waits?", SUMMARY)
    assert not filters.leaks("What did the committee decide about the pumping station?", SUMMARY)


def test_near_duplicate_by_word_sets():
    assert filters.near_duplicate("What did the committee decide on the pumping station?",
                                  ["What did the committee decide about the pumping station?"])
    assert not filters.near_duplicate("Who will be hired?", ["What did the committee decide about the pumping station?"])


@pytest.mark.parametrize("answer, expected", [
    ("The committee agreed to replace the pumping station.", True),
    ("Not answered.", False), ("", False),
    ("Penguins migrate across the frozen southern ocean every winter.", False),  # not from the summary
])
def test_answerable(answer, expected):
    assert filters.answerable(answer, SUMMARY) is expected


# -- each strategy on one seed, with crafted teacher outputs ---------------------------------------------

def test_instructds_keeps_the_good_question_and_counts_each_reason():
    teacher = Scripted(crafted)
    outcome = instructds(teacher, seed(), SynthConfig(queries=5))
    assert [t["query"] for t in outcome.triples] == ["What did the committee decide about the pumping station?"]
    assert outcome.triples[0]["summary"] == "A summary for: What did the committee decide about the pumping station?"
    assert outcome.triples[0]["document"] == seed().document and outcome.triples[0]["source"] == "doc-1"
    assert outcome.dropped == Counter({filters.LEAKS: 1, filters.NOT_A_QUESTION: 1, filters.DUPLICATE: 1,
                                       filters.UNANSWERABLE: 1})
    # the teacher is asked: 5 samples, 2 answerability checks (the good and the moon question), 1 summary
    assert [kind for kind, _ in teacher.asked].count("sample") == 5
    assert [kind for kind, _ in teacher.asked].count("instruct:Question:") == 2
    assert teacher.ledger.calls == 8


def test_instructds_summary_from_the_anchor():
    teacher = Scripted(lambda kind, text, request: crafted(kind, text, request) if kind != "summarize" else "from anchor")
    seen = []
    original = teacher.summarize
    teacher.summarize = lambda document, query: (seen.append(document), original(document, query))[1]
    instructds(teacher, seed(), SynthConfig(queries=1, summary_from="anchor"))
    assert seen == [SUMMARY]


def test_answer_aug_rephrase_new_question():
    teacher = Scripted(crafted)
    aug = answer_aug(teacher, seed(query="What was decided?"), SynthConfig())
    assert [(t["query"], t["summary"]) for t in aug.triples] == [("What was decided?", "A summary for: What was decided?")]
    same = rephrase(teacher, seed(query="Did they agree on the plan?"), SynthConfig())
    assert not same.triples and same.dropped == Counter({filters.DUPLICATE: 1})
    new = rephrase(teacher, seed(query="What was decided?", summary="the human reference"), SynthConfig())
    assert [(t["query"], t["summary"]) for t in new.triples] == [("Which decision did they take?", "the human reference")]
    asked = new_question(teacher, seed(), SynthConfig())
    assert [t["query"] for t in asked.triples] == ["What does the passage say about the budget?"]
    assert teacher.ledger.calls == 1 + 1 + 1 + 2


def test_seed_items_anchor_each_document_in_its_longest_reference():
    examples = [Example("a-0", "Summarize.", "doc A", ("short",)), Example("a-1", "Who?", "doc A", ("a much longer one",)),
                Example("b-0", "What?", "doc B", ("b",))]
    seeds = seed_items(examples, "instructds")
    assert [(s.key, s.summary, s.known) for s in seeds] == [("a-1", "a much longer one", ("Summarize.", "Who?")),
                                                           ("b-0", "b", ("What?",))]
    assert [s.key for s in seed_items(examples, "rephrase")] == ["a-0", "a-1", "b-0"]


# -- the run: budget, resume, files ----------------------------------------------------------------------

def covidet_config(tmp_path, **overrides) -> SynthConfig:
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_covidet(tmp_path)
    values = dict(data="covidet", data_dir=str(tmp_path), out=str(tmp_path / "synth" / "triples.jsonl"),
                  strategy="answer-aug", budget=5)
    values.update(overrides)
    return SynthConfig(**values)


def test_budget_stops_the_run_and_the_ledger_adds_up(tmp_path):
    config = covidet_config(tmp_path, budget=5)
    teacher = Scripted(crafted)
    totals = synthesize(config, teacher)
    assert totals["calls"] == teacher.ledger.calls == 5 and totals["triples"] == 5 and totals["items"] == 5
    assert totals["prompt_tokens"] == teacher.ledger.prompt_tokens and totals["answer_tokens"] == teacher.ledger.answer_tokens
    assert len(read_triples(config.out)) == 5
    records = [json.loads(line) for line in progress_path(config.out).read_text().splitlines()]
    assert "config" in records[0] and [r["calls"] for r in records[1:]] == [1] * 5
    # a larger budget extends the finished run; the same budget again does nothing
    assert synthesize(config, Scripted(crafted))["calls"] == 5
    assert synthesize(SynthConfig(**{**config.to_dict(), "budget": 7}), Scripted(crafted))["triples"] == 7


@pytest.mark.parametrize("strategy", ["instructds", "rephrase", "new-question", "answer-aug"])
def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path, strategy):
    whole = covidet_config(tmp_path / "whole", strategy=strategy, budget=9, queries=2)
    synthesize(whole, Scripted(crafted))
    cut = covidet_config(tmp_path / "cut", strategy=strategy, budget=9, queries=2)
    with pytest.raises(KeyboardInterrupt):
        synthesize(cut, Scripted(crafted, fail_at=4))
    # a half-written item's triples, and a line cut by the kill, are dropped on resume
    with open(cut.out, "a") as out:
        out.write(json.dumps({"query": "q", "document": "d", "summary": "s", "source": "unfinished"}) + "\n")
        out.write('{"query": "cut off by the ki')
    with open(progress_path(cut.out), "a") as log:
        log.write('{"key": "half')
    totals = synthesize(cut, Scripted(crafted))
    assert open(cut.out).read() == open(whole.out).read()
    assert totals == synthesize(whole, Scripted(crafted))
    assert totals["triples"] >= 2 and totals["calls"] >= 9  # the run made something to compare


def test_resume_with_other_settings_is_refused(tmp_path):
    config = covidet_config(tmp_path, budget=2)
    synthesize(config, Scripted(crafted))
    with pytest.raises(InputError, match="other settings .*strategy"):
        synthesize(SynthConfig(**{**config.to_dict(), "strategy": "rephrase"}), Scripted(crafted))


def test_a_run_from_before_a_setting_existed_resumes_at_its_default(tmp_path):
    config = covidet_config(tmp_path, budget=2)
    synthesize(config, Scripted(crafted))
    lines = open(progress_path(config.out)).read().splitlines()
    first = json.loads(lines[0])
    del first["config"]["decode_weights"]  # progress files written before --decode-weights
    open(progress_path(config.out), "w").write("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    assert synthesize(SynthConfig(**{**config.to_dict(), "budget": 4}), Scripted(crafted))["calls"] >= 4
    with pytest.raises(InputError, match="other settings .*decode_weights"):
        synthesize(SynthConfig(**{**config.to_dict(), "budget": 6, "decode_weights": "full"}), Scripted(crafted))


def test_the_order_follows_the_seed(tmp_path):
    def sources(seed: int, folder: str) -> list[str]:
        config = covidet_config(tmp_path / folder, budget=4, seed=seed)
        synthesize(config, Scripted(crafted))
        return [json.loads(line)["source"] for line in open(config.out)]

    first = sources(1, "a")
    assert first == sources(1, "b") and first != sources(2, "c") and len(first) == 4


# -- a tiny model end to end, and the files train reads ----------------------------------------------

def test_cli_synth_with_a_tiny_teacher_then_train_on_it(capsys, tmp_path, tiny_checkpoint):
    write_covidet(tmp_path)
    out = tmp_path / "synth.jsonl"
    argv = ["synth", "--data", "covidet", "--data-dir", str(tmp_path), "--teacher", str(tiny_checkpoint), "--adapter", "none",
            "--strategy", "instructds", "--queries", "2", "--budget", "6", "--max-new-tokens", "8",
            "--context-window", "200", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    totals = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert totals["calls"] >= 6 and sum(totals["dropped"].values()) + totals["triples"] >= 2
    assert totals["prompt_tokens"] > 0 and 0 < totals["answer_tokens"] <= 96 * totals["calls"]  # the longest request
    # a random model's questions rarely pass the filter: train on the file plus a crafted line
    with open(out, "a") as file:
        file.write(json.dumps({"query": "What worries the poster?", "document": "I got my shot today.", "summary": "The arm."}) + "\n")
    triples = read_triples(out)
    assert triples[-1] == ("What worries the poster?", "I got my shot today.", "The arm.")
    from qfocus.train.loop import _triples

    real = _triples(tiny_config(tmp_path, tiny_checkpoint, tmp_path / "run"))
    both = _triples(tiny_config(tmp_path, tiny_checkpoint, tmp_path / "run", data_file=(str(out),)))
    only = _triples(tiny_config(tmp_path, tiny_checkpoint, tmp_path / "run", data="none", data_file=(str(out),)))
    assert both == real + triples and only == triples
    few = _triples(tiny_config(tmp_path, tiny_checkpoint, tmp_path / "run", limit=3, data_file=(str(out),)))
    assert len(few) == 3 + len(triples) and few[3:] == triples  # --limit draws from --data's triples only


def test_train_data_file_errors(tmp_path, tiny_checkpoint):
    from qfocus.train.loop import _triples

    with pytest.raises(InputError, match="data is none"):
        tiny_config(tmp_path, tiny_checkpoint, tmp_path / "run", data="none")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"query": "q", "document": "d"}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:1: missing field 'summary'"):
        _triples(tiny_config(tmp_path, tiny_checkpoint, tmp_path / "run", data="none", data_file=(str(bad),)))


@pytest.mark.parametrize("argv, needle", [
    (["--strategy", "paraphrase"], "unknown synth strategy 'paraphrase'"),
    (["--split", "test"], "synthesise from train"),
    (["--budget", "0"], "budget is 0"),
    (["--summary-from", "nowhere"], "summary_from"),
    (["--data", "nosuch"], "unknown dataset 'nosuch'"),
    (["--decode-weights", "int8"], "decode_weights is 'int8'"),
])
def test_bad_input_is_one_line(capsys, tmp_path, argv, needle):
    from tests.test_cli import assert_one_line_error

    code = main(["synth", "--out", str(tmp_path / "x.jsonl"), *argv])
    assert_one_line_error(code, capsys.readouterr().err, needle)


def test_the_teacher_loads_with_the_decode_weights_asked_for(tmp_path, tiny_checkpoint, monkeypatch):
    import qfocus.models
    from qfocus.synth.run import load_teacher

    seen = {}
    real = qfocus.models.load_model
    monkeypatch.setattr(qfocus.models, "load_model", lambda *a, **k: seen.update(k) or real(*a, **k))
    teacher = load_teacher(covidet_config(tmp_path, teacher=str(tiny_checkpoint), adapter="none", decode_weights="int4"))
    assert seen["decode_weights"] == "int4" and teacher.lm.packed is not None and teacher.lm.packed.packed > 0


def test_an_existing_file_without_progress_is_refused(capsys, tmp_path):
    from tests.test_cli import assert_one_line_error

    write_covidet(tmp_path)
    (tmp_path / "x.jsonl").write_text("{}\n")
    code = main(["synth", "--data", "covidet", "--data-dir", str(tmp_path), "--out", str(tmp_path / "x.jsonl")])
    assert_one_line_error(code, capsys.readouterr().err, "exists without x.jsonl.progress")


def test_progress_without_its_triples_is_refused(tmp_path):
    config = covidet_config(tmp_path, budget=2)
    synthesize(config, Scripted(crafted))
    (tmp_path / "synth" / "triples.jsonl").unlink()
    with pytest.raises(InputError, match="is gone"):
        synthesize(config, Scripted(crafted))


def test_a_missing_triples_file_names_synth(tmp_path):
    with pytest.raises(InputError, match="no such triples file"):
        read_triples(tmp_path / "none.jsonl")
