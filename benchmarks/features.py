"""Seconds to extract features of 1,000 generated-size images (64 px), per extractor. Target: under 60 s.

radgen-cnn001: the evaluation's default extractor (trained once on the real training split and
cached; its one-off training time is reported separately). inception: the FID network's cost is
the architecture's, so it is timed with randomly initialised weights written to a temporary
file and loaded through the same code path; those weights give no metric and none is reported.
It is timed in the published form (BatchNorm separate, NCHW) and in the form the extractor runs
(BatchNorm folded, channels_last). "compute floor" is its multiply-adds (counted from the layer
shapes) at this machine's float32 matmul throughput: no float32 kernel can beat it.
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


def inception_macs_per_image() -> int:
    """Multiply-accumulates of one 299 px forward pass, counted from the convolutions' and the head's shapes."""
    from radgen.nn.inception import FIDInceptionV3

    net, macs = FIDInceptionV3().eval(), []

    def hook(m, inp, out):
        if isinstance(m, torch.nn.Conv2d):
            macs.append(out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])
        elif isinstance(m, torch.nn.Linear):
            macs.append(out.numel() * m.in_features)

    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            m.register_forward_hook(hook)
    with torch.inference_mode():
        net(torch.zeros(1, 3, 299, 299))
    return sum(macs)


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matrix-multiply throughput (best of ``repeats``): the ceiling any convolution
    kernel works under.
    """
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(timed(lambda: a @ b)[1] for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def compute_floor_s(n_images: int) -> float:
    """Seconds Inception-v3 needs for ``n_images`` if every multiply-add ran at this machine's matmul throughput."""
    return 2 * inception_macs_per_image() * n_images / (matmul_gflops() * 1e9)


def main() -> None:
    torch.set_num_threads(torch.get_num_threads())
    cfg = DataConfig(name="chest_xray_full_64")
    test = load_dataset(cfg, progress=False)["test"]
    images = test.images[:1000] if len(test) >= 1000 else test.images.repeat(2, 1, 1, 1)[:1000]
    rows = []
    ex, build_s = timed(lambda: get_extractor("radgen-cnn001", data_config=cfg, epochs=8))
    ex(images[:64])
    feats, s = timed(lambda: ex(images))
    rows.append(
        {
            "extractor": ex.name,
            "dim": feats.shape[1],
            "images": len(images),
            "seconds": f"{s:.2f}",
            "images/s": f"{len(images) / s:.0f}",
            "one-off setup": f"{build_s:.1f} s (train or load from cache)",
            "under 60 s": "yes" if s < 60 else "NO",
            "compute floor s": "-",
        }
    )
    from safetensors.torch import save_file

    from radgen.metrics.features import load_fid_inception
    from radgen.nn.inception import FIDInceptionV3

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random-inception.safetensors"
        torch.manual_seed(0)
        save_file({k: v.contiguous() for k, v in FIDInceptionV3().state_dict().items()}, str(path))
        ex, build_s = timed(lambda: get_extractor("inception", weights=str(path)))
        assert ex.distance_name != "FID"  # random weights are never called FID
        floor = compute_floor_s(len(images))
        published = load_fid_inception(path)  # the published layout: BatchNorm unfolded, NCHW
        with torch.inference_mode():
            published(images[:8])
            _, s = timed(lambda: [published(images[i : i + 50]) for i in range(0, len(images), 50)])
        rows.append(
            {
                "extractor": "inception, published form (timing only, batch 50)",
                "dim": 2048,
                "images": len(images),
                "seconds": f"{s:.2f}",
                "images/s": f"{len(images) / s:.1f}",
                "one-off setup": "-",
                "under 60 s": "yes" if s < 60 else "NO",
                "compute floor s": f"{floor:.1f}",
            }
        )
        ex(images[:8], batch_size=8)
        feats, s = timed(lambda: ex(images, batch_size=50))
        rows.append(
            {
                "extractor": "inception, radgen's inference form (timing only, batch 50)",
                "dim": feats.shape[1],
                "images": len(images),
                "seconds": f"{s:.2f}",
                "images/s": f"{len(images) / s:.1f}",
                "one-off setup": f"{build_s:.1f} s (load, fold BN)",
                "under 60 s": "yes" if s < 60 else "NO",
                "compute floor s": f"{floor:.1f}",
            }
        )
    print(save("features", rows, list(rows[0]), "Feature extraction: 1,000 images at 64 px"))


if __name__ == "__main__":
    main()
