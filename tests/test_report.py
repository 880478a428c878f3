"""`qfocus report`: the markdown table and the bar chart from eval run folders."""

from __future__ import annotations

import json

from qfocus.cli import main


def write_run(folder, scores, adapter=None, strategy="truncate") -> None:
    folder.mkdir(parents=True)
    metrics = {**scores, "mean_prompt_tokens": 512.4, "seconds_per_example": 3.25, "examples": 20,
               "config": {"data": "covidet", "split": "val", "summarize": {"strategy": strategy, "adapter": adapter}}}
    (folder / "metrics.json").write_text(json.dumps(metrics))


def test_report_table_and_chart(capsys, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"config": {"method": "ideal-lora", "memory": True, "segment": 512}}))
    (adapter / "summary.json").write_text(json.dumps({"steps": 64, "effective_batch": 4, "seconds_per_step": 7.1,
                                                      "median_step_seconds": 6.9}))
    write_run(tmp_path / "zero", {"rouge1": 20.0, "rouge2": 3.0, "rougeLsum": 15.0, "geometric_mean": 8.96})
    write_run(tmp_path / "ideal", {"rouge1": 25.5, "rouge2": 2.5, "rougeLsum": 19.25, "geometric_mean": 10.7},
              adapter=str(adapter), strategy="ideal")
    write_run(tmp_path / "lead", {"rouge1": 22.0, "rouge2": 4.0, "rougeLsum": 16.0, "geometric_mean": 11.2},
              strategy="lead")
    plot = tmp_path / "chart.png"
    code = main(["report", str(tmp_path / "zero"), str(tmp_path / "ideal"), str(tmp_path / "lead"), "--plot", str(plot)])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("| run | data | method | examples | R-1 | R-2 | R-Lsum | geo. mean |")
    assert lines[0].endswith("| prompt tokens | s/example | peak RSS MB | training |")  # no predictions: no intervals
    assert lines[2] == "| zero | covidet/val | zero-shot | 20 | 20.00 | 3.00 | 15.00 | 8.96 | 512 | 3.25 | - | - |"
    assert lines[3] == ("| ideal | covidet/val | ideal-lora + memory (S 512) | 20 | **25.50** | 2.50 | **19.25** | 10.70 "
                        "| 512 | 3.25 | - | 64 steps x 4, 6.9 s/step (median) |")
    assert lines[4] == "| lead | covidet/val | lead | 20 | 22.00 | **4.00** | 16.00 | **11.20** | 512 | 3.25 | - | - |"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000


def test_report_needs_eval_folders(capsys, tmp_path):
    code = main(["report", str(tmp_path), "--plot", str(tmp_path / "x.png")])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and "has no metrics.json" in err


def test_a_strategy_that_leaves_the_shipped_adapter_out_is_labelled_without_it(capsys, tmp_path):
    scores = {"rouge1": 20.0, "rouge2": 3.0, "rougeLsum": 15.0, "geometric_mean": 8.96}
    write_run(tmp_path / "shipped", scores, adapter="default")
    write_run(tmp_path / "focus", scores, adapter="default", strategy="focus")  # focus reads on the base model
    assert main(["report", str(tmp_path / "shipped"), str(tmp_path / "focus")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[2].startswith("| shipped | covidet/val | ideal-lora |")
    assert lines[3].startswith("| focus | covidet/val | focus |")


def test_an_answer_holding_a_line_separator_stays_one_row(tmp_path):
    from qfocus.evaluation.report import _predictions

    rows = [{"id": f"q{i}", "prediction": "first\u2028second\u0085third", "scores": {"rouge1": 1.0}} for i in range(2)]
    (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                                encoding="utf-8")
    ids, scores = _predictions(tmp_path)
    assert ids == ("q0", "q1") and scores == ({"rouge1": 1.0},) * 2
