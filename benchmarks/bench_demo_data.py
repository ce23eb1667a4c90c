"""Benchmark of `facade-wwr demo-data`: generation time and the truth error after the via2coco round trip.

Run: python benchmarks/bench_demo_data.py [--train 80 --val 20 --photos 0 --size 256]
Prints the seconds taken, milliseconds per image, and the mean/max absolute difference (in percentage
points) between truth.csv and window percentages recomputed from the COCO masks via2coco writes.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

from facade_wwr.coco import Source, via_to_coco
from facade_wwr.demo import generate
from facade_wwr.errors import Warnings


def round_trip_errors(out: Path, split: str, work: Path) -> list[float]:
    """|truth - COCO-mask window percentage| in points for every building of ``split``."""
    coco_path = work / f"{split}.json"
    via_to_coco(
        [Source(str(out / split / "via_region_data.json"), str(out / split))], coco_path, warnings=Warnings(strict=True)
    )
    with open(out / "truth.csv", newline="", encoding="utf-8") as f:
        truth = {(r["file_name"], int(r["via_region"])): float(r["window_percentage"]) for r in csv.DictReader(f)}
    coco = COCO(str(coco_path))
    errors = []
    for image in coco.dataset["images"]:
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
        windows = np.zeros((image["height"], image["width"]), dtype=bool)
        for a in anns:
            if a["category_id"] == 0:
                windows |= coco.annToMask(a).astype(bool)
        for a in anns:
            if a["category_id"] == 1:
                building = coco.annToMask(a).astype(bool)
                wwr = (building & windows).sum() / building.sum()
                errors.append(100.0 * abs(wwr - truth[(image["file_name"], a["via_region"])]))
    return errors


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=80)
    p.add_argument("--val", type=int, default=20)
    p.add_argument("--photos", type=int, default=0)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        start = time.perf_counter()
        summary = generate(out, args.train, args.val, args.photos, args.seed, args.size)
        seconds = time.perf_counter() - start
        images = args.train + args.val + args.photos
        per_image = 1000 * seconds / max(images, 1)
        print(f"generated {images} images of {args.size} px in {seconds:.2f} s ({per_image:.1f} ms/image)")
        print(f"buildings: {summary['buildings']}")
        errors = [
            e for split in ("train", "val") if getattr(args, split) for e in round_trip_errors(out, split, Path(tmp))
        ]
        if errors:
            print(
                f"via2coco round trip: {len(errors)} buildings, window percentage |error| mean {np.mean(errors):.6f}, "
                f"max {np.max(errors):.6f} points"
            )


if __name__ == "__main__":
    main()
