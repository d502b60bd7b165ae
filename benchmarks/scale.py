"""Memory and loader cost as the dataset grows: the memory-mapped cache against the in-memory path.

For each N (10k, 50k, 112k images by default: ChestX-ray14 has 112,120) a synthetic image
folder of N PNGs at ``--px`` pixels (two classes) is written once into a temporary folder
(the smaller sets are hard links to the first files of the largest) and deleted at the end.
Then, per N and per path (``mmap`` = ``data.storage=mmap``, the cache streamed in chunks and
memory-mapped; ``memory`` = ``data.storage=memory``, today's path: decoded into RAM, the cache
read into RAM), each in its own process:

1. **build**: ``load_dataset`` from the folder with an empty cache: wall time and the build
   process's peak RSS (VmHWM);
2. **train**: ``radgen train`` (the engine; ``--model``, default the ``tiny`` MLP VAE, so
   that a few hundred steps stay cheap at any N) for ``--steps`` steps of ``--batch`` images
   from the cache just built, recording in the loader's batch fetch (``BatchView.__getitems__``):
   * *fetch*: median time of one batch fetch (gather + uint8 -> float32), and the *step*:
     median time between consecutive fetches (one training step, fetch included;
     ``num_workers=0``, so the fetch is on the step's path);
   * *peak RSS* (VmHWM): every resident page, the mapped cache pages the process read included;
   * *private memory*: RssAnon (anonymous pages: heap, tensors, the in-memory pixels), the
     peak over the run, sampled at every fetch; and USS (Private_Clean + Private_Dirty of
     ``/proc/self/smaps_rollup``) at the end. Mapped pages the process only read count in
     RssFile, not RssAnon; USS still counts those no other process maps (here: all of them),
     so for the mmap path it grows with the pages read (steps x batch), not with N.

3. **conv step**: once, on the largest N's mmap cache, ``--conv-steps`` steps of a conv family
   (``--conv-model``, default ``demo_lsgan``: LSGAN on DCGAN networks) at the same size and
   batch; *loader share (conv)* = fetch / conv step, beside *loader share (MLP)* = fetch / MLP
   step (the stricter one: a far cheaper step).

Target: the training process's private memory (RssAnon) independent of N within 20 % from
the smallest to the largest N on the mmap path; loader share under 10 % of the conv step.
The yardstick beside each mmap figure is the in-memory path measured in the same run.

    flock /tmp/radgen-heavy.lock .venv/bin/python benchmarks/scale.py            # 10k/50k/112k at 256 px
    flock /tmp/radgen-heavy.lock .venv/bin/python benchmarks/scale.py --px 64     # the same at 64 px
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from PIL import Image

from common import save

SRC = str(Path(__file__).resolve().parents[1] / "src")

BUILD = textwrap.dedent(
    """
    import json, sys, time
    from radgen.data import load_dataset
    folder, px, storage = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    t0 = time.perf_counter()
    ds = load_dataset("image_folder", path=folder, size=px, storage=storage, progress=False)
    took = time.perf_counter() - t0
    hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
    print(json.dumps({"build_s": took, "build_peak_rss_mb": hwm / 1024, "n": len(ds["train"]),
                      "storage": ds.info["storage"], "streamed": "streamed" in ds.info}))
    """
)

TRAIN = textwrap.dedent(
    """
    import json, statistics, sys, time
    import radgen.training.data as td
    from radgen.training.config import load_run_config
    from radgen.training.run import train

    folder, px, storage, steps, batch, model, out = sys.argv[1:8]
    fetch_start, fetch_s, anon = [], [], [0]

    def status():
        return {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(("Vm", "Rss"))}

    getitems = td.BatchView.__getitems__

    def timed(self, indices):
        t0 = time.perf_counter()
        out = getitems(self, indices)
        fetch_start.append(t0)
        fetch_s.append(time.perf_counter() - t0)
        anon[0] = max(anon[0], status()["RssAnon"])
        return out

    td.BatchView.__getitems__ = timed
    cfg = load_run_config(model, [
        f"output_dir={out}", "data.name=image_folder", f"data.path={folder}", f"data.size={px}",
        "data.val_from_train=null", f"data.storage={storage}", "train.epochs=1", f"train.batch_size={batch}",
        f"train.limit_train_batches={steps}", "train.limit_val_batches=0", "train.sample_every=0",
        "train.checkpoint_every=0", "train.monitor=train", "train.accelerator=cpu", "seed=0"])
    train(cfg, progress=False)
    st = status()
    rollup = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/self/smaps_rollup") if l.count(":") == 1
              and l.split()[1].isdigit()}
    warm = min(5, len(fetch_s) // 3)  # the first steps allocate the optimiser state and warm the kernels
    period = [b - a for a, b in zip(fetch_start[warm:], fetch_start[warm + 1:])]
    print(json.dumps({
        "steps": len(fetch_s), "fetch_ms": 1e3 * statistics.median(fetch_s[warm:]),
        "step_ms": 1e3 * statistics.median(period), "peak_rss_mb": st["VmHWM"] / 1024,
        "rss_anon_peak_mb": anon[0] / 1024, "rss_anon_end_mb": st["RssAnon"] / 1024,
        "rss_file_end_mb": st["RssFile"] / 1024,
        "uss_mb": (rollup["Private_Clean"] + rollup["Private_Dirty"]) / 1024}))
    """
)


POOL = 997  # distinct images, cycled (prime, so both classes see every one); writing 112k PNGs would dominate


def make_images(root: Path, n: int, px: int, seed: int = 0) -> None:
    """``n`` PNGs in root/{class0,class1}: ``POOL`` smooth random fields plus noise (compressible, not
    blank), encoded once and written cyclically under distinct names (each file is decoded on its own).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:px, 0:px] / px
    pool = []
    for _ in range(min(n, POOL)):
        a, b, f = rng.uniform(0.2, 1.0, 3)
        img = 127 + 60 * np.sin(2 * np.pi * (a * xx + b * yy) * (1 + 3 * f)) + rng.normal(0, 8, (px, px))
        buf = io.BytesIO()
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, format="PNG", compress_level=1)
        pool.append(buf.getvalue())
    for c in (0, 1):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"class{i % 2}" / f"p{i // 4:06d}_{i:06d}.png").write_bytes(pool[i % len(pool)])


def link_subset(full: Path, dest: Path, n: int) -> None:
    """The first ``n`` images of ``full`` (by index) as hard links: no extra disk."""
    for c in (0, 1):
        (dest / f"class{c}").mkdir(parents=True, exist_ok=True)
        for f in sorted((full / f"class{c}").iterdir()):
            if int(f.stem.split("_")[1]) < n:
                os.link(f, dest / f"class{c}" / f.name)


def run_json(script: str, args: list[str], env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def share_only(args) -> str:
    """``--share-only``: the loader share alone, in this process (light: ``--share-n`` images, a few steps).

    Batch fetch time from the memory-mapped and the in-memory copy of one cache
    (``loader_batch_times``), beside a plain training step of the conv family and of the
    ``--model`` family on the same batches (``plain_step_times``: forward, backward, Adam),
    all measured in the same run.
    """
    from plain_loop import loader_batch_times, plain_step_times
    from radgen.data import load_dataset
    from radgen.models.base import build_model
    from radgen.training.config import load_run_config

    rows = []
    with tempfile.TemporaryDirectory(prefix="radgen-scale-", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        make_images(tmp / "imgs", args.share_n, args.px)
        os.environ["RADGEN_CACHE_DIR"] = str(tmp / "cache")
        sets = {
            p: load_dataset("image_folder", path=str(tmp / "imgs"), size=args.px, storage=p, progress=False)["train"]
            for p in ("mmap", "memory")
        }
        fetch = {p: loader_batch_times(s, batch_size=args.batch, steps=50).median_s for p, s in sets.items()}
        for name in (args.conv_model, args.model):
            cfg = load_run_config(name, [])
            model = build_model(cfg.model_config(), image_size=args.px, channels=1, num_classes=2)
            step = plain_step_times(model, sets["mmap"], batch_size=args.batch, steps=args.conv_steps, warmup=1)
            for p in ("mmap", "memory"):
                rows.append(
                    {
                        "family": f"{name} ({model.config.name})",
                        "path": p,
                        "fetch_ms": f"{1e3 * fetch[p]:.2f}",
                        "step_ms": f"{1e3 * step.median_s:.1f}",
                        "loader_share": f"{100 * fetch[p] / (step.median_s + fetch[p]):.2f} %",
                    }
                )
                print(rows[-1], flush=True)
    return save(
        "scale_loader_share",
        rows,
        ["family", "path", "fetch_ms", "step_ms", "loader_share"],
        "Loader share of the step: memory-mapped vs in-memory batches, one process",
        notes=(
            f"{args.share_n} synthetic PNGs at {args.px} px, batch {args.batch}; fetch: median of 50 batch fetches "
            f"(gather + uint8 -> float32); step: median of {args.conv_steps} plain steps (forward, backward, Adam) "
            f"after 1 warm-up; share = fetch / (step + fetch)."
        ),
    )


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,50000,112000", help="dataset sizes N, comma-separated")
    ap.add_argument("--px", type=int, default=256, help="image side in pixels")
    ap.add_argument("--steps", type=int, default=300, help="training steps per run")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--model", default="tiny", help="shipped config trained for the memory figures")
    ap.add_argument("--conv-model", default="demo_lsgan", help="shipped config of the conv family timed once")
    ap.add_argument("--conv-steps", type=int, default=12)
    ap.add_argument("--paths", default="mmap,memory")
    ap.add_argument("--tmp", default=None, help="parent of the temporary folder (default: the system's)")
    ap.add_argument("--share-only", action="store_true", help="only the loader share, in one light process")
    ap.add_argument("--share-n", type=int, default=2000, help="images for --share-only")
    args = ap.parse_args(argv)
    if args.share_only:
        md = share_only(args)
        print(md)
        return md
    sizes = sorted(int(s) for s in args.sizes.split(","))
    paths = args.paths.split(",")
    rows = []
    with tempfile.TemporaryDirectory(prefix="radgen-scale-", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        make_images(tmp / f"n{sizes[-1]}", sizes[-1], args.px)
        print(f"wrote {sizes[-1]} PNGs at {args.px} px in {time.perf_counter() - t0:.0f} s", flush=True)
        for n in sizes[:-1]:
            link_subset(tmp / f"n{sizes[-1]}", tmp / f"n{n}", n)
        for n in sizes:
            for path in paths:
                cache = tmp / f"cache-{n}-{path}"
                env = {**os.environ, "PYTHONPATH": SRC, "RADGEN_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "2"}
                folder = str(tmp / f"n{n}")
                build = run_json(BUILD, [folder, str(args.px), path], env)
                assert build["n"] == n and build["storage"] == path, build
                train = run_json(
                    TRAIN,
                    [folder, str(args.px), path, str(args.steps), str(args.batch), args.model, str(tmp / "runs")],
                    env,
                )
                row = {
                    "N": n,
                    "path": path,
                    "build_s": f"{build['build_s']:.1f}",
                    "build_peak_rss_mb": f"{build['build_peak_rss_mb']:.0f}",
                    "train_peak_rss_mb": f"{train['peak_rss_mb']:.0f}",
                    "rss_anon_peak_mb": f"{train['rss_anon_peak_mb']:.0f}",
                    "uss_mb": f"{train['uss_mb']:.0f}",
                    "rss_file_mb": f"{train['rss_file_end_mb']:.0f}",
                    "fetch_ms": f"{train['fetch_ms']:.2f}",
                    "mlp_step_ms": f"{train['step_ms']:.1f}",
                    "loader_share_mlp": f"{100 * train['fetch_ms'] / train['step_ms']:.1f} %",
                    "_raw": {**build, **train},
                }
                rows.append(row)
                print({k: v for k, v in row.items() if k != "_raw"}, flush=True)
                if not (n == sizes[-1] and path == "mmap"):
                    shutil.rmtree(cache, ignore_errors=True)
        # 3. the conv family's step on the largest mmap cache, for the loader share
        env = {**os.environ, "PYTHONPATH": SRC, "RADGEN_CACHE_DIR": str(tmp / f"cache-{sizes[-1]}-mmap")}
        conv = run_json(
            TRAIN,
            [
                str(tmp / f"n{sizes[-1]}"),
                str(args.px),
                "mmap",
                str(args.conv_steps),
                str(args.batch),
                args.conv_model,
                str(tmp / "runs"),
            ],
            {**env, "OMP_NUM_THREADS": "2"},
        )
        print(f"conv step ({args.conv_model}): {conv['step_ms']:.0f} ms (fetch {conv['fetch_ms']:.2f} ms)", flush=True)
        for row in rows:
            row["conv_step_ms"] = f"{conv['step_ms']:.0f}"
            row["loader_share_conv"] = f"{100 * row['_raw']['fetch_ms'] / conv['step_ms']:.2f} %"
    notes = []
    for path in paths:
        anon = [r["_raw"]["rss_anon_peak_mb"] for r in rows if r["path"] == path]
        notes.append(
            f"{path}: private memory (RssAnon peak) at N={sizes[-1]} / N={sizes[0]} = {anon[-1] / anon[0]:.2f}"
        )
    notes.append(
        f"{args.px} px, batch {args.batch}; memory and MLP step: {args.steps} steps of {args.model}; conv step: "
        f"{args.conv_steps} steps of {args.conv_model} on the N={sizes[-1]} mmap cache; one process per cell, "
        f"num_workers=0; synthetic PNGs decoded at their size (no resize), so build time is decode + write."
    )
    md = save(
        "scale",
        rows,
        [
            "N",
            "path",
            "build_s",
            "build_peak_rss_mb",
            "train_peak_rss_mb",
            "rss_anon_peak_mb",
            "uss_mb",
            "rss_file_mb",
            "fetch_ms",
            "mlp_step_ms",
            "loader_share_mlp",
            "conv_step_ms",
            "loader_share_conv",
        ],
        "Data that outgrows memory: memory-mapped cache vs in-memory path",
        notes="\n".join(f"- {n}" for n in notes),
    )
    print(md)
    return md


if __name__ == "__main__":
    main()
