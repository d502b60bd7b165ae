"""Seconds to extract features of 1,000 generated-size images (64 px), per extractor. Target: under 60 s.

radgen-cnn001: the evaluation's default extractor (trained once on the real training split and
cached; its one-off training time is reported separately). inception: the FID network's cost is
the architecture's, so it is timed with randomly initialised weights written to a temporary
file and loaded through the same code path; those weights give no metric and none is reported.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from common import save

from radgen.data import DataConfig, load_dataset
from radgen.metrics.features import get_extractor


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    torch.set_num_threads(torch.get_num_threads())
    cfg = DataConfig(name="chest_xray_full_64")
    test = load_dataset(cfg, progress=False)["test"]
    images = test.images[:1000] if len(test) >= 1000 else test.images.repeat(2, 1, 1, 1)[:1000]
    rows = []
    ex, build_s = timed(lambda: get_extractor("radgen-cnn001", data_config=cfg, epochs=8))
    ex(images[:64])
    feats, s = timed(lambda: ex(images))
    rows.append({"extractor": ex.name, "dim": feats.shape[1], "images": len(images), "seconds": f"{s:.2f}", "images/s": f"{len(images) / s:.0f}",
                 "one-off setup": f"{build_s:.1f} s (train or load from cache)", "under 60 s": "yes" if s < 60 else "NO"})
    from radgen.nn.inception import FIDInceptionV3
    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random-inception.safetensors"
        torch.manual_seed(0)
        save_file({k: v.contiguous() for k, v in FIDInceptionV3().state_dict().items()}, str(path))
        ex, build_s = timed(lambda: get_extractor("inception", weights=str(path)))
        assert ex.distance_name != "FID"  # random weights are never called FID
        ex(images[:8], batch_size=8)
        for bs in (50,):
            feats, s = timed(lambda: ex(images, batch_size=bs))
            rows.append({"extractor": f"inception (timing only, batch {bs})", "dim": feats.shape[1], "images": len(images), "seconds": f"{s:.2f}",
                         "images/s": f"{len(images) / s:.1f}", "one-off setup": f"{build_s:.1f} s (load)", "under 60 s": "yes" if s < 60 else "NO"})
    print(save("features", rows, list(rows[0]), "Feature extraction: 1,000 images at 64 px"))


if __name__ == "__main__":
    main()
