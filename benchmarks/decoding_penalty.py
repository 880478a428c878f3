"""Where the repetition penalty applies: answer tokens only (qfocus) vs prompt + answer vs none.

transformers' `repetition_penalty` penalises every token already in the sequence, the 8K-token
document included, which pushes a summariser away from the document's own words. qfocus applies it
to the answer's tokens only. This script measures the difference on QMSum validation queries
(truncate, embedded model, greedy, 128 new tokens): ROUGE-1/2/Lsum F1 ×100 against the reference
and the share of distinct 4-grams in the answers (1.0 = no repeated phrase).

    python benchmarks/decoding_penalty.py --queries 6 --out benchmarks/results/decoding_penalty.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pysbd
import torch
from rouge_score import rouge_scorer

import qfocus
from qfocus.data import read_qmsum
from qfocus.strategies import get_strategy

ROOT = Path(__file__).resolve().parents[1]


def decode(lm, prompt_ids: list[int], scope: str, penalty: float) -> str:
    """Greedy answer with the penalty on 'answer' tokens, on 'prompt+answer' tokens, or 'none'."""
    if scope == "answer":
        config = qfocus.GenerationConfig(repetition_penalty=penalty)
    else:
        config = qfocus.GenerationConfig(repetition_penalty=1.0)
    if scope != "prompt+answer":
        from qfocus.generation import generate

        return generate(lm, prompt_ids, config).text
    ids = torch.tensor([prompt_ids])
    with torch.inference_mode():
        out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=config.max_new_tokens,
                                do_sample=False, repetition_penalty=penalty, pad_token_id=lm.tokenizer.pad_token_id)
    return lm.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


def distinct_4grams(text: str) -> float:
    words = text.lower().split()
    grams = list(zip(*(words[i:] for i in range(4))))
    return len(set(grams)) / len(grams) if grams else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "qmsum")
    parser.add_argument("--queries", type=int, default=6, help="first specific query of this many meetings")
    parser.add_argument("--penalty", type=float, default=1.15)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "decoding_penalty.json")
    args = parser.parse_args()

    lm = qfocus.load_model("smollm2", dtype="float32")
    examples = [e for e in read_qmsum(args.data_dir / "val.jsonl") if e.id.endswith("-specific-0")][: args.queries]
    splitter = pysbd.Segmenter(language="en", clean=False)
    lines = lambda text: "\n".join(s.strip() for s in splitter.segment(text))  # noqa: E731 (rougeLsum sentences)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)
    scopes = {"answer": [], "prompt+answer": [], "none": []}
    for example in examples:
        prompt = get_strategy("truncate").prepare(lm, example.document, example.query)
        for scope, rows in scopes.items():
            start = time.perf_counter()
            answer = decode(lm, prompt.input_ids, scope, args.penalty)
            score = scorer.score(lines(example.references[0]), lines(answer))
            rows.append({"id": example.id, "answer": answer, "seconds": round(time.perf_counter() - start, 1),
                         "distinct_4grams": round(distinct_4grams(answer), 3),
                         **{k: round(v.fmeasure * 100, 2) for k, v in score.items()}})
            print(f"{scope:14s} {example.id:22s} R-L {rows[-1]['rougeLsum']:5.1f}  {answer[:90]!r}", flush=True)
    summary = {
        scope: {k: round(sum(r[k] for r in rows) / len(rows), 2) for k in ("rouge1", "rouge2", "rougeLsum", "distinct_4grams")}
        for scope, rows in scopes.items()
    }
    report = {"command": "python benchmarks/decoding_penalty.py " + " ".join(sys.argv[1:]), "penalty": args.penalty,
              "queries": len(examples), "mean": summary, "rows": scopes}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    for scope, mean in summary.items():
        print(f"{scope:14s} " + "  ".join(f"{k} {v}" for k, v in mean.items()))


if __name__ == "__main__":
    main()
