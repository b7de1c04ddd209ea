#!/usr/bin/env bash
# The data-parallel checks of docs/scaling.md on a CUDA machine (python3 with torch,
# transformers and peft; no network):
#
#   SMOLLM2_ARCH_DIR=DIR bash scripts/gpu_checks_scaling.sh [OUT_DIR]
#
# Every run goes through torchrun (NCCL, FSDP2 with bf16 compute on fp32 shards, DCP
# checkpoints, the rollout engine's weights gathered from the shards) with
# NPROC processes (default: one per visible GPU):
# 1. the tiny preset, 2 steps, then `sdar export` of its DCP checkpoint;
# 2. one SDAR step of the SmolLM2-135M architecture (random weights; SMOLLM2_ARCH_DIR holds
#    its config and tokenizer) and of a Qwen2.5-0.5B-shaped random model with the same
#    tokenizer: peak memory and rollout tokens/s from metrics.jsonl.
set -u -o pipefail
out=${1:-${OUT:-/tmp/sdar-gpu}}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} SDAR_DIST_TIMEOUT=300
export SDAR_CACHE=${SDAR_CACHE:-/tmp/sdar-cache}
nproc=${NPROC:-$(python3 -c "import torch; print(max(torch.cuda.device_count(), 1))")}
tok=${SMOLLM2_ARCH_DIR:?set SMOLLM2_ARCH_DIR to a folder with SmolLM2 config and tokenizer}
nvidia-smi --query-gpu=name,memory.total --format=csv
python3 -m sdar bench memory --arch smollm2-135m --save-random-model "$tok" /tmp/smollm2-random
python3 -m sdar bench memory --arch qwen2.5-0.5b --save-random-model "$tok" /tmp/qwen05-random
launch() {  # name, timeout, sdar arguments...
  local name=$1 limit=$2; shift 2
  echo "=== $name ($nproc processes)"
  timeout "$limit" python3 -m torch.distributed.run --standalone --nproc_per_node "$nproc" \
    -m sdar "$@" 2>&1 | grep -v "^Converting\|it/s\]$" | tee "$out/$name.log" | tail -25
  echo "=== $name exit ${PIPESTATUS[0]}"
}
report() {  # run dir: the per-step figures that matter here
  python3 - "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1] + "/metrics.jsonl"):
    r = json.loads(line)
    print(json.dumps({
        "step": r["step"],
        "peak_gib": round(r.get("memory/peak_gib_max", -1), 2),
        "rollout_tokens_per_s": round(r["rollout/tokens_generated"] / r["time/rollout"], 1),
        **{k: round(r[k], 2) for k in ("time/rollout", "time/score", "time/update", "time/step")},
        "grad_norm": r["actor/grad_norm"],
    }))
EOF
}
launch tiny 120 train --preset tiny --output /tmp/dp-tiny --quiet model.device=cuda run.steps=2
report /tmp/dp-tiny
python3 -m sdar export /tmp/dp-tiny --to /tmp/dp-tiny-export && ls /tmp/dp-tiny-export
common=(--preset household-smollm2-cpu --quiet model.device=cuda sft.episodes=0 run.steps=1
        eval.episodes=4 rollout.max_new_tokens=32)
launch smollm2 150 train --output /tmp/dp-smollm2 "${common[@]}" model.name=/tmp/smollm2-random
report /tmp/dp-smollm2
launch qwen05 150 train --output /tmp/dp-qwen05 "${common[@]}" model.name=/tmp/qwen05-random
report /tmp/dp-qwen05
