#!/usr/bin/env bash
# The GPU checks of the batched degradation backend, as one script for a lent GPU machine:
# install, the CUDA parity tests (torch.compile is on by default on CUDA, so they check the
# compiled appliers), the degradation benchmark at batch 16 and 64 compiled and eager, and the
# share of a lightweight model's training step spent degrading (SPAN x4, batch 64, on the
# embedded photos). Usage: bash bench/gpu_check.sh [seconds per contender]
set -euo pipefail
SECONDS_PER=${1:-5}
pip install -q -e ".[test]"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python -m pytest -q tests/test_batched.py tests/test_counter_rng.py
python bench/degrade.py --device cuda --seconds "$SECONDS_PER"
LIGHTSR_COMPILE=0 python bench/degrade.py --device cuda --seconds "$SECONDS_PER"
python bench/train.py --device cuda --steps 100 --recipe configs/x4_realesrgan_stage1_cpu.yml \
  --set model.name=span --set data.batch=64 --set data.patch=256 --set train.amp=null
