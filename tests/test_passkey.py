"""The pass-key benchmark's haystacks and report: the key sits where asked, the length is near the
target, the filler is the bundled example's own sentences, and the heat map is drawn."""

from __future__ import annotations

import pytest

from qfocus.bench.passkey import NEEDLE, filler_sentences, haystack, heat_map


@pytest.mark.parametrize("depth", [0.0, 0.5, 1.0])
def test_the_key_sits_at_the_asked_depth_of_a_haystack_of_the_asked_length(tiny_lm, depth):
    text = haystack(tiny_lm.tokenizer, 600, depth, 12345, seed=1)
    needle = NEEDLE.format(key=12345)
    assert text.count(needle) == 1
    tokens = len(tiny_lm.tokenizer.encode(text, add_special_tokens=False))
    assert 500 <= tokens <= 620
    where = text.index(needle) / max(1, len(text) - len(needle))
    assert abs(where - depth) < 0.1


def test_haystacks_differ_by_seed_and_use_the_example_sentences(tiny_lm):
    a, b = (haystack(tiny_lm.tokenizer, 400, 0.5, 1, seed=s) for s in (1, 2))
    assert a != b
    sentences = filler_sentences()
    assert len(sentences) > 50
    assert any(a.startswith(s) for s in sentences)  # the first line is one of the example's sentences


def test_heat_map_is_written(tmp_path):
    rows = [{"strategy": s, "length": n, "depth": d, "found": (d == 0.0) or s == "qllm"}
            for s in ("truncate", "qllm") for n in (4096, 8192) for d in (0.0, 0.5)]
    report = {"accuracy": {"truncate": {}, "qllm": {}}, "lengths": [4096, 8192], "depths": [0.0, 0.5],
              "rows": rows, "model": "tiny", "context_window": 256, "dtype": "float32"}
    heat_map(report, tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 1000


def test_bad_flags_are_one_line_errors(capsys):
    from qfocus.cli import main

    assert main(["bench", "passkey", "--out", "x.json", "--depths", "1.5"]) != 0
    assert "--depths" in capsys.readouterr().err
    assert main(["bench", "passkey", "--out", "x.json", "--strategies", "nope"]) != 0
    assert "unknown strategies" in capsys.readouterr().err


def test_bench_passkey_end_to_end_on_a_tiny_model(capsys, tmp_path, tiny_checkpoint):
    import json

    from qfocus.cli import main

    out = tmp_path / "pk.json"
    code = main(["bench", "passkey", "--model", str(tiny_checkpoint), "--lengths", "300", "--depths", "0", "1",
                 "--strategies", "truncate", "stream", "--context-window", "256", "--dtype", "float32", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    assert [(r["strategy"], r["depth"]) for r in report["rows"]] == [("truncate", 0.0), ("truncate", 1.0),
                                                                    ("stream", 0.0), ("stream", 1.0)]
    assert report["rows"][0]["truncated_tokens"] > 0 and report["rows"][2]["truncated_tokens"] == 0
    assert set(report["accuracy"]) == {"truncate", "stream"} and report["dtype"] == "float32"
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
