"""Footprint WWR per orientation on the synthetic city, against its truth: the Done-when figures of the
geographic stages with ground-truth masks as predictions.

Run: python benchmarks/eval_geo_city.py [--work DIR] [--seed 0]

Writes `demo-city` with its default options (4 blocks, 60 + 20 + 10 photos of 384x288) with exact EXIF poses
and again with `--pose-noise 3,5`, makes prediction files of the VIA polygons of all 90 photos, and runs
`link` (exact: `--poses poses.csv` as given and refined; noisy: the noisy EXIF position and heading with hfov,
pitch and camera height unknown, refined), then `evaluate-geo` (the figures `geo.json` holds) and `aggregate`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facade_wwr.geo_evaluation import summary_lines  # noqa: E402
from tests.helpers import ground_truth_predictions  # noqa: E402

SPLITS = ("train", "val", "photos")


def cli(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "facade_wwr.cli", *args], check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def predictions(city: Path, out: Path) -> list[Path]:
    folders = []
    for split in SPLITS:
        folder = out / split
        ground_truth_predictions(city / split, city / split / "via_region_data.json", folder)
        folders.append(folder)
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        exact, noisy = work / "city", work / "noisy"
        for folder, extra in ((exact, []), (noisy, ["--pose-noise", "3,5"])):
            if not folder.exists():
                cli("demo-city", str(folder), "--seed", str(args.seed), "--quiet", *extra)
        pred = predictions(exact, work / "pred")
        photos = [str(exact / split) for split in SPLITS]
        poses = pd.read_csv(noisy / "poses.csv")
        table = work / "noisy_poses.csv"
        given = {"file_name": poses["file_name"], "lat": poses["exif_lat"], "lon": poses["exif_lon"]}
        pd.DataFrame({**given, "heading": poses["exif_heading"]}).to_csv(table, index=False)
        runs = {
            "exact poses, as given": ["--poses", str(exact / "poses.csv"), "--no-refine"],
            "exact poses, refined": ["--poses", str(exact / "poses.csv")],
            "noisy poses (GPS 3 m, heading 5 deg; hfov, pitch, height unknown), refined": ["--poses", str(table)],
        }
        for k, (name, extra) in enumerate(runs.items()):
            links = [work / f"links_{k}_{split}.parquet" for split in SPLITS]
            seconds = 0.0
            for p, out, folder in zip(pred, links, photos):
                seconds += cli(
                    "link",
                    str(p),
                    "--footprints",
                    str(exact / "footprints.geojson"),
                    "--photos",
                    folder,
                    "--out",
                    str(out),
                    "--quiet",
                    *extra,
                )
            geo = work / f"geo_{k}.json"
            cli("evaluate-geo", *map(str, links), "--truth", str(exact), "--out", str(geo), "--quiet")
            result = json.loads(geo.read_text())
            print(f"{name} ({seconds:.0f} s of link jobs):")
            for line in summary_lines(result):
                print(f"  {line}")
            if k == 0:
                cli(
                    "aggregate",
                    *map(str, links),
                    "--footprints",
                    str(exact / "footprints.geojson"),
                    "--out",
                    str(work / "footprints.gpkg"),
                    "--quiet",
                )
                print(f"  (aggregate: {work / 'footprints.gpkg'} and its map beside it)")


if __name__ == "__main__":
    main()
