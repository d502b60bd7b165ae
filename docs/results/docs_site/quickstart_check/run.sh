#!/usr/bin/env bash
# The README's quickstart (2026-12-07), as written but for tiny settings (train.epochs=1, --n 100 / 120 instead of
# 1000 / 2000), on 800 made-up 80 px PNGs in two class folders. Run from an empty folder under /tmp:
#   flock /tmp/radgen-cpu.lock bash run.sh > output.txt 2>&1
# RADGEN: the checkout whose .venv runs radgen.
set -euxo pipefail
export OMP_NUM_THREADS=2
RADGEN=${RADGEN:-/work/wt-docs}
radgen() { "$RADGEN/.venv/bin/python" -m radgen "$@"; }
"$RADGEN/.venv/bin/python" - <<'PY'
import numpy as np
from PIL import Image
from pathlib import Path
rng = np.random.default_rng(0)
for c, (k, n) in {"NORMAL": (0.3, 350), "PNEUMONIA": (0.7, 450)}.items():
    d = Path("my_xrays") / c; d.mkdir(parents=True)
    yy, xx = np.mgrid[0:80, 0:80] / 80
    for i in range(n):
        img = k * np.exp(-((xx - 0.5) ** 2 + (yy - 0.5) ** 2) / 0.1) + 0.2 * rng.random((80, 80))
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(d / f"img{i:03d}.png")
PY
DATA=$PWD/my_xrays
radgen data inspect $DATA --size 64
radgen train demo_cvae --set data.name=$DATA --set data.size=64 --set data.split_ratio=0.8 --set data.val_from_train=0.2 --set train.epochs=1 --no-progress
RUN=$(ls -td runs/cvae-* | head -1)
radgen sample $RUN --n 16 --label NORMAL --out samples/
radgen evaluate $RUN --n 100
radgen report $RUN
radgen release $RUN --n 120 --out synthetic/ --splits 0.8,0.1,0.1
radgen data inspect synthetic/
