"""The `qfocus` command line: every bad input gives exit 2 and one line; good input gives a summary."""

from __future__ import annotations

import io
import json
import sys

import pytest

from conftest import long_text
from qfocus.cli import main

QUERY = "What was decided?"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def doc(tmp_path):
    path = tmp_path / "meeting.md"
    path.write_text(long_text(120), encoding="utf-8")
    return path


@pytest.mark.parametrize("argv_tail, needles", [
    (["--query", QUERY], []),
])
def test_missing_file(capsys, tmp_path, argv_tail, needles):
    code, _, err = run_cli(capsys, "summarize", str(tmp_path / "absent.txt"), *argv_tail)
    assert_one_line_error(code, err, "absent.txt: no such file", "check the path")


def test_directory(capsys, tmp_path):
    assert_one_line_error(*run_cli(capsys, "summarize", str(tmp_path), "-q", QUERY)[::2], "is a directory")


@pytest.mark.parametrize("content", [b"", b"   \n\t  \n"])
def test_empty_or_whitespace_document(capsys, tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    code, _, err = run_cli(capsys, "summarize", str(path), "-q", QUERY)
    assert_one_line_error(code, err, "empty.txt is empty")


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query(capsys, doc, query):
    code, _, err = run_cli(capsys, "summarize", str(doc), "-q", query)
    assert_one_line_error(code, err, "query is empty", "--query")


def test_query_flag_missing(capsys, doc):
    code, _, err = run_cli(capsys, "summarize", str(doc))
    assert_one_line_error(code, err, "--query", "--help")


def test_binary_document(capsys, tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    code, _, err = run_cli(capsys, "summarize", str(path), "-q", QUERY)
    assert_one_line_error(code, err, "looks binary", "offset 8")


def test_non_utf8_document_names_the_byte_offset(capsys, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Caf\u00e9 minutes".encode("latin-1"))
    code, _, err = run_cli(capsys, "summarize", str(path), "-q", QUERY)
    assert_one_line_error(code, err, "not UTF-8", "0xe9 at offset 3", "iconv")


def test_document_over_size_limit(capsys, doc):
    code, _, err = run_cli(capsys, "summarize", str(doc), "-q", QUERY, "--max-bytes", "100")
    assert_one_line_error(code, err, "larger than the 100-byte limit", "--max-bytes")


def test_stdin_over_size_limit_and_empty(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x" * 500)))
    assert_one_line_error(*run_cli(capsys, "summarize", "-", "-q", QUERY, "--max-bytes", "100")[::2], "stdin is larger")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\n\n")))
    assert_one_line_error(*run_cli(capsys, "summarize", "-", "-q", QUERY)[::2], "stdin is empty")


def test_unreadable_file(capsys, doc, monkeypatch):
    from pathlib import Path

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    code, _, err = run_cli(capsys, "summarize", str(doc), "-q", QUERY)
    assert_one_line_error(code, err, "cannot be read (permission denied)")


def test_unknown_strategy(capsys, doc):
    code, _, err = run_cli(capsys, "summarize", str(doc), "-q", QUERY, "--strategy", "magic")
    assert_one_line_error(code, err, "unknown strategy 'magic'", "truncate")


def test_unknown_model(capsys, doc):
    code, _, err = run_cli(capsys, "summarize", str(doc), "-q", QUERY, "--model", "gpt-17")
    assert_one_line_error(code, err, "unknown model 'gpt-17'", "smollm2")


def test_bad_option_value(capsys, doc):
    code, _, err = run_cli(capsys, "summarize", str(doc), "-q", QUERY, "--max-new-tokens", "0")
    assert_one_line_error(code, err, "max_new_tokens is 0")
    code, _, err = run_cli(capsys, "summarize", str(doc), "-q", QUERY, "--max-new-tokens", "many")
    assert_one_line_error(code, err, "invalid int value")


def test_document_too_long_for_full(capsys, tmp_path, tiny_checkpoint):
    path = tmp_path / "long.txt"
    path.write_text(long_text(3000))
    code, _, err = run_cli(capsys, "summarize", str(path), "-q", QUERY, "--model", str(tiny_checkpoint),
                           "--strategy", "full")
    assert_one_line_error(code, err, "fit the 256-token window", "--strategy truncate")


def test_json_output(capsys, doc, tiny_checkpoint):
    code, out, err = run_cli(capsys, "summarize", str(doc), "-q", QUERY, "--model", str(tiny_checkpoint),
                             "--max-new-tokens", "8", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) >= {"summary", "strategy", "model", "prompt_tokens", "document_tokens",
                           "truncated_tokens", "seconds"}
    assert result["strategy"] == "truncate" and result["model"] == str(tiny_checkpoint)
    assert result["prompt_tokens"] + 8 <= 256 and result["truncated_tokens"] > 0


def test_streams_answer_from_stdin(capsys, monkeypatch, tiny_checkpoint):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(long_text(40).encode())))
    code, out, err = run_cli(capsys, "summarize", "-", "-q", QUERY, "--model", str(tiny_checkpoint),
                             "--max-new-tokens", "6", "--repetition-penalty", "1.0")
    assert code == 0, err
    assert out.endswith("\n") and out.strip()


def test_yaml_config_mirrors_flags(capsys, doc, tmp_path, tiny_checkpoint):
    config = tmp_path / "run.yaml"
    config.write_text(f"model: {tiny_checkpoint}\ngeneration:\n  max_new_tokens: 5\n")
    code, out, err = run_cli(capsys, "summarize", str(doc), "-q", QUERY, "--config", str(config), "--json")
    assert code == 0, err
    assert json.loads(out)["answer_tokens"] <= 5
    config.write_text("modle: smollm2\n")
    assert_one_line_error(*run_cli(capsys, "summarize", str(doc), "-q", QUERY, "--config", str(config))[::2],
                          "unknown key(s) modle")


def test_ctrl_c_exits_130(capsys, doc, tiny_checkpoint, monkeypatch):
    import qfocus.strategies.base as base

    def interrupted(lm, ids, config, callbacks=None, query_mask=None):
        callbacks.on_token("partial answer")
        raise KeyboardInterrupt

    monkeypatch.setattr(base, "generate", interrupted)
    code, out, err = run_cli(capsys, "summarize", str(doc), "-q", QUERY, "--model", str(tiny_checkpoint))
    assert code == 130
    assert out == "partial answer"
    assert err.strip() == "qfocus: interrupted"


@pytest.mark.parametrize("argv", [["--help"], ["summarize", "--help"], ["eval", "--help"], ["train", "--help"],
                                  ["report", "--help"], ["bench", "adapters", "--help"], ["bench", "long-context", "--help"],
                                  ["synth", "--help"], ["route", "--help"]])
def test_help_teaches_with_examples(capsys, argv):
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0
    assert "examples:" in out and f"qfocus {argv[0] if argv[0] != '--help' else 'summarize'}" in out


def test_no_command_prints_help_and_exits_2(capsys):
    code, _, err = run_cli(capsys)
    assert code == 2 and "summarize" in err


def test_summarize_with_a_saved_adapter(capsys, doc, tmp_path, tiny_checkpoint):
    from qfocus.hyper import HyperConfig, attach
    from qfocus.models import load_model

    lm = load_model(str(tiny_checkpoint))
    attach(lm.model, HyperConfig(method="ideal-lora")).save(tmp_path / "adapter")
    code, out, err = run_cli(capsys, "summarize", str(doc), "-q", QUERY, "--model", str(tiny_checkpoint),
                             "--adapter", str(tmp_path / "adapter"), "--max-new-tokens", "5", "--json")
    assert code == 0, err
    assert json.loads(out)["answer_tokens"] <= 5
    code, _, err = run_cli(capsys, "summarize", str(doc), "-q", QUERY, "--adapter", str(tmp_path))
    assert_one_line_error(code, err, "is not a qfocus adapter")


def test_adapter_from_another_model_is_refused(capsys, doc, tmp_path, tiny_checkpoint, tiny_base_checkpoint):
    from qfocus.hyper import HyperConfig, attach
    from qfocus.models import load_model

    attach(load_model(str(tiny_base_checkpoint)).model, HyperConfig(method="lora")).save(tmp_path / "other")
    code, _, err = run_cli(capsys, "summarize", str(doc), "-q", QUERY, "--model", str(tiny_checkpoint),
                           "--adapter", str(tmp_path / "other"))
    assert_one_line_error(code, err, "different base model")


def test_eval_writes_predictions_and_metrics(capsys, tmp_path, tiny_checkpoint):
    posts = {str(i): {"Reddit Post": f"Post {i}: I got my shot and felt fine.", "Annotations": {
        "a": [{"Emotion": "fear", "Abstractive": "Scared of the shot."}, {"Emotion": "joy", "Abstractive": "Felt fine."}]}}
        for i in range(3)}
    (tmp_path / "val.json").write_text(json.dumps(posts))
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "eval", "--data", "covidet", "--data-dir", str(tmp_path), "--limit", "4",
                                "--model", str(tiny_checkpoint), "--max-new-tokens", "6", "--out", str(out))
    assert code == 0, err
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {"id", "query", "prediction", "references", "scores"} <= set(rows[0])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["examples"] == 4 and metrics["config"]["summarize"]["generation"]["max_new_tokens"] == 6
    assert {"rouge1", "rouge2", "rougeLsum", "geometric_mean", "mean_prompt_tokens", "seconds_per_example"} <= set(metrics)
    assert metrics["rouge1"] == round(sum(r["scores"]["rouge1"] for r in rows) / 4, 3)
    assert "rougeLsum" in stdout


def test_eval_bad_dataset_is_one_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "eval", "--data", "xsum", "--out", str(tmp_path))
    assert_one_line_error(code, err, "unknown dataset 'xsum'")


def test_building_the_cli_does_not_import_torch():
    """`qfocus --help` and `qfocus report` stay fast: flags come from configs that need no torch."""
    import subprocess

    code = "import sys; from qfocus.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
