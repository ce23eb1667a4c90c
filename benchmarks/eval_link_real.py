"""`facade-wwr link` on the real data set: EXIF poses, agreement before and after refinement, PLATEAU IDs.

Run: python benchmarks/eval_link_real.py [--data ../shared/datasets/japan-buildings] [--work DIR]
     [--readme-image /tmp/link-real.jpg]

Reads the EXIF pose of every val photo, then links, with ground-truth masks (the VIA polygons) as predictions
and the EXIF poses, the rooftop val view `_0CfAgwU4GRi9S6yzBbnxQ.jpg` and the 11 train photos that carry both
GPS and building polygons to `footprints/plateau-2020.geojson` (`--id-column 建物ID --height-column
measuredHeight`, every other setting at its default). Prints per photo the agreement (mean IoU of each
building's mask with its footprints' render, ``facade_wwr.refine``) before and after refinement, the
silhouette IoU (all building masks against all rendered footprints: the measure of the first feasibility
check) at the EXIF pose with the default hfov, pitch and height and at the refined pose, the refined pose, and
how many buildings got a PLATEAU ID. Overlays go to ``--work``/overlays; ``--readme-image`` also writes the
overlay of the street view `train/DWCf628rMiMc6e5Xo18Li0.jpg` there, 1280 px wide (outside the repository: the
photo belongs to the data set, which is never copied into it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from PIL import Image

from facade_wwr import predictions
from facade_wwr.coco import Source, load_coco, via_to_coco
from facade_wwr.errors import Warnings
from facade_wwr.poses import PoseSources

_CACHE: dict = {}
ROOFTOP = "_0CfAgwU4GRi9S6yzBbnxQ.jpg"
STREET = "DWCf628rMiMc6e5Xo18Li0.jpg"
TRAIN = [
    "DWCf628rMiMc6e5Xo18Li0.jpg",
    "DvR4T-XKUa2ehD-3uTTgtx.jpg",
    "DwKaDnrqAKGehLP0rQ5CjQ.jpg",
    "E0U59p9aeDAqGF_J8rB-0w.jpg",
    "E1h7MaFb_m6XHDmhferbCA.jpg",
    "EapSyJQ3Lrs_Bqd8T8R4RA.jpg",
    "dvRYMdfB2oz8roEaNB-2tg.jpg",
    "dwiM-W406o017ahrjL7c5Q.jpg",
    "dzMdPtKTM4vUm7ORPBpHKA.jpg",
    "e81tnLN1q3ianW2zN63J8A.jpg",
    "mWaPrwkyWaJj0lnhtqwT3A.jpg",
]


def ground_truth(data: Path, split: str, names: list[str], out: Path) -> None:
    coco_path = out.parent / f"{split}.coco.json"
    via = data / split / "via_region_data.json"
    via_to_coco([Source(str(via), str(data / split))], coco_path, warnings=Warnings(quiet=True))
    coco = load_coco(coco_path)
    out.mkdir(parents=True, exist_ok=True)
    for image in coco["images"]:
        if image["file_name"] in names:
            table = predictions.from_coco(coco, image["id"])
            path = out / f"{Path(image['file_name']).stem}.parquet"
            predictions.write(path, table, image["file_name"], image["width"], image["height"], "truth", "truth")


def silhouette(data: Path, work: Path, name: str, final: pd.Series) -> tuple[float, float]:
    """IoU of the union of the photo's building masks with the union of the rendered footprints, at the
    EXIF pose with the default hfov, pitch and height, and at the refined pose (the measure of docs)."""
    from facade_wwr import link, prisms, refine
    from facade_wwr.analysis import select_instances
    from facade_wwr.footprints import read_footprints
    from facade_wwr.geo_settings import GeoSettings

    settings = GeoSettings(id_column="建物ID", height_column="measuredHeight")
    if "footprints" not in _CACHE:
        path = data / "footprints" / "plateau-2020.geojson"
        _CACHE["footprints"] = read_footprints(path, settings, Warnings(quiet=True))
    split = "val" if name == ROOFTOP else "train"
    pred = predictions.read(work / f"pred_{split}" / f"{Path(name).stem}.parquet")
    pose, _ = PoseSources.of(["exif"], str(data / split), None, Warnings(quiet=True)).pose(
        name, pred.width, pred.height
    )
    scene = link.photo_scene(_CACHE["footprints"], pose.lat, pose.lon, settings.max_distance + settings.gps_error)
    rles = select_instances(pred, 0.7, name, Warnings(quiet=True)).building_rles
    rows, cols = refine.sample_grid(pred.width, pred.height, refine.FINE_SAMPLES)
    inside = link.building_samples(rles, rows, cols) >= 0
    east, north = scene.frame.to_local(final["lon"], final["lat"])
    out = []
    for p in (
        refine.Params(pose.heading, settings.hfov, settings.pitch, settings.camera_height),
        refine.Params(
            final["heading"], final["hfov"], final["pitch"], final["camera_height"], float(east), float(north)
        ),
    ):
        camera = p.camera(pred.width, pred.height)
        view = link.FinalView(scene.scene, camera)
        _, footprint, _ = view.surfaces(*prisms.rays(camera, cols + 0.5, rows + 0.5))
        seen = footprint >= 0
        out.append(float((inside & seen).sum() / max((inside | seen).sum(), 1)))
    return out[0], out[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/datasets/japan-buildings")
    p.add_argument("--work")
    p.add_argument("--readme-image")
    args = p.parse_args()
    data = Path(args.data)
    val_photos = sorted((data / "val").glob("*.jpg"))
    poses = PoseSources.of(["exif"], str(data / "val"), None, Warnings(quiet=True))
    read = 0
    for photo in val_photos:
        with Image.open(photo) as im:
            pose, _ = poses.pose(photo.name, *im.size)
        read += pose is not None
    print(f"EXIF poses read: {read} of {len(val_photos)} val photos")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        tables = []
        for split, names in (("val", [ROOFTOP]), ("train", TRAIN)):
            pred = work / f"pred_{split}"
            ground_truth(data, split, names, pred)
            out = work / f"links_{split}.parquet"
            cmd = [sys.executable, "-m", "facade_wwr.cli", "link", str(pred), "--out", str(out), "--quiet"]
            cmd += ["--footprints", str(data / "footprints" / "plateau-2020.geojson"), "--photos", str(data / split)]
            cmd += ["--id-column", "建物ID", "--height-column", "measuredHeight", "--overlays", str(work / "overlays")]
            subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
            tables.append(pd.read_parquet(out))
        table = pd.concat(tables)
        linked = table[table["status"] == "linked"].groupby("file_name")["id"].nunique()
        photos = table.groupby("file_name").agg(
            before=("alignment_before", "first"),
            after=("alignment", "first"),
            lat=("lat", "first"),
            lon=("lon", "first"),
            heading=("heading", "first"),
            hfov=("hfov", "first"),
            pitch=("pitch", "first"),
            camera_height=("camera_height", "first"),
            buildings=("id", "nunique"),
        )
        photos["linked"] = linked.reindex(photos.index).fillna(0).astype(int)
        silhouettes = [silhouette(data, work, name, photos.loc[name]) for name in photos.index]
        photos["silhouette_before"] = [s[0] for s in silhouettes]
        photos["silhouette_after"] = [s[1] for s in silhouettes]
        print(photos.drop(columns=["lat", "lon"]).round(3).to_string())
        ids = table["footprint_id"].dropna()
        print(f"{ids.nunique()} PLATEAU IDs in the links, e.g. {', '.join(sorted(ids.unique())[:3])}")
        if args.readme_image:
            image = Image.open(work / "overlays" / (Path(STREET).stem + ".jpg"))
            image.thumbnail((1280, 1280))
            image.save(args.readme_image, quality=85)
            print(f"wrote {args.readme_image}")


if __name__ == "__main__":
    main()
