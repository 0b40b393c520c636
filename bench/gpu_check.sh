#!/usr/bin/env bash
# The GPU checks, as one script for a lent GPU machine (about 8 minutes on an H100/H200), whose image
# has torch, OpenCV, scipy and scikit-image but neither albumentations nor a package registry:
# lightsr runs from the working tree, albumentations and its needs from carried wheels (.whl/),
# basicsr (pure Python, bench/degrade.py's anchor) from a carried copy (.gpu/). Results go to
# $OUT (the device tool brings that folder back), each stage's log as it runs.
#
# Prepare here, once (.whl/ is git-ignored; add /.gpu/ to .git/info/exclude):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     albumentations==2.0.8 albucore==0.0.24 pydantic==2.13.4 pydantic-core==2.46.4 annotated-types==0.7.0 \
#     typing-inspection==0.4.2 stringzilla==5.3.2 simsimd==6.5.16
#   mkdir -p .gpu && cp -r "$(python -c "import importlib.util as u, os; print(os.path.dirname(u.find_spec('basicsr').origin))")" .gpu/
# Run:  run(command="bash bench/gpu_check.sh", carry=[".whl", ".gpu"], timeout_s=560)
#
# Stages, most wanted first (issue #13, step 1), each with its own time limit:
# 1. training SPAN x4, batch 64, 256x256 HR, realesrgan degradation, fp32 and bf16: degraded in
#    cores - 1 loader workers, and on the GPU by each device path (dynamic rounds, fixed-shape
#    eager, fixed-shape as CUDA graphs; torch.compile as by default, on): ms per step, pairs/s,
#    the share of a step spent waiting for the loader and degrading on the device (CUDA events);
#    then the device path alone per batch and per slot (CUDA events), a profile of a fixed-shape
#    batch and of three training steps (table, Chrome trace in $OUT) -- bench/train.py
# 2. the CUDA tests, eagerly (uint8 levels on CUDA, graph replays, parity of every op)
# 3. the degradation benchmark at batch 16 and 64 (bench/degrade.py --device cuda), as time allows
set -uo pipefail
OUT=${OUT:-/tmp/lightsr-gpu}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || echo "installing the carried wheels failed"
fi
mkdir -p /tmp/lightsr-path && ln -sfn "$PWD" /tmp/lightsr-path/lightsr
export PYTHONPATH="/tmp/lightsr-path:/tmp/site:$PWD/.gpu:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  echo "cores: $(nproc)"
  python3 -c "import sys, torch, cv2; print('python', sys.version.split()[0], 'torch', torch.__version__, 'opencv', cv2.__version__)"
  python3 -c "import albumentations; print('albumentations', albumentations.__version__)"
} 2>&1 | tee "$OUT/machine.txt"

timeout 330 python3 bench/train.py --device cuda --recipe configs/x4_realesrgan_stage1_cpu.yml \
  --set model.name=span --set data.batch=64 --set data.patch=256 --workers max --amp none,bf16 \
  --paths workers,dynamic,static,graphs --steps 40 --warmup 50 --device-path-alone --out "$OUT" 2>&1 | tee "$OUT/train.txt"

timeout 100 python3 - <<'EOF' 2>&1 | tee "$OUT/tests.txt"
import sys

import pytest

from lightsr.degrade.batched.compiled import compiling

with compiling(False):  # eagerly: the compiled chains are what stage 1 ran
    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-k", "cuda or gpu", "tests/test_train.py",
                          "tests/test_static.py", "tests/test_batched.py", "tests/test_counter_rng.py"]))
EOF

timeout 90 python3 bench/degrade.py --device cuda --seconds 4 2>&1 | tee "$OUT/degrade.txt"
