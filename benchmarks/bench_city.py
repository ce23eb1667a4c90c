"""Benchmark of `facade-wwr demo-city` on one core: seconds for N views (default 100 at 512x384).

Run: python benchmarks/bench_city.py [--views 100 --size 512x384 --blocks 4 --seed 0]
Pins the process to one CPU and sets numpy's and OpenCV's threads to 1, writes the data set into a
temporary folder, and prints the seconds taken (everything: city, rendering, tracing, JPEG + EXIF, CSVs),
milliseconds per view, and the share of VIA windows at least 8 x 8 pixels (Mask R-CNN's smallest anchors).
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from facade_wwr.city_demo import Options, generate, parse_size  # noqa: E402


def window_sizes(out: Path) -> np.ndarray:
    """Bounding-box ``(width, height)`` in pixels of every window polygon of the data set."""
    sizes = []
    for via_file in out.glob("*/via_region_data.json"):
        for entry in json.loads(via_file.read_text()).values():
            for region in entry["regions"]:
                if "window" in region["region_attributes"]["class"]:
                    xs, ys = region["shape_attributes"]["all_points_x"], region["shape_attributes"]["all_points_y"]
                    sizes.append((max(xs) - min(xs), max(ys) - min(ys)))
    return np.array(sizes).reshape(-1, 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--views", type=int, default=100)
    p.add_argument("--size", default="512x384")
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    options = Options(seed=args.seed, blocks=args.blocks, train=args.views, val=0, photos=0, size=parse_size(args.size))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "city"
        start = time.perf_counter()
        summary = generate(out, options)
        seconds = time.perf_counter() - start
        sizes = window_sizes(out)
    per_view = 1000 * seconds / max(args.views, 1)
    print(f"{args.views} views of {args.size} px on one core in {seconds:.2f} s ({per_view:.1f} ms/view)")
    share = float(np.mean((sizes[:, 0] >= 8) & (sizes[:, 1] >= 8))) if len(sizes) else 0.0
    print(
        f"VIA: {summary['buildings_in_via']} buildings, {len(sizes)} windows ({100 * share:.1f} % at least 8x8 px); "
        f"left out: {summary['buildings_left_out']} buildings, {summary['windows_dropped']} windows"
    )


if __name__ == "__main__":
    main()
