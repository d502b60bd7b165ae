"""Load time of each file-backed source without and with radgen's preprocessed cache.

Cold = the source is decoded and resized (cache disabled); warm = read from the cache
written by a previous load. Median of repeats; the speed-up is cold / warm.
"""

from __future__ import annotations

import os
import tempfile

from common import median_time, save
from radgen.data import load_dataset

CASES = [
    ("chest_xray_folder", {"size": 64}, "200 native JPEGs (649-2179 px) -> 64 px"),
    ("chest_xray_folder", {"size": 128}, "200 native JPEGs -> 128 px"),
    ("ct_dicom", {"size": 128}, "12 DICOM slices 512 px -> 128 px, W400/L40"),
    ("ct_nifti", {"size": 128}, "133 NIfTI slices 512 px -> 128 px, W400/L40"),
    ("mnist", {"size": 64}, "60,000+10,000 IDX digits 28 -> 64 px"),
]


def main(repeats: int = 3) -> str:
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["RADGEN_CACHE_DIR"] = cache
        for name, opts, what in CASES:
            cold, _ = median_time(
                lambda n=name, o=opts: load_dataset(n, cache=False, progress=False, **o), repeats=repeats
            )
            load_dataset(name, progress=False, **opts)  # writes the cache
            warm, _ = median_time(lambda n=name, o=opts: load_dataset(n, progress=False, **o), repeats=repeats)
            assert load_dataset(name, progress=False, **opts).from_cache
            rows.append(
                {
                    "dataset": name,
                    "what": what,
                    "cold_s": f"{cold:.3f}",
                    "cached_s": f"{warm:.3f}",
                    "speed-up": f"{cold / warm:.1f}x",
                }
            )
            print(rows[-1], flush=True)
    md = save(
        "data_cache",
        rows,
        ["dataset", "what", "cold_s", "cached_s", "speed-up"],
        "Data loading: without vs with the preprocessed cache",
    )
    print(md)
    return md


if __name__ == "__main__":
    main()
