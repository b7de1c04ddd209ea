#!/usr/bin/env bash
# The GPU checks of docs/fidelity.md and docs/rollout.md, in one go, on a CUDA machine whose
# python3 already has torch, transformers and peft (no network needed):
#
#   bash scripts/gpu_checks.sh [OUT_DIR]
#
# 1. `pytest -m gpu` (tests/train/test_gpu.py): a tiny-model training step sampling on CUDA,
#    an AdamW step at lr 1e-6 with bf16 compute moving fp32 master weights, and one SDAR step
#    of SmolLM2-135M with peak memory and seconds per phase (GPU-REPORT line);
# 2. `sdar bench memory`: peak memory of one paper-preset SDAR step of Qwen2.5-3B (random
#    weights) at full lengths (2048 prompt + 512 response tokens) and at typical ones;
# 3. `sdar bench step` (GRPO vs SDAR step, quickstart preset) and `sdar bench rollout`.
#
# SMOLLM2_ARCH_DIR: a folder with SmolLM2's config and tokenizer but no weights; when set,
# random weights of that architecture stand in for the real checkpoint (for machines the
# 98 MB GGUF cannot reach). Each result is also written under OUT_DIR.
set -u -o pipefail
out=${1:-${OUT:-/tmp/sdar-gpu}}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export SDAR_CACHE=${SDAR_CACHE:-/tmp/sdar-cache}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
if [ -n "${SMOLLM2_ARCH_DIR:-}" ]; then
  python3 - "$SMOLLM2_ARCH_DIR" "$SDAR_CACHE/models/SmolLM2-135M-Instruct" <<'EOF'
import shutil, sys, torch
from pathlib import Path
from transformers import AutoConfig, AutoModelForCausalLM
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
if not (dst / "config.json").is_file():
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(src), dtype=torch.float32)
    model.save_pretrained(dst)
    for f in src.iterdir():
        if f.name != "config.json":
            shutil.copy(f, dst / f.name)
    print("SmolLM2-135M architecture with random weights in", dst)
EOF
fi
run() {  # name, timeout, command...
  local name=$1 limit=$2; shift 2
  echo "=== $name"
  timeout "$limit" "$@" 2>&1 | tee "$out/$name.log" | grep -v "^Converting"
  echo "=== $name exit ${PIPESTATUS[0]}"
}
run gpu_tests 150 python3 -m pytest -m gpu tests/train/test_gpu.py -s -p no:cacheprovider
run memory_3b_full 120 python3 -m sdar.cli bench memory --arch qwen2.5-3b --json
run memory_3b_typical 80 python3 -m sdar.cli bench memory --arch qwen2.5-3b --json \
  --prompt-tokens 1536 --response-tokens 100
run bench_step 90 python3 -m sdar.cli bench step --quick --json model.device=cuda
run bench_rollout 90 python3 -m sdar.cli bench rollout --quick --device cuda --json --threads 0
