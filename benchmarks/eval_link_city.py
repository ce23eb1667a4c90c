"""Accuracy of `facade-wwr link` on the synthetic city, against its truth files: the Done-when figures.

Run: python benchmarks/eval_link_city.py [--work DIR] [--seed 0] [--min-pixels 500]

Writes `demo-city` (default options: 4 blocks, 60 + 20 + 10 photos of 384x288) twice into ``--work`` (a
temporary folder by default): with exact EXIF poses and with `--pose-noise 3,5`. Ground-truth masks (the
VIA polygons, via `via2coco` and `predictions.from_coco`) stand in for predictions. Then `link` runs:

* *exact*: `--poses poses.csv` (true position, heading, pitch, hfov and camera height), without refinement
  and with it;
* *noisy*: a table of the noisy EXIF position and heading only (`file_name, lat, lon, heading` from
  poses.csv's `exif_*` columns), so that hfov (50-90 degrees), pitch and camera height are unknown, with
  refinement and without it.

Printed per run: the share of visible buildings (every building polygon of the VIA files) linked to the
right footprint, also for those covering at least 0.1 % of the photo; the mean agreement before and after;
seconds per photo; and per (photo, wall) the wall-plane WWR error against `truth_views.csv`'s visible-part
`plane_wwr`, on walls worth measuring: at least ``--min-pixels`` visible pixels, seen within 75 degrees of
their normal, of buildings whose every visible window is in the VIA file (the generator leaves out windows
whose visible part is not one hole-free region: their masks are missing from the predictions). Walls of
flat-roofed and of gabled footprints are reported apart: a footprint file gives one height, so a gabled
roof seen from the street is drawn as wall (an LOD1 prism). Beside it, the pixel-WWR error against the same
truth, by viewing angle.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from facade_wwr import predictions
from facade_wwr.coco import Source, load_coco, via_to_coco
from facade_wwr.errors import Warnings

SPLITS = ("train", "val", "photos")
ANGLES = ((0, 30), (30, 45), (45, 60), (60, 75))


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "facade_wwr.cli", *args], check=True, stderr=subprocess.DEVNULL)


def ground_truth(city: Path, out: Path) -> None:
    for split in SPLITS:
        coco_path = out / f"{split}.coco.json"
        via_to_coco(
            [Source(str(city / split / "via_region_data.json"), str(city / split))],
            coco_path,
            warnings=Warnings(quiet=True),
        )
        coco = load_coco(coco_path)
        for image in coco["images"]:
            table = predictions.from_coco(coco, image["id"])
            path = out / "pred" / f"{Path(image['file_name']).stem}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            predictions.write(path, table, image["file_name"], image["width"], image["height"], "truth", "truth")


def evaluate(links: Path, city: Path, min_pixels: int, seconds: float) -> dict:
    table = pd.read_parquet(links)
    buildings = [r for r in _rows(city / "truth_view_buildings.csv") if r["building"] != ""]
    photos = {r["file_name"]: r for r in _rows(city / "truth_photos.csv")}
    first = table.groupby(["file_name", "id"])["footprint_id"].first().fillna("")
    right = np.array([first.get((r["file_name"], f"b_{r['building']}"), "") == r["footprint_id"] for r in buildings])
    share = np.array(
        [
            int(r["pixel_area"]) / (int(photos[r["file_name"]]["width"]) * int(photos[r["file_name"]]["height"]))
            for r in buildings
        ]
    )
    roofs = {r["footprint_id"]: r for r in _rows(city / "truth_footprints.csv")}
    dropped = {(r["file_name"], r["footprint_id"]) for r in buildings if int(r["windows_dropped"]) > 0}
    views = {(r["file_name"], r["footprint_id"], int(r["wall"])): r for r in _rows(city / "truth_views.csv")}
    walls = []
    for row in table[table["status"] == "linked"].itertuples():
        t = views.get((row.file_name, row.footprint_id, int(row.wall)))
        if t is None or int(t["wall_pixels"]) < min_pixels or float(t["view_angle"]) > 75:
            continue
        if (row.file_name, row.footprint_id) in dropped or not t["plane_wwr"]:
            continue
        fp = roofs[row.footprint_id]
        kind = "gabled" if fp["roof"] == "gable" else "flat, height missing" if fp["geojson_height"] == "" else "flat"
        walls.append(
            {
                "kind": kind,
                "angle": float(t["view_angle"]),
                "plane": 100 * abs(row.plane_wwr - float(t["plane_wwr"])),
                "pixel": 100 * abs(row.pixel_wwr - float(t["plane_wwr"])),
            }
        )
    photo_rows = table.groupby("file_name").first()
    return {
        "linked": float(right.mean()),
        "linked_large": float(right[share >= 0.001].mean()),
        "buildings": len(buildings),
        "buildings_large": int((share >= 0.001).sum()),
        "before": float(photo_rows["alignment_before"].mean()),
        "after": float(photo_rows["alignment"].mean()),
        "seconds": seconds / len(photos),
        "walls": pd.DataFrame(walls),
    }


def report(name: str, r: dict) -> None:
    print(
        f"{name}: {100 * r['linked']:.1f} % of {r['buildings']} visible buildings linked right "
        f"({100 * r['linked_large']:.1f} % of the {r['buildings_large']} covering >= 0.1 % of the photo); "
        f"agreement {r['before']:.3f} -> {r['after']:.3f}; {r['seconds']:.2f} s per photo"
    )
    w = r["walls"]
    if w.empty:
        return
    for kind, part in w.groupby("kind"):
        e = part["plane"].to_numpy()
        print(
            f"  {kind:<21} {len(e):4d} walls: plane WWR within 0.5 points {100 * np.mean(e <= 0.5):5.1f} %, "
            f"median {np.median(e):.2f}, p90 {np.percentile(e, 90):.2f}, max {e.max():.1f} points; "
            f"pixel WWR median {part['pixel'].median():.2f}, p90 {part['pixel'].quantile(0.9):.2f}"
        )
    flat = w[w["kind"] != "gabled"]
    for low, high in ANGLES:
        part = flat[(flat["angle"] >= low) & (flat["angle"] < high)]
        if len(part):
            print(
                f"    viewing angle {low:2d}-{high:2d} deg ({len(part):3d} flat-roof walls): plane WWR error median "
                f"{part['plane'].median():.2f}, p90 {part['plane'].quantile(0.9):.2f}; pixel WWR error median "
                f"{part['pixel'].median():.2f}, p90 {part['pixel'].quantile(0.9):.2f} points"
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", help="folder to write the cities and links into (default: a temporary one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-pixels", type=int, default=500)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        exact, noisy = work / "city", work / "city_noisy"
        cli("demo-city", str(exact), "--seed", str(args.seed), "--quiet")
        cli("demo-city", str(noisy), "--seed", str(args.seed), "--pose-noise", "3,5", "--quiet")
        ground_truth(exact, work)
        poses = pd.read_csv(noisy / "poses.csv")
        given = poses[["file_name", "exif_lat", "exif_lon", "exif_heading"]]
        given.columns = ["file_name", "lat", "lon", "heading"]
        given.to_csv(work / "noisy_poses.csv", index=False)
        runs = {
            "exact poses, as given": ["--poses", str(exact / "poses.csv"), "--no-refine"],
            "exact poses, refined": ["--poses", str(exact / "poses.csv")],
            "noisy poses, refined": ["--poses", str(work / "noisy_poses.csv")],
            "noisy poses, as given": ["--poses", str(work / "noisy_poses.csv"), "--no-refine"],
        }
        for k, (name, extra) in enumerate(runs.items()):
            out = work / f"links_{k}.parquet"
            start = time.perf_counter()
            cli(
                "link",
                str(work / "pred"),
                "--footprints",
                str(exact / "footprints.geojson"),
                "--out",
                str(out),
                "--quiet",
                *extra,
            )
            report(name, evaluate(out, exact, args.min_pixels, time.perf_counter() - start))
        print(json.dumps({"seed": args.seed, "min_pixels": args.min_pixels}))


if __name__ == "__main__":
    main()
