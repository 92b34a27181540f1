#!/usr/bin/env bash
# The training engine's CUDA checks in one short run, for a machine with a GPU (about 8 minutes on
# one H200): the CUDA tests (skipped on machines without one), then both benchmarks with their
# CUDA variants, printing the figures the README and sdd_core/trainer/runtime.py quote.
#
#   bash benchmarks/gpu_check.sh [quick]     # quick: fewer images and steps (about 3 minutes)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
IMAGES=10000 STEPS=50
if [[ "${1:-}" == "quick" ]]; then IMAGES=2560 STEPS=20; fi
status=0

section() { echo; echo "== $* ($(date +%T))"; }

section "device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'bf16', torch.cuda.is_bf16_supported())"

section "CUDA tests: an epoch under set_sync_debug_mode('error'), bf16 and compiled steps near fp32, nvJPEG batches"
$PY -m pytest tests/sdd_core/trainer/test_train_step.py tests/sdd_core/data/test_device_decoding.py -q -p no:cacheprovider -rs || status=1

section "step_time: SD-KD / KD (target <= 1.05), default precision (bf16), then fp32, then compiled"
$PY -m benchmarks.step_time --steps "$STEPS" --warmup 10 || status=1
$PY -m benchmarks.step_time --steps "$STEPS" --warmup 10 --precision fp32 || status=1
$PY -m benchmarks.step_time --steps "$STEPS" --warmup 10 --compile || status=1

section "epoch_throughput: (a) bare step, (b) train() epoch, (c) data alone; every precision/compile variant"
$PY -m benchmarks.epoch_throughput --images "$IMAGES" --rounds 2 --variants --compile || status=1

section "sweep: a lockstep group of 4 students against 4 solo runs; stacking same-architecture members"
$PY -m benchmarks.sweep || status=1
$PY -m benchmarks.stacking || status=1

section "done (status $status)"
exit $status
