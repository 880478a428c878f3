"""Score `retrieve`'s broad-query rule from a `qfocus compare` pair, without decoding again.

retrieve reads a broad query (--reach content, the default: none of its content words in any passage;
--reach all: its words in fewer than T of the passages, `DocumentIndex.reach`) exactly as `truncate`
does: the same prompt token for token (tests/test_chains.py), so the same greedy answer at batch size 1. Given a comparison with
`truncate` and `retrieve:broad_below=0` (every query retrieved) on the same examples, the rule's
answers are truncate's for the broad queries and retrieve's for the others. This writes, per T, the
rule's scores and its paired bootstrap 95% interval against truncate, overall and by query type, and
how the rule sorts general and specific queries (QMSum ids and SQuALITY's plot question name them).

    python benchmarks/broad_rule.py benchmarks/results/retrieval_cpu/cmp-squality-val-2k-shipped-retrieve --retrieve retrieve:broad_below=0
    python benchmarks/broad_rule.py benchmarks/results/retrieval_cpu/cmp-qmsum-val-2k-shipped-retrieve --retrieve retrieve

The dataset, split, model (its tokenizer) and passage size are read from the runs' metrics.json; a
retrieve run that already applied a rule (broad_below above 0) is refused.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transformers import AutoTokenizer

from by_query_type import kind, scored
from qfocus.config import BROAD_REACHES
from qfocus.data import load_dataset
from qfocus.evaluation.compare import folder_name
from qfocus.models import resolve_checkpoint
from qfocus.retrieval import Query, document_index


def summary(rows: list[dict], base: list[dict]) -> dict:
    """`rows`' scores, and their difference from `base` (the same examples) unless they are `base`."""
    baseline = None if rows is base else [b["scores"] for b in base]
    return {"examples": len(rows), **scored([r["scores"] for r in rows], baseline)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="a qfocus compare folder (or its copy under benchmarks/results/)")
    parser.add_argument("--baseline", default="truncate", help="the truncate run's spec")
    parser.add_argument("--retrieve", default="retrieve:broad_below=0", help="the retrieve run's spec (every query retrieved)")
    parser.add_argument("--reach", choices=BROAD_REACHES, default="content",
                        help="the query words the rule counts (retrieve --broad-reach); 'all' writes broad_rule.json, "
                             "'content' broad_rule_content.json")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.1, 0.2, 0.3],
                        help="--reach all: shares of passages to try; content has no threshold (no passage holds a content word)")
    parser.add_argument("--data-dir", help="where the dataset's files are, if not where the run read them")
    args = parser.parse_args()
    thresholds = ["none"] if args.reach == "content" else args.thresholds
    folder = Path(args.folder)
    base, retrieved = (json.loads((folder / folder_name(spec) / "per_example.json").read_text())
                       for spec in (args.baseline, args.retrieve))
    if [r["id"] for r in base] != [r["id"] for r in retrieved]:
        raise SystemExit(f"{args.baseline} and {args.retrieve} in {folder} hold different examples: pass one comparison's runs")
    run = json.loads((folder / folder_name(args.retrieve) / "metrics.json").read_text())["config"]
    settings = run["summarize"]
    if settings["strategy"] != "retrieve" or settings["retrieval"].get("broad_below", 0) > 0:
        raise SystemExit(f"{args.retrieve} is not retrieve with broad_below=0 (every query retrieved): "
                         "run qfocus compare with --strategies truncate,retrieve:broad_below=0")
    examples = {e.id: e for e in load_dataset(run["data"], run["split"], args.data_dir or run["data_dir"], run["data_file"])}
    tokenizer = AutoTokenizer.from_pretrained(resolve_checkpoint(settings["model"]), local_files_only=True)
    passage_tokens = settings["retrieval"]["passage_tokens"]
    reach = {r["id"]: document_index(tokenizer, examples[r["id"]].document, passage_tokens).reach(
        Query(examples[r["id"]].query), args.reach) for r in base}
    result = {"baseline": args.baseline, "retrieve": args.retrieve, "data": f"{run['data']}:{run['split']}",
              "words": args.reach, "reach": {k: round(v, 4) for k, v in reach.items()},
              "all": {args.baseline: summary(base, base), args.retrieve: summary(retrieved, base)}, "rule": {}}
    for t in thresholds:
        broad = [reach[r["id"]] == 0 if t == "none" else reach[r["id"]] < t for r in base]
        rule = [b if flag else r for b, r, flag in zip(base, retrieved, broad)]
        entry = {"broad": int(sum(broad)), "all": summary(rule, base), "by_type": {}}
        for query_type in ("general", "specific"):
            keep = [i for i, r in enumerate(base) if kind(r["id"]) == query_type]
            if keep:
                entry["by_type"][query_type] = {
                    "examples": len(keep), "broad": int(sum(broad[i] for i in keep)),
                    "retrieve": summary([retrieved[i] for i in keep], [base[i] for i in keep]),
                    "rule": summary([rule[i] for i in keep], [base[i] for i in keep])}
        result["rule"][str(t)] = entry
    name = "broad_rule.json" if args.reach == "all" else f"broad_rule_{args.reach}.json"
    (folder / name).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "reach"}, indent=1))


if __name__ == "__main__":
    main()
