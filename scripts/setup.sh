#!/usr/bin/env bash
# Create .venv and install radgen with pinned dependencies.
# torch is installed first, alone, so that the pinned CPU build (torch==2.13.0) is what
# every later requirement sees; nothing after it may pull another torch or CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q "torch==2.13.0"
# the constraint keeps that torch: a dependency asking for another version fails here instead of replacing it
.venv/bin/python -m pip install -q -e ".[dev]" -c <(echo "torch==2.13.0")
if .venv/bin/python -m pip list 2>/dev/null | grep -i -E '^(nvidia-|torchvision|torchaudio)'; then
  echo "setup: a dependency pulled CUDA packages or torchvision (listed above); radgen must stay CPU-only here" >&2
  exit 1
fi
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
