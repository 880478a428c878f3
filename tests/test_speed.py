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
from qfocus.errors import InputError
from qfocus.evaluation.run import EvalConfig, run_examples
from qfocus.hyper import HyperConfig, attach
from qfocus.models import load_model, resolve_dtype
from qfocus.strategies import get_strategy
from test_cli import assert_one_line_error, run_cli
from test_hyper import perturb

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


def _one_at_a_time(lm, strategy, examples):
    """The plain path: `Strategy.summarize` (chunked prefill + `generate`) for each example."""
    return [strategy.summarize(lm, e.document, e.query) for e in examples]


@pytest.mark.parametrize("name", ["truncate", "retrieve", "full"])
def test_batched_evaluation_equals_one_at_a_time(tmp_path, tiny_lm, name):
    generation = GenerationConfig(max_new_tokens=12, prefill_chunk=48)  # several prefill chunks per batch
    strategy = get_strategy(name, SummarizeConfig(strategy=name, generation=generation))
    examples = _examples() if name != "full" else [e for e in _examples() if len(e.document.split()) < 40]
    plain = _one_at_a_time(tiny_lm, strategy, examples)
    metrics, batched = _predictions(tiny_lm, strategy, examples, tmp_path, 3)  # batches of 3 and 2
    assert [r["prediction"] for r in batched] == [s.summary for s in plain]
    assert [(r["prompt_tokens"], r["model_calls"]) for r in batched] == [(s.prompt_tokens, s.model_calls) for s in plain]
    assert len({s.prompt_tokens for s in plain}) >= 2  # rows of different lengths: left padding is exercised
    assert metrics["batch_size"] == 3 and metrics["dtype"] == "float32"
    if name == "retrieve":
        together = strategy.summarize_batch(tiny_lm, [(e.document, e.query) for e in examples])
        assert [t.passages for t in together] == [s.passages for s in plain]


def test_batched_evaluation_with_a_hyperexpert_equals_one_at_a_time(tmp_path, tiny_checkpoint):
    lm = load_model(str(tiny_checkpoint))
    lm.expert = attach(lm.model, HyperConfig(method="ideal-lora"))
    perturb(lm.expert, seed=3)  # off its exact-identity initialisation
    generation = GenerationConfig(max_new_tokens=10, prefill_chunk=32)  # queries end past the first chunk
    strategy = get_strategy("truncate", SummarizeConfig(generation=generation))
    plain = _one_at_a_time(lm, strategy, _examples())
    _, batched = _predictions(lm, strategy, _examples(), tmp_path, 5)
    assert [r["prediction"] for r in batched] == [s.summary for s in plain]
    zero_shot = load_model(str(tiny_checkpoint))
    assert [s.summary for s in _one_at_a_time(zero_shot, strategy, _examples())] != [s.summary for s in plain]


def test_sampling_chains_and_cpu_bf16_are_not_batched(tmp_path, tiny_lm, tiny_checkpoint):
    sampled = get_strategy("truncate", SummarizeConfig(generation=GenerationConfig(max_new_tokens=4, temperature=0.7)))
    metrics, _ = _predictions(tiny_lm, sampled, _examples()[:3], tmp_path, 3)
    assert metrics["batch_size"] == 1  # a batch would change the random draws of each answer
    refine = get_strategy("refine", SummarizeConfig(context_window=200, generation=GenerationConfig(max_new_tokens=4)))
    metrics, _ = _predictions(tiny_lm, refine, _examples()[:2], tmp_path / "r", 3)
    assert metrics["batch_size"] == 1
    bf16 = load_model(str(tiny_checkpoint), dtype="bfloat16")  # batched bf16 on a CPU: not exact
    greedy = get_strategy("truncate", SummarizeConfig(generation=GenerationConfig(max_new_tokens=4)))
    metrics, _ = _predictions(bf16, greedy, _examples()[:3], tmp_path / "b", 3)
    assert metrics["batch_size"] == 1 and metrics["dtype"] == "bfloat16"


def test_auto_dtype_follows_the_hardware(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(qfocus.models, "native_bf16", lambda: True)
    assert resolve_dtype("auto", cpu) == torch.bfloat16 and resolve_dtype(None, cpu) == torch.bfloat16
    monkeypatch.setattr(qfocus.models, "native_bf16", lambda: False)
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("auto", cuda) == torch.bfloat16
    assert resolve_dtype("float32", cuda) == torch.float32 and resolve_dtype(torch.float16, cpu) == torch.float16
    with pytest.raises(InputError, match="dtype is 'fp8'"):
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
