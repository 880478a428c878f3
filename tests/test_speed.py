"""The fast path: batched evaluation answers exactly as one at a time, `--dtype` resolves as documented,
bf16 logits stay close to fp32, and bad values are one-line errors. Speed itself lives in
`qfocus bench speed`, not here."""

from __future__ import annotations

import json

import pytest
import torch

import qfocus.models
from conftest import long_text
from qfocus.config import GenerationConfig, SummarizeConfig
from qfocus.data.example import Example
from qfocus.errors import InputError, ModelNotAvailable
from qfocus.evaluation.run import EvalConfig, run_examples
from qfocus.hyper import HyperConfig, attach
from qfocus.models import load_model, resolve_dtype
from qfocus.strategies import get_strategy
from test_cli import assert_one_line_error, run_cli

QUERIES = ["What was decided?", "Who presented the survey results to the board on Tuesday?", "Why?",
           "What did speaker B say about the data?", "Summarize the meeting."]


def _examples() -> list[Example]:
    """Documents longer and shorter than the tiny 256-token window, queries of different lengths."""
    sizes = [400, 3, 900, 12, 25]
    return [Example(f"e{i}", q, long_text(n) + f" Item {i}.", ("The board agreed.",))
            for i, (q, n) in enumerate(zip(QUERIES, sizes))]


def _predictions(lm, strategy, examples, out, batch):
    config = EvalConfig(out=str(out / f"b{batch}"), batch_size=batch, summarize=strategy.config)
    metrics = run_examples(lm, strategy, examples, config)
    rows = [json.loads(line) for line in (out / f"b{batch}" / "predictions.jsonl").read_text().splitlines()]
    return metrics, rows


@pytest.mark.parametrize("name", ["truncate", "retrieve"])
def test_batched_evaluation_equals_one_at_a_time(tmp_path, tiny_lm, name):
    config = SummarizeConfig(strategy=name, generation=GenerationConfig(max_new_tokens=12))
    strategy = get_strategy(name, config)
    single_metrics, single = _predictions(tiny_lm, strategy, _examples(), tmp_path, 1)
    batched_metrics, batched = _predictions(tiny_lm, strategy, _examples(), tmp_path, 3)  # batches of 3 and 2
    keys = ("id", "prediction", "prompt_tokens", "model_calls", "scores")
    assert [{k: r[k] for k in keys} for r in batched] == [{k: r[k] for k in keys} for r in single]
    assert len({r["prompt_tokens"] for r in single}) > 2  # left padding is exercised
    assert batched_metrics["geometric_mean"] == single_metrics["geometric_mean"]
    assert batched_metrics["config"]["batch_size"] == 3
    if name == "retrieve":
        direct = strategy.summarize(tiny_lm, _examples()[0].document, QUERIES[0])
        assert strategy.summarize_batch(tiny_lm, [(_examples()[0].document, QUERIES[0])])[0].passages == direct.passages


def test_batched_evaluation_with_a_hyperexpert_equals_one_at_a_time(tmp_path, tiny_checkpoint):
    lm = load_model(str(tiny_checkpoint))
    lm.expert = attach(lm.model, HyperConfig(method="ideal-lora"))
    torch.manual_seed(3)
    with torch.no_grad():  # move the adapter off its exact-identity initialisation
        for parameter in lm.expert.named_adapter_parameters().values():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    strategy = get_strategy("truncate", SummarizeConfig(generation=GenerationConfig(max_new_tokens=10)))
    _, single = _predictions(lm, strategy, _examples(), tmp_path, 1)
    _, batched = _predictions(lm, strategy, _examples(), tmp_path, 5)
    assert [r["prediction"] for r in batched] == [r["prediction"] for r in single]


def test_auto_dtype_follows_the_hardware(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(qfocus.models, "native_bf16", lambda: True)
    assert resolve_dtype("auto", cpu) == torch.bfloat16 and resolve_dtype(None, cpu) == torch.bfloat16
    monkeypatch.setattr(qfocus.models, "native_bf16", lambda: False)
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("auto", cuda) == torch.bfloat16
    assert resolve_dtype("float32", cuda) == torch.float32 and resolve_dtype(torch.float16, cpu) == torch.float16
    with pytest.raises(ModelNotAvailable, match="unknown dtype 'fp8'"):
        resolve_dtype("fp8", cpu)
    with pytest.raises(InputError, match="dtype is 'half'"):
        SummarizeConfig(dtype="half")


def test_bf16_logits_are_close_to_fp32(tiny_checkpoint):
    """bf16 keeps 8 bits of mantissa: logits within 2% of their fp32 range, same top token almost always."""
    exact = load_model(str(tiny_checkpoint), dtype="float32")
    fast = load_model(str(tiny_checkpoint), dtype="bfloat16")
    assert next(fast.model.parameters()).dtype == torch.bfloat16
    ids = exact.tokenizer(long_text(150), return_tensors="pt").input_ids
    with torch.no_grad():
        reference = exact.model(ids).logits[0]  # (T, vocab)
        logits = fast.model(ids).logits[0].float()
    scale = reference.abs().max()
    torch.testing.assert_close(logits, reference, atol=0.02 * float(scale), rtol=0)
    agree = (logits.argmax(-1) == reference.argmax(-1)).float().mean()
    assert agree > 0.9


def test_bad_dtype_and_batch_size_are_one_line(capsys, tmp_path):
    document = tmp_path / "d.md"
    document.write_text("The board met.")
    code, _, err = run_cli(capsys, "summarize", str(document), "--query", "What?", "--dtype", "fp8")
    assert_one_line_error(code, err, "dtype is 'fp8'")
    code, _, err = run_cli(capsys, "eval", "--batch-size", "0", "--out", str(tmp_path / "e"))
    assert_one_line_error(code, err, "batch_size is 0")
