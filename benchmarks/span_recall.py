"""How much of a QMSum query's gold span each selection puts in the window: no generation, only the
selection `retrieve` (or `truncate`) makes. QMSum marks, for every specific query, the transcript turns
that answer it (`relevant_text_span`); the recall of a selection is the share of those turns'
characters that reach the prompt. It tells selection apart from reading: if `retrieve` holds far more
of the gold span than `truncate` and its answers score no better, the reader is what limits.

    python benchmarks/span_recall.py --split train --limit 200 --out benchmarks/results/span_recall_train.json
    python benchmarks/span_recall.py --split val --out benchmarks/results/span_recall_val.json --runs \
        benchmarks/results/retrieval_cpu/cmp-qmsum-val-2k{,-he,-shipped-retrieve}

`truncate`'s spans are those its `--json` lists (the head and tail it keeps); every other spec is a
`retrieve` setting as `qfocus compare` takes it. With --runs (compare folders kept
by keep_comparison.py over the same queries, each holding `truncate` and a run of `retrieve` on every
query), the queries are their specific ones, and per reader the per-query change in recall is set
beside the per-query change in R-Lsum. --recall-from FILE recomputes only that comparison from a
JSON this script wrote.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from qfocus.config import SummarizeConfig
from qfocus.data import default_data_dir, load_dataset, spread
from qfocus.data.example import read_jsonl
from qfocus.data.qmsum import clean_utterance
from qfocus.evaluation.bootstrap import mean_interval
from qfocus.models import load_model
from qfocus.strategies import get_strategy, strategy_config

# "retrieve:broad_reach=all" is the default selection with the first broad rule: the committed JSONs, made
# before the content-word rule, name it "retrieve".
VARIANTS = ("truncate", "retrieve:broad_reach=all", "retrieve:broad_below=0", "retrieve:broad_below=0:coverage=0",
            "retrieve:broad_below=0:scorer=bm25", "retrieve:broad_below=0:scorer=dense",
            "retrieve:broad_below=0:coverage=0:passage_tokens=64", "retrieve:broad_below=0:coverage=0:passage_tokens=256")


def gold_masks(path: Path) -> dict[str, tuple[int, list[tuple[int, int]]]]:
    """Per specific query id: the document's length and the character spans of its gold turns, in the
    transcript as qfocus.data.qmsum formats it ("speaker: utterance" lines, empty turns skipped)."""
    golds = {}
    for number, meeting in read_jsonl(path):
        spans, position = {}, 0
        for i, turn in enumerate(meeting["meeting_transcripts"]):
            content = clean_utterance(turn["content"])
            if content:
                line = f"{turn['speaker']}: {content}"
                position += bool(spans)  # the newline before every line but the first
                spans[i] = (position, position + len(line))
                position += len(line)
        for index, item in enumerate(meeting["specific_query_list"]):
            turns = [t for s, e in item["relevant_text_span"] for t in range(int(s), int(e) + 1) if t in spans]
            golds[f"{path.stem}-{number}-specific-{index}"] = (position, [spans[t] for t in turns])
    return golds


def mask(length: int, spans) -> np.ndarray:
    out = np.zeros(length, dtype=bool)
    for start, end in spans:
        out[start:end] = True
    return out


def bootstrap(differences: np.ndarray) -> list[float]:
    """[mean, low, high] of the per-query differences (1,000 resamples, seed 0), to 4 decimals."""
    interval = mean_interval(differences)
    return [round(interval.difference, 4), round(interval.low, 4), round(interval.high, 4)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, help="specific queries spread over the split (default: all)")
    parser.add_argument("--runs", nargs="+", help="kept compare folders over the same queries (truncate and a retrieve "
                        "run every query; e.g. one per reader): their specific queries, and recall beside R-Lsum")
    parser.add_argument("--retrieve", default="retrieve", help="the retrieve run's folder in each of --runs")
    parser.add_argument("--retrieve-spec", default="retrieve:broad_below=0",
                        help="the variant whose recall that run's selection is (default: hybrid, every query retrieved)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--context-window", type=int, default=2048)
    parser.add_argument("--recall-from", help="a JSON this script wrote: take its queries and recalls instead of "
                        "selecting again (only the comparison with --runs is recomputed)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.recall_from:
        result = json.loads(Path(args.recall_from).read_text())
        recall = {v: entry["recall"] for v, entry in result["variants"].items()}
        result["against_rouge"] = {run: against_rouge(Path(run), args.retrieve, result["ids"], recall[args.retrieve_spec],
                                                      recall["truncate"]) for run in args.runs}
        print(json.dumps(result["against_rouge"], indent=1))
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        return

    path = default_data_dir("qmsum") / f"{args.split}.jsonl"
    golds = gold_masks(path)
    examples = [e for e in load_dataset("qmsum", args.split) if e.id in golds]
    if args.runs:
        wanted = [r["id"] for r in json.loads((Path(args.runs[0]) / "truncate" / "per_example.json").read_text())]
        by_id = {e.id: e for e in examples}
        examples = [by_id[i] for i in wanted if i in by_id]
    else:
        examples = spread(examples, args.limit)
    lm = load_model("smollm2", dtype="float32", decode_weights="full")  # the tokenizer and window; nothing is generated
    base = SummarizeConfig(context_window=args.context_window, adapter="none")
    strategies = {v: get_strategy(v.split(":")[0], strategy_config(base, v)) for v in args.variants}
    recall = {v: [] for v in args.variants}
    selected = {v: [] for v in args.variants}  # document tokens in the prompt
    for n, example in enumerate(examples, 1):
        length, spans = golds[example.id]
        assert length == len(example.document), example.id  # the spans index this very text
        gold = mask(length, spans)
        for variant, strategy in strategies.items():
            plan = strategy.plan(lm, example.document, example.query)
            chosen = mask(length, [(p["start"], p["end"]) for p in plan.passages])
            recall[variant].append(float((gold & chosen).sum() / max(1, gold.sum())))
            selected[variant].append(plan.prompt.kept_document_tokens)
        print(f"\r{n}/{len(examples)}", end="", file=sys.stderr)
    print(file=sys.stderr)

    result = {"split": args.split, "queries": len(examples), "context_window": args.context_window,
              "ids": [e.id for e in examples], "variants": {}}
    first = np.array(recall[args.variants[0]])
    for variant in args.variants:
        values = np.array(recall[variant])
        entry = {"mean_recall": round(float(values.mean()), 4),
                 "half_or_more": round(float((values >= 0.5).mean()), 4),
                 "none": round(float((values == 0).mean()), 4),
                 "mean_prompt_document_tokens": round(float(np.mean(selected[variant])), 1),
                 f"difference_vs_{args.variants[0]}": bootstrap(values - first),
                 "recall": [round(v, 4) for v in values]}
        result["variants"][variant] = entry
        print(f"{variant:60s} recall {entry['mean_recall']:.3f}  >=0.5 {entry['half_or_more']:.2f}  "
              f"none {entry['none']:.2f}  diff {entry[f'difference_vs_{args.variants[0]}']}")
    if args.runs:
        result["against_rouge"] = {run: against_rouge(Path(run), args.retrieve, [e.id for e in examples], recall[args.retrieve_spec],
                                                      recall["truncate"]) for run in args.runs}
        print(json.dumps(result["against_rouge"], indent=1))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


def against_rouge(runs: Path, retrieve: str, ids: list[str], retrieved: list[float], truncated: list[float]) -> dict:
    """Per-query change in gold recall (the --retrieve-spec selection minus truncate's) beside the change in
    R-Lsum between the two runs' answers: its correlation, and the mean R-Lsum change where retrieval
    gained much of the gold span and where it did not; and each run's mean R-Lsum by how much of the
    gold its own prompt held."""
    scores = {name: {r["id"]: r["scores"]["rougeLsum"] for r in json.loads((runs / name / "per_example.json").read_text())}
              for name in ("truncate", retrieve)}
    gained = np.array(retrieved) - np.array(truncated)
    rouge = np.array([scores[retrieve][i] - scores["truncate"][i] for i in ids])
    out = {"queries": len(ids), "correlation": round(float(np.corrcoef(gained, rouge)[0, 1]), 3), "bins": {}}
    for name, keep in (("recall gain >= 0.5", gained >= 0.5), ("0 < gain < 0.5", (gained > 0) & (gained < 0.5)),
                       ("no gain", gained <= 0)):
        if keep.any():
            out["bins"][name] = {"queries": int(keep.sum()), "mean_recall_gain": round(float(gained[keep].mean()), 3),
                                 "delta_rougeLsum": bootstrap(rouge[keep])}
    for name, recall, groups in (("truncate", np.array(truncated), (("none of the gold", 0, 0), ("some", 1e-9, 1))),
                                 (retrieve, np.array(retrieved), (("under half", 0, 0.5 - 1e-9), ("half or more", 0.5, 1)))):
        rlsum = np.array([scores[name][i] for i in ids])
        out[f"{name}_rougeLsum_by_own_recall"] = {
            label: {"queries": int(keep.sum()), "rougeLsum": round(float(rlsum[keep].mean()), 2)}
            for label, low, high in groups if (keep := (recall >= low) & (recall <= high)).any()}
    return out


if __name__ == "__main__":
    main()
