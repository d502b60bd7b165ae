"""Issue 34 wiring: what one extra extractor seed costs in forward passes per default-demo evaluation (the
projection's missing piece: project_default.py times the ensemble arithmetic with stand-in features). The two
trained views' networks at 64 px with their initial weights (a forward pass costs the same whatever the weights)
on the 6 sets an ensemble seed extracts: reference, floor, generated (487 each), shifted test, its floor and its
generated set (613 each). Run: OMP_NUM_THREADS=2 .venv/bin/python docs/results/issue34_wiring/forward_cost.py
"""

import json
import time

import torch

from radgen.classifiers import build_classifier
from radgen.metrics.ae001 import AE001
from radgen.metrics.features import FeatureExtractor

torch.set_num_threads(2)
x = torch.rand(3 * 487 + 3 * 613, 1, 64, 64)
cnn = build_classifier("cnn001", in_channels=1, image_size=64, num_classes=2).eval()
ae = AE001(image_size=64).eval()
out = {"images": len(x)}
for name, net in (("radgen-cnn001", cnn), ("radgen-ae001", ae)):
    fn = net.features if hasattr(net, "features") else net
    ex = FeatureExtractor(name, f"FD_{name}", 0, "-", {}, fn)
    ex(x[:256])  # warm-up
    t0 = time.perf_counter()
    ex(x)
    out[f"{name}_seconds_per_seed_per_evaluation"] = round(time.perf_counter() - t0, 2)
print(json.dumps(out))
