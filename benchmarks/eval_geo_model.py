"""Footprint WWR of a trained model over four photo sets: the figures one model's few masks decide, summed.

Run: python benchmarks/eval_geo_model.py [--run DIR] [--work DIR [--reuse-predictions]] [--seeds 1,2]
     [-- LINK OPTIONS...]

`--run` is a finished default workflow run (default: this checkout): its `results/model` predicts the demo
city's 36 photos and its 20 val views, and the photos of cities it never saw (`demo-city --seed S --train 1
--val 1 --photos 36 --blocks 4 --size 384x288`, the demo's own size); each set is linked with the `link`
defaults (EXIF poses; what follows `--` is passed on to `link`, e.g. `-- --min-link-share 0.5`) and scored
by `evaluate-geo --max-view-angle 75 --min-wall-m2 5`. Printed per set: the mean absolute error in points,
overall / N / E / S / W, against the visible-part truth (every view of the photos) and against the truth of
the views linked, and the sum of the per-orientation errors over all sets: with about ten footprints per
orientation and set, one bad mask moves a set's figure by a point or two, and a change to the method is
better judged by that sum than by the demo's figure alone (docs/measurements.md, "A mask over two buildings").
`compare_geo_models.py` compares two models' `--work` folders on the footprints both saw.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORIENTATIONS = ("north", "east", "south", "west")


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "facade_wwr.cli", *args], check=True, capture_output=True)


def score(
    run: Path, photos: Path, city: Path, footprints: Path, work: Path, link_args: list[str], reuse: bool = False
) -> dict:
    """Predict (unless ``reuse`` and an earlier call predicted with the same model there), link and score
    one photo set; the geo.json figures."""
    pred, links, geo = work / "pred", work / "links.parquet", work / "geo.json"
    model, marker = str((run / "results" / "model").resolve()), work / "predicted_with"
    jpegs = sorted(str(p) for p in photos.glob("*.jpg"))
    if not (reuse and marker.is_file() and marker.read_text() == model):
        cli("predict", "--model", model, "--out", str(pred), "--quiet", *jpegs)
        marker.write_text(model)
    cli("link", str(pred), "--footprints", str(footprints), "--photos", str(photos), "--out", str(links),
        "--quiet", *link_args)  # fmt: skip
    cli("evaluate-geo", str(links), "--truth", str(city), "--out", str(geo), "--max-view-angle", "75",
        "--min-wall-m2", "5", "--quiet")  # fmt: skip
    return json.loads(geo.read_text())


def cells(errors: dict) -> str:
    def f(value: float | None) -> str:
        return "  -  " if value is None else f"{value:5.2f}"

    return " / ".join(f(errors[k]["mae_points"]) for k in ("overall", *ORIENTATIONS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=ROOT, help="a finished default workflow run (default: here)")
    parser.add_argument("--work", type=Path, help="keep the cities, predictions and links here")
    parser.add_argument("--seeds", default="1,2", help="seeds of the unseen cities (default: 1,2)")
    parser.add_argument(
        "--reuse-predictions",
        action="store_true",
        help="with --work: keep the predictions an earlier call made there (to compare link options on one model)",
    )
    args, link_args = parser.parse_known_args()
    link_args = [a for a in link_args if a != "--"]
    if args.reuse_predictions and args.work is None:
        parser.error("--reuse-predictions needs --work DIR (where an earlier call left its predictions)")
    demo = args.run / "results" / "demo"
    if not (args.run / "results" / "model" / "model.pt").is_file() or not demo.is_dir():
        sys.exit(f"{args.run}: no results/model/model.pt or results/demo; run 'snakemake --cores all' there first")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        sets = {"demo photos": (demo / "photos", demo), "val views": (demo / "val", demo)}
        for seed in (int(s) for s in args.seeds.split(",") if s):
            city = work / f"city{seed}"
            if not city.exists():
                cli("demo-city", str(city), "--seed", str(seed), "--train", "1", "--val", "1", "--photos", "36",
                    "--blocks", "4", "--size", "384x288", "--quiet")  # fmt: skip
            sets[f"seed {seed}"] = (city / "photos", city)
        total = {"visible": 0.0, "linked": 0.0}
        print(f"{'set':12s} | vs every view: overall / N / E / S / W     | vs the views linked            | links")
        indexes: dict[Path, Path] = {}  # one index per city (the demo's photos and val views share one)
        for k, (name, (photos, city)) in enumerate(sets.items()):
            if city not in indexes:
                indexes[city] = work / f"footprints_{len(indexes)}.parquet"
                cli("index-footprints", str(city / "footprints.geojson"), "--out", str(indexes[city]), "--quiet")
            index = indexes[city]
            folder = work / f"set{k}"
            folder.mkdir(parents=True, exist_ok=True)  # set.json: which set and truth (for compare_geo_models.py)
            (folder / "set.json").write_text(json.dumps({"name": name, "truth": str(city.resolve())}))
            result = score(args.run, photos, city, index, folder, link_args, args.reuse_predictions)
            visible, linked = result["wwr_vs_visible_truth"], result["wwr_vs_linked_views_truth"]
            total["visible"] += sum(visible[o]["mae_points"] or 0.0 for o in ORIENTATIONS)
            total["linked"] += sum(linked[o]["mae_points"] or 0.0 for o in ORIENTATIONS)
            links = result["links"]
            print(
                f"{name:12s} | {cells(visible)} | {cells(linked)} | {links['linked_buildings']} linked, "
                f"{links['linked_right']} right, {result['footprints_seen']} footprints"
            )
        print(
            f"sum of the {4 * len(sets)} per-orientation errors: {total['visible']:.1f} against every view, "
            f"{total['linked']:.1f} against the views linked"
        )


if __name__ == "__main__":
    main()
