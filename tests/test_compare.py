"""Comparing strategies: paired bootstrap = a naive loop, spread picks, test splits and --data-file,
and `qfocus compare` end to end on a tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qfocus.data import load_dataset, spread
from qfocus.errors import InputError
from qfocus.evaluation.bootstrap import mean_interval, paired_bootstrap
from reference_bootstrap import naive_mean_interval, naive_paired_bootstrap
from test_cli import assert_one_line_error, run_cli


def _rows(rng, n, shift=0.0):
    return [{"rouge1": 30 + shift + rng.normal(0, 5), "rouge2": max(0.1, 8 + shift + rng.normal(0, 3)),
             "rougeLsum": 25 + shift + rng.normal(0, 4)} for _ in range(n)]


def test_paired_bootstrap_equals_a_naive_loop():
    rng = np.random.default_rng(1)
    base, system = _rows(rng, 23), _rows(rng, 23, shift=1.5)
    fast = paired_bootstrap(base, system, resamples=200, seed=7)
    slow = naive_paired_bootstrap(base, system, resamples=200, seed=7)
    for metric, (point, low, high) in slow.items():
        got = fast[metric]
        assert (got.difference, got.low, got.high) == pytest.approx((point, low, high), abs=1e-3)
        assert got.low <= got.difference <= got.high


def test_mean_interval_equals_a_naive_loop():
    differences = list(np.random.default_rng(3).normal(0.2, 0.5, 31))
    got = mean_interval(differences, resamples=300, seed=5)
    assert (got.difference, got.low, got.high) == pytest.approx(naive_mean_interval(differences, 300, 5), abs=1e-12)
    assert got.low < got.difference < got.high
    with pytest.raises(ValueError):
        mean_interval([])


def test_identical_systems_have_a_zero_interval_and_a_shift_is_detected():
    rng = np.random.default_rng(2)
    base = _rows(rng, 60)
    same = paired_bootstrap(base, base)["geometric_mean"]
    assert (same.difference, same.low, same.high) == (0, 0, 0)
    better = [{k: v + 3 for k, v in r.items()} for r in base]
    assert paired_bootstrap(base, better)["rougeLsum"].low > 2.9


def test_spread_takes_every_kth_example():
    items = list(range(100))
    assert spread(items, 4) == [0, 25, 50, 75]
    assert spread(items, None) == items and spread(items, 500) == items
    assert spread(list(range(10)), 3) == [0, 3, 6]


def _meeting_jsonl(path, meetings=2, queries=3):
    lines = []
    for m in range(meetings):
        lines.append(json.dumps({
            "meeting_transcripts": [{"speaker": "A", "content": f"Meeting {m}: the board met about the budget."},
                                    {"speaker": "B", "content": "We agreed to ship the remote control in red."}],
            "general_query_list": [{"query": "Summarize the meeting.", "answer": "They met."}],
            "specific_query_list": [{"query": f"What was decided {q}?", "answer": "Red.", "relevant_text_span": [["1", "1"]]}
                                    for q in range(queries - 1)],
        }))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_test_split_and_data_file(tmp_path):
    with pytest.raises(InputError, match="no test file: put the dataset's test.jsonl in --data-dir, or pass --data-file"):
        load_dataset("qmsum", "test", tmp_path)
    _meeting_jsonl(tmp_path / "test.jsonl")
    assert len(load_dataset("qmsum", "test", tmp_path)) == 6
    other = _meeting_jsonl(tmp_path / "mine.jsonl", meetings=1)
    assert [e.id.split("-", 1)[0] for e in load_dataset("qmsum", "val", data_file=other)] == ["mine"] * 3
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InputError, match="no examples in this file"):
        load_dataset("qmsum", "val", data_file=tmp_path / "empty.jsonl")


def test_compare_runs_every_strategy_on_the_same_examples(capsys, tmp_path, tiny_checkpoint):
    data = _meeting_jsonl(tmp_path / "test.jsonl", meetings=3)
    out = tmp_path / "cmp"
    code, stdout, err = run_cli(capsys, "compare", "--data", "qmsum", "--split", "test", "--data-dir", str(tmp_path),
                                "--strategies", "truncate,retrieve:scorer=bm25,lead", "--limit", "4",
                                "--model", str(tiny_checkpoint), "--max-new-tokens", "4", "--resamples", "100",
                                "--out", str(out))
    assert code == 0, err
    ids = [[json.loads(line)["id"] for line in (out / name / "predictions.jsonl").read_text().splitlines()]
           for name in ("truncate", "retrieve-scorer-bm25", "lead")]
    assert ids[0] == ids[1] == ids[2] and len(ids[0]) == 4
    assert ids[0] == [e.id for e in spread(load_dataset("qmsum", "test", data_file=data), 4)]
    result = json.loads((out / "comparison.json").read_text())
    assert result["baseline"] == "truncate" and result["examples"] == 4
    assert [r["difference"] is None for r in result["runs"]] == [True, False, False]
    assert {"peak_rss_mb", "seconds_per_example", "geometric_mean"} <= set(result["runs"][1])
    assert (out / "comparison.png").stat().st_size > 1000
    assert "Δ geo. mean [95% CI]" in stdout and "baseline" in (out / "comparison.md").read_text()
    metrics = json.loads((out / "retrieve-scorer-bm25" / "metrics.json").read_text())
    assert metrics["config"]["summarize"]["retrieval"]["scorer"] == "bm25"
    # `qfocus report` shows the same intervals for runs over the same examples
    code, table, _ = run_cli(capsys, "report", str(out / "truncate"), str(out / "retrieve-scorer-bm25"),
                             "--plot", str(tmp_path / "r.png"))
    assert code == 0 and "Δ R-Lsum [95% CI]" in table and "n = 4" in table


def _tiny_run(command: str, tmp_path, checkpoint, meetings: int, *options: str) -> tuple[list[str], object]:
    """CLI arguments of `command` on a fixture test split of `meetings` meetings, and the output folder."""
    _meeting_jsonl(tmp_path / "test.jsonl", meetings=meetings)
    out = tmp_path / command
    return [command, "--data", "qmsum", "--split", "test", "--data-dir", str(tmp_path), *options,
            "--model", str(checkpoint), "--max-new-tokens", "4", "--out", str(out)], out


def test_resume_keeps_the_answers_of_a_stopped_run_and_answers_the_rest(capsys, tmp_path, tiny_checkpoint):
    args, out = _tiny_run("eval", tmp_path, tiny_checkpoint, 3, "--limit", "5", "--batch-size", "2")
    assert run_cli(capsys, *args)[0] == 0
    whole = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    # stopped after two answers, in the middle of writing the third; the second answer marked to show it is kept
    kept = [dict(whole[0]), dict(whole[1], prediction="KEPT")]
    (out / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept) + '{"id": "half')
    (out / "metrics.json").unlink()
    code, _, err = run_cli(capsys, *args, "--resume")
    assert code == 0, err
    resumed = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in resumed] == [r["id"] for r in whole]
    assert resumed[1]["prediction"] == "KEPT"
    assert [r["prediction"] for r in resumed[2:]] == [r["prediction"] for r in whole[2:]]  # the rest answered as before
    assert json.loads((out / "metrics.json").read_text())["resumed"] == 2
    # other settings, another model load, other examples, no settings: refused in one line
    code, _, err = run_cli(capsys, *args, "--resume", "--max-new-tokens", "6")
    assert_one_line_error(code, err, "other settings (summarize.generation.max_new_tokens)")
    fewer = [a if a != "5" else "4" for a in args]
    code, _, err = run_cli(capsys, *fewer, "--resume")
    assert_one_line_error(code, err, "other settings (limit)")
    settings = json.loads((out / "settings.json").read_text())
    assert settings["loaded"] == {"dtype": "float32", "decode_weights": "full", "device": "cpu"}
    (out / "metrics.json").unlink()
    (out / "settings.json").write_text(json.dumps({**settings, "loaded": {**settings["loaded"], "dtype": "bfloat16"}}))
    code, _, err = run_cli(capsys, *args, "--resume")
    assert_one_line_error(code, err, "holds answers of the model loaded as")
    # settings written before an option existed resume; retrieval settings do not matter to truncate
    older = json.loads(json.dumps(settings))
    del older["summarize"]["retrieval"]["specific_window"], older["summarize"]["retrieval"]["broad_reach"]
    (out / "settings.json").write_text(json.dumps(older))
    assert run_cli(capsys, *args, "--resume", "--specific-window", "512", "--coverage", "0.5")[0] == 0
    (out / "metrics.json").unlink()
    (out / "settings.json").unlink()
    code, _, err = run_cli(capsys, *args, "--resume")
    assert_one_line_error(code, err, "without the settings they were made with")
    # a finished run of an older version (metrics.json, no settings.json) is checked against its metrics' config
    assert run_cli(capsys, *args)[0] == 0
    (out / "settings.json").unlink()
    code, _, err = run_cli(capsys, *fewer, "--resume")
    assert_one_line_error(code, err, "other settings (limit)")
    # without --resume a run starts over
    assert run_cli(capsys, *args)[0] == 0
    assert [json.loads(line)["prediction"] for line in (out / "predictions.jsonl").read_text().splitlines()][1] != "KEPT"


def test_resume_fills_options_a_run_predates_with_the_old_behaviour_and_compares_what_matters():
    from copy import deepcopy
    from dataclasses import asdict

    from qfocus.config import SummarizeConfig
    from qfocus.evaluation.run import EvalConfig, _differences, _filled, _matters

    now = json.loads(json.dumps(asdict(EvalConfig(summarize=SummarizeConfig(strategy="retrieve")))))
    defaults = json.loads(json.dumps(asdict(EvalConfig())))
    saved = deepcopy(now)
    del saved["summarize"]["retrieval"]["broad_reach"], saved["summarize"]["retrieval"]["specific_window"]
    # specific_window's default is the old behaviour; broad_reach's is not: the run had the first rule ("all")
    assert _differences(_filled(saved, defaults), now) == ["summarize.retrieval.broad_reach"]
    del saved["summarize"]["retrieval"]  # a run from before retrieval settings existed: filled option by option
    retrieval = _filled(saved, defaults)["summarize"]["retrieval"]
    assert (retrieval["broad_reach"], retrieval["broad_below"], retrieval["specific_window"]) == ("all", 0.0, 0)
    assert _matters("summarize.retrieval.broad_reach", "retrieve") and _matters("summarize.retrieval.coverage", "route")
    assert not _matters("summarize.retrieval.broad_reach", "truncate") and not _matters("summarize.retrieval.coverage", "mapreduce")
    assert _matters("summarize.retrieval.map_batch", "mapreduce") and _matters("summarize.generation.max_new_tokens", "truncate")


def test_resumed_compare_leaves_finished_strategies_alone(capsys, tmp_path, tiny_checkpoint):
    args, out = _tiny_run("compare", tmp_path, tiny_checkpoint, 2, "--strategies", "truncate,lead", "--resamples", "100")
    assert run_cli(capsys, *args)[0] == 0
    finished = (out / "truncate" / "metrics.json").read_text()
    (out / "lead" / "metrics.json").unlink()  # lead stopped after its first answer
    lines = (out / "lead" / "predictions.jsonl").read_text().splitlines()
    (out / "lead" / "predictions.jsonl").write_text(lines[0] + "\n")
    code, _, err = run_cli(capsys, *args, "--resume")
    assert code == 0, err
    assert (out / "truncate" / "metrics.json").read_text() == finished  # not answered again, not rewritten
    assert json.loads((out / "lead" / "metrics.json").read_text())["resumed"] == 1
    def answers(text):
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in text.splitlines()]

    assert answers((out / "lead" / "predictions.jsonl").read_text()) == answers("\n".join(lines))
    assert json.loads((out / "comparison.json").read_text())["examples"] == len(lines)


@pytest.mark.parametrize("strategies, needle", [
    ("truncate,nope", "unknown strategy 'nope' in --strategies"),
    ("truncate,retrieve:bogus=1", "unknown setting 'bogus'"),
    ("truncate,retrieve:scorer", "is not key=value"),
    ("truncate,truncate", "names one spec twice"),
    ("truncate,retrieve:dtype=bfloat16", "shared by every strategy"),
])
def test_compare_bad_strategies_are_one_line(capsys, tmp_path, strategies, needle):
    code, _, err = run_cli(capsys, "compare", "--strategies", strategies, "--out", str(tmp_path))
    assert_one_line_error(code, err, needle)


def test_compare_refuses_strategy_flag_and_empty_split(capsys, tmp_path):
    code, _, err = run_cli(capsys, "compare", "--strategy", "retrieve", "--out", str(tmp_path))
    assert_one_line_error(code, err, "--strategies")
    (tmp_path / "val.jsonl").write_text("")
    code, _, err = run_cli(capsys, "compare", "--data", "qmsum", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"))
    assert_one_line_error(code, err, "no examples")


def test_per_query_type_table_scores_each_type_on_its_own_examples():
    from qfocus.evaluation.query_types import by_type, markdown, query_type
    from qfocus.evaluation.report import RunRow

    assert [query_type(i) for i in ("val-3-general-0", "val-3-specific-2", "story-1-q2")] == ["general", "specific", None]
    rng = np.random.default_rng(0)
    ids = tuple(f"val-{k}-{'general' if k % 4 == 0 else 'specific'}-0" for k in range(24))
    rows = [RunRow(name, "qmsum/val", "m", 24, {}, 0.0, 0.0, ids=ids, per_example=tuple(_rows(rng, 24, shift)))
            for name, shift in (("base", 0.0), ("better", 3.0))]
    table = by_type(rows, 0, 200)
    assert [(t["type"], t["examples"]) for t in table] == [("general", 6), ("specific", 18)]
    for entry in table:
        keep = [k for k, i in enumerate(ids) if entry["type"] in i]
        lsum = [np.mean([rows[r].per_example[k]["rougeLsum"] for k in keep]) for r in (0, 1)]
        assert [run["rougeLsum"] for run in entry["runs"]] == pytest.approx(lsum)
        expected = paired_bootstrap([rows[0].per_example[k] for k in keep], [rows[1].per_example[k] for k in keep], 200)
        assert entry["runs"][1]["difference_rougeLsum"] == str(expected["rougeLsum"])
        assert entry["runs"][0]["difference_rougeLsum"] is None
    assert "| general | 6 |" in markdown(table)
    untyped = [RunRow(r.name, r.data, r.method, 24, {}, 0.0, 0.0, ids=tuple(f"s-{k}" for k in range(24)),
                      per_example=r.per_example) for r in rows]
    assert by_type(untyped) == [] and markdown([]) == ""
