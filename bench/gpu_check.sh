#!/usr/bin/env bash
# The GPU checks of the batched degradation backend, as one script for a lent GPU machine whose
# image has torch, OpenCV, scipy and scikit-image but no package registry: lightsr runs from the
# working tree, basicsr (pure Python, the benchmark's anchor) from a carried copy in .gpu/.
# Prepare here:   mkdir -p .gpu && cp -r "$(python -c 'import basicsr,os;print(os.path.dirname(basicsr.__file__))')" .gpu/
#                 (and add /.gpu/ to .git/info/exclude); carry ".gpu" in the device call.
# Runs, most wanted first: the degradation benchmark at batch 16 and 64 (dynamic rounds,
# fixed-shape path with CUDA graphs), the CUDA parity tests eagerly, a profile of a batch by each
# path (bench/profile_batched.py), the parity tests compiled (torch.compile is on by default on
# CUDA), and, where albumentations is importable, the share of a lightweight model's training
# step spent degrading (SPAN x4, batch 64).
# Usage: bash bench/gpu_check.sh [seconds per contender]
set -uo pipefail
SECONDS_PER=${1:-5}
mkdir -p /tmp/lightsr-path && ln -sfn "$PWD" /tmp/lightsr-path/lightsr
export PYTHONPATH="/tmp/lightsr-path:$PWD/.gpu:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, cv2; print('torch', torch.__version__, 'opencv', cv2.__version__)"
python3 bench/degrade.py --device cuda --seconds "$SECONDS_PER"
LIGHTSR_COMPILE=0 python3 -m pytest -q -p no:cacheprovider tests/test_static.py tests/test_batched.py tests/test_counter_rng.py
python3 bench/profile_batched.py --device cuda --rows 20
python3 -m pytest -q -p no:cacheprovider tests/test_static.py tests/test_batched.py tests/test_counter_rng.py  # compiled: minutes
if python3 -c "import albumentations" 2>/dev/null; then
  python3 bench/train.py --device cuda --steps 100 --recipe configs/x4_realesrgan_stage1_cpu.yml \
    --set model.name=span --set data.batch=64 --set data.patch=256 --set train.amp=null
fi
