#!/usr/bin/env bash
# Is the GPU path ready, and how long would the paper profile take here? Times the paper
# profile's mask step at batch sizes 1..512 and one training epoch per kind of regime, and
# writes gpu_check.json (fields: README, "GPU check and bench JSON"). The work is done by
# `python -m fm_core bench --gpu-check` (fm_core/cli/gpu_check.py); this is only a wrapper.
#   scripts/gpu_check.sh                  # on the GPU machine (--device auto picks CUDA)
#   scripts/gpu_check.sh --tiny           # toy sizes: runs on a CPU in seconds (tests use it)
#   scripts/gpu_check.sh --out other.json --device cuda:1
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python3
exec "$python" -m fm_core bench --gpu-check --out "${FM_GPU_CHECK_OUT:-gpu_check.json}" "$@"
