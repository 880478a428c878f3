#!/usr/bin/env bash
# Reading the whole document vs cutting it (docs/results.md, "Selection over the whole document"):
# truncate against retrieve, mapreduce and refine at a 2,048-token window on QMSum validation queries
# spread over all 35 meetings, zero-shot and with the gold-span HyperExpert, every comparison with
# paired bootstrap 95% intervals.
#   bash benchmarks/quality_retrieval_cpu.sh     # ~3.5 h on 2 CPU cores; runs go to runs/, results to benchmarks/results/retrieval_cpu/
# Set STEPS="1 3" to run some steps only (steps 5-12 are not in the default).
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFOCUS:-.venv/bin/qfocus}
R=benchmarks/results/retrieval_cpu
W="--data qmsum --split val --context-window 2048 --dtype float32"
STEPS=${STEPS:-1 2 3 4}
FOCUSED=retrieve:specific_window=1024:passage_tokens=256:coverage=0
OLD_RULE="--broad-reach all --broad-below 0.2"  # retrieve's first broad-query rule, the default until 2026-11-25

keep() {  # the small results of one comparison: tables, metrics, per-example scores (no dataset text)
  .venv/bin/python benchmarks/keep_comparison.py "$1" "$R"
}

for step in $STEPS; do
  case $step in
  1)  # zero-shot: 120 queries
    [ -f runs/cmp-qmsum-val-2k/comparison.json ] || $Q compare $W --strategies truncate,retrieve --limit 120 --out runs/cmp-qmsum-val-2k
    keep runs/cmp-qmsum-val-2k ;;
  2)  # the gold-span HyperExpert of quality_cpu.sh (128 triples, 32 steps of 4), then the same 120 queries
    [ -f runs/qmsum-ideal-lora/adapter_config.json ] || $Q train --data qmsum-gold --method ideal-lora --limit 128 \
      --batch-size 4 --max-steps 32 --max-input-tokens 1024 --save-every 8 --out runs/qmsum-ideal-lora
    [ -f runs/cmp-qmsum-val-2k-he/comparison.json ] || \
      $Q compare $W --strategies truncate,retrieve --limit 120 --adapter runs/qmsum-ideal-lora --out runs/cmp-qmsum-val-2k-he
    keep runs/cmp-qmsum-val-2k-he ;;
  3)  # retrieval variants: scorer and coverage share (0, the default 0.25, 0.5, 1 = evenly spaced only), paired in one run; 24 queries
    $Q compare $W --strategies truncate,retrieve,retrieve:scorer=bm25,retrieve:coverage=0,retrieve:coverage=0.5,retrieve:coverage=1 \
      --limit 24 --out runs/cmp-qmsum-val-2k-variants
    keep runs/cmp-qmsum-val-2k-variants ;;
  4)  # the chains (many model calls per query), MuGI and the lead floor; 8 queries
    $Q compare $W --strategies truncate,retrieve:mugi=true,mapreduce,refine,lead --limit 8 --out runs/cmp-qmsum-val-2k-chains
    keep runs/cmp-qmsum-val-2k-chains ;;
  # Steps 5-7 run retrieve with --broad-below 0 (every query retrieved); the default rule (broad queries read
  # truncate's head and tail, the same prompt token for token) is scored from the pair: benchmarks/broad_rule.py.
  5)  # the shipped adapter (the product default, bf16 + packed decoding): truncate vs retrieve on the same 120 queries
    [ -f runs/cmp-qmsum-val-2k-shipped-retrieve/comparison.json ] || $Q compare --data qmsum --split val --context-window 2048 \
      --batch-size 1 --strategies truncate,retrieve:broad_below=0 --limit 120 --out runs/cmp-qmsum-val-2k-shipped-retrieve
    keep runs/cmp-qmsum-val-2k-shipped-retrieve ;;
  6)  # SQuALITY dev, all 125 questions: the shipped adapter, truncate vs retrieve
    [ -f runs/cmp-squality-val-2k-shipped-retrieve/comparison.json ] || $Q compare --data squality --split val --context-window 2048 \
      --batch-size 1 --strategies truncate,retrieve:broad_below=0 --out runs/cmp-squality-val-2k-shipped-retrieve
    keep runs/cmp-squality-val-2k-shipped-retrieve ;;
  7)  # SQuALITY dev, all 125 questions, zero-shot
    [ -f runs/cmp-squality-val-2k-retrieve/comparison.json ] || $Q compare --data squality --split val --context-window 2048 \
      --batch-size 1 --strategies truncate:adapter=none,retrieve:adapter=none:broad_below=0 --out runs/cmp-squality-val-2k-retrieve
    keep runs/cmp-squality-val-2k-retrieve ;;
  8)  # refine, the most promising chain of step 4, on 16 queries spread over QMSum val, zero-shot (bf16, packed decoding; ~15 min)
    [ -f runs/cmp-qmsum-val-2k-refine-16/comparison.json ] || $Q compare --data qmsum --split val --context-window 2048 \
      --batch-size 1 --adapter none --strategies truncate,refine --limit 16 --out runs/cmp-qmsum-val-2k-refine-16
    keep runs/cmp-qmsum-val-2k-refine-16 ;;
  9)  # every strategy on the 120 queries of step 1, zero-shot, bf16 with packed decoding, one query at a time:
      # retrieve with its defaults of the time (the first broad rule), ± MuGI, and both chains. ~5 h on 2 cores: --resume continues
      # a stopped run (each strategy's answers so far are kept), so it may span sessions.
      # $OLD_RULE: these runs were made with the first broad rule (every word, 0.2), kept so --resume accepts them.
    $Q compare --data qmsum --split val --context-window 2048 --batch-size 1 --adapter none --limit 120 --resume $OLD_RULE \
      --strategies truncate,retrieve,retrieve:mugi=true,$FOCUSED,mapreduce,refine --out runs/cmp-qmsum-val-2k-all
    keep runs/cmp-qmsum-val-2k-all ;;
  10) # choosing on QMSum *train* (60 queries spread over it, zero-shot): passages of 256 tokens (best gold-span
      # recall on train: benchmarks/span_recall.py), coverage 0, and a focused prompt (a 1,024-token window) against
      # the default and truncate
    $Q compare --data qmsum --split train --context-window 2048 --batch-size 1 --adapter none --limit 60 --resume $OLD_RULE \
      --strategies truncate,retrieve,retrieve:passage_tokens=256:coverage=0:context_window=1024,retrieve:passage_tokens=256:coverage=0,retrieve:passage_tokens=256 \
      --out runs/cmp-qmsum-train-2k-select
    keep runs/cmp-qmsum-train-2k-select ;;
  11) # a focused prompt for specific queries, the whole window for broad ones (step 10's suggestion, its setting
      # chosen on train: 256-token passages, coverage 0, a 1,024-token window for specific queries), on the 120
      # queries of step 9 (zero-shot) and step 5 (the shipped adapter); finished strategies are not re-run.
      # Each table: python benchmarks/paired_subset.py (see docs/results.md).
    $Q compare --data qmsum --split val --context-window 2048 --batch-size 1 --adapter none --limit 120 --resume $OLD_RULE \
      --strategies truncate,retrieve,retrieve:mugi=true,$FOCUSED --out runs/cmp-qmsum-val-2k-all
    $Q compare --data qmsum --split val --context-window 2048 --batch-size 1 --limit 120 --resume $OLD_RULE \
      --strategies truncate,$FOCUSED --out runs/cmp-qmsum-val-2k-shipped-retrieve ;;
  12) # step 11's focused prompt with the content-word broad rule (the default since 2026-11-25), zero-shot and
      # shipped; compared with the truncate runs of step 11 by paired_subset.py (docs/results.md)
    $Q compare --data qmsum --split val --context-window 2048 --batch-size 1 --adapter none --limit 120 --resume \
      --strategies $FOCUSED --out runs/cmp-qmsum-val-2k-content
    $Q compare --data qmsum --split val --context-window 2048 --batch-size 1 --limit 120 --resume \
      --strategies $FOCUSED --out runs/cmp-qmsum-val-2k-shipped-content ;;
  esac
done
