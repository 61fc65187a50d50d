#!/usr/bin/env bash
# CUDA smoke checks on a lent GPU machine (docs/benchmarks.md, "On a lent GPU"): at most 5 minutes, no internet.
#
#   bash benchmarks/gpu_smoke.sh [WHEELS_DIR]      # or ANNOTUNE_WHEELS=DIR; default: wheels/ if it exists
#
# WHEELS_DIR holds wheels to install (--no-deps --no-index, into a temporary folder) where their module is
# missing: the GPU machine has torch, transformers, peft and accelerate but not bitsandbytes, so carry
# bitsandbytes-0.50.2-py3-none-manylinux_2_24_x86_64.whl (43 MB; the 64 MiB carry limit includes it).
# Prints one line per check (PASS name ... / FAIL name: reason / SKIP name: reason) and exits 1 on any FAIL.
# On a machine without CUDA every CUDA check prints SKIP (exit 0); ANNOTUNE_SMOKE_CPU=1 runs them on the CPU
# instead, to test the script. PYTHON picks the interpreter (default: .venv/bin/python, else python3).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

wheels="${1:-${ANNOTUNE_WHEELS:-}}"
if [[ -z "$wheels" && -d wheels ]]; then
  wheels=wheels
fi
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; else python=python3; fi
fi
args=()
[[ -n "$wheels" ]] && args+=(--wheels "$wheels")
[[ "${ANNOTUNE_SMOKE_CPU:-0}" == 1 ]] && args+=(--cpu)

export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TQDM_DISABLE=1 DVC_NO_ANALYTICS=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
timeout --signal=TERM --kill-after=10 "${ANNOTUNE_SMOKE_TIMEOUT:-290}" "$python" -m benchmarks.gpu_smoke "${args[@]}"
status=$?
if [[ $status == 124 || $status == 137 ]]; then
  echo "FAIL timeout: benchmarks.gpu_smoke ran past ${ANNOTUNE_SMOKE_TIMEOUT:-290} s"
fi
exit $status
