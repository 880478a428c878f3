"""How well `retrieve`'s reach (the share of a document's passages that hold a word of the query,
`DocumentIndex.reach`: every word, or content words only) tells broad queries from specific ones, per
threshold, on whole splits (with each split's document lengths in tokens):
QMSum names its general queries, and SQuALITY's first question of every story is the plot question.
No model runs: the SmolLM2 tokenizer cuts the passages, BM25 decides which hold a query word.

    python benchmarks/broad_queries.py --out benchmarks/results/broad_queries.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from transformers import AutoTokenizer

from by_query_type import kind
from qfocus.config import BROAD_REACHES
from qfocus.data import load_dataset
from qfocus.models import resolve_checkpoint
from qfocus.retrieval import Query, document_index

SPLITS = ("qmsum:train", "qmsum:val", "squality:train", "squality:val")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", nargs="+", default=list(SPLITS))
    parser.add_argument("--thresholds", type=float, nargs="+",
                        default=[0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    parser.add_argument("--passage-tokens", type=int, default=128)
    parser.add_argument("--out", default="benchmarks/results/broad_queries.json")
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(resolve_checkpoint("smollm2"), local_files_only=True)
    result = {"passage_tokens": args.passage_tokens, "splits": {}}
    for name_split in args.splits:
        name, split = name_split.split(":")
        reach, general, lengths = {words: [] for words in BROAD_REACHES}, [], {}
        for example in load_dataset(name, split):
            index = document_index(tokenizer, example.document, args.passage_tokens)
            for words in BROAD_REACHES:
                reach[words].append(index.reach(Query(example.query), words))
            general.append(kind(example.id) == "general")
            lengths[example.document] = len(index.doc.ids)
        general = np.array(general)
        entry = {"queries": len(general), "general": int(general.sum()), "document_tokens": sorted(lengths.values()),
                 "reach": {}}
        for words in BROAD_REACHES:
            shares = np.array(reach[words])
            rows = {}
            for t in ["none", *args.thresholds]:  # none: no passage holds a query word (retrieve's content rule)
                broad = shares == 0 if t == "none" else shares < t
                rows[str(t)] = {"accuracy": round(float((broad == general).mean()), 3),
                                "general_called_broad": round(float(broad[general].mean()), 3),
                                "specific_called_broad": round(float(broad[~general].mean()), 3)}
            entry["reach"][words] = {"median_reach": {"general": round(float(np.median(shares[general])), 3),
                                                      "specific": round(float(np.median(shares[~general])), 3)},
                                     "thresholds": rows}
            best = max(rows, key=lambda t: rows[t]["accuracy"])
            print(f"{name_split}: {len(general)} queries ({int(general.sum())} general); {words} words: "
                  f"best threshold {best}: {rows[best]}")
        result["splits"][name_split] = entry
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
