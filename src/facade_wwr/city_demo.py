"""``facade-wwr demo-city``: write a deterministic synthetic neighbourhood, its photos with EXIF poses, VIA
exports and the true WWR of every wall, footprint and view.

Layout of OUT:

* ``footprints.geojson``: building outlines in WGS84 lon/lat, properties ``id`` (text) and ``height``
  (metres to the top, null for a few); most rings clockwise, as PLATEAU's are, the others counter-clockwise;
* ``train/``, ``val/``, ``photos/``: JPEGs with the pose in EXIF (``facade_wwr.exif``) and a VIA 2 export
  ``via_region_data.json`` (the demo's format: polygons with a ``class`` checkbox attribute; each building
  followed by its windows);
* ``poses.csv`` (true poses; the EXIF may be perturbed by ``--pose-noise``), ``truth_walls.csv``,
  ``truth_footprints.csv``, ``truth_views.csv``, ``truth_view_buildings.csv``, ``truth_photos.csv``.

Every photo has its own random stream seeded from ``(seed, split, index)`` and the city its own from
``seed``; the same arguments give byte-identical files. OUT is written into a temporary sibling folder
and swapped into place at the end; an existing OUT is replaced only if it is an earlier demo city.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from facade_wwr.city import FOOTPRINT_COLUMNS, WALL_COLUMNS, City, footprint_rows, generate_city, wall_rows
from facade_wwr.city_render import Palette, SurfaceSet, city_palette, city_surfaces
from facade_wwr.city_views import (
    PHOTO_COLUMNS,
    SPLITS,
    VIEW_BUILDING_COLUMNS,
    VIEW_COLUMNS,
    Streets,
    View,
    make_view,
    photo_row,
    view_building_rows,
    view_rows,
)
from facade_wwr.demo import JPEG_QUALITY
from facade_wwr.errors import UserError
from facade_wwr.exif import pose_exif, read_pose
from facade_wwr.fileio import replaced_folder
from facade_wwr.geo import LocalFrame
from facade_wwr.outline import Polygon

MARKER_FILE = ".facade-wwr-demo-city"
FOOTPRINTS_FILE = "footprints.geojson"
POSES_FILE = "poses.csv"
VIA_FILE = "via_region_data.json"
#: Default photo size: 4:3, small enough to train on 2 CPU cores in minutes, large enough that most
#: windows exceed Mask R-CNN's smallest 8-pixel anchors at the street distances used.
DEFAULT_SIZE = (384, 288)
DEFAULT_ORIGIN = (35.63, 139.74)
MIN_SIZE, MAX_SIZE = 96, 4096
MAX_BLOCKS = 64
POSE_COLUMNS = [
    "file_name",
    "lat",
    "lon",
    "heading",
    "pitch",
    "hfov",
    "camera_height",
    "split",
    "east",
    "north",
    "width",
    "height",
    "f35",
    "exif_lat",
    "exif_lon",
    "exif_heading",
    "target_footprint_id",
    "target_wall",
    "off_normal",
]


# --------------------------------------------------------------------------- options


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` in pixels, each from MIN_SIZE to MAX_SIZE."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise UserError(f"--size {text}: give the photo size as WIDTHxHEIGHT in pixels, e.g. 384x288")
    width, height = int(m.group(1)), int(m.group(2))
    if not (MIN_SIZE <= width <= MAX_SIZE and MIN_SIZE <= height <= MAX_SIZE):
        raise UserError(f"--size {text}: width and height must each be from {MIN_SIZE} to {MAX_SIZE} pixels")
    return width, height


def _floats(text: str, option: str, form: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        a, b = float(parts[0]), float(parts[1])
    except ValueError:
        raise UserError(f"{option} {text}: give two numbers as {form}") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise UserError(f"{option} {text}: give two finite numbers as {form}")
    return a, b


def parse_origin(text: str) -> tuple[float, float]:
    """``LAT,LON`` in degrees (latitude within +-80, longitude within +-180)."""
    lat, lon = _floats(text, "--origin", "LAT,LON in degrees, e.g. 35.63,139.74")
    if not (-80.0 <= lat <= 80.0 and -180.0 <= lon <= 180.0):
        raise UserError(f"--origin {text}: latitude must be within -80..80 and longitude within -180..180 degrees")
    return lat, lon


def parse_pose_noise(text: str) -> tuple[float, float]:
    """``METRES,DEGREES``: standard deviations of the EXIF position (per axis) and heading, both >= 0."""
    metres, degrees = _floats(text, "--pose-noise", "METRES,DEGREES, e.g. 3,5")
    if metres < 0 or degrees < 0:
        raise UserError(f"--pose-noise {text}: standard deviations cannot be negative")
    return metres, degrees


@dataclass(frozen=True)
class Options:
    seed: int = 0
    blocks: int = 4
    train: int = 60
    val: int = 20
    photos: int = 10
    size: tuple[int, int] = DEFAULT_SIZE
    origin: tuple[float, float] = DEFAULT_ORIGIN
    pose_noise: tuple[float, float] = (0.0, 0.0)

    def check(self) -> None:
        if self.seed < 0:
            raise UserError(f"--seed {self.seed}: give a seed of 0 or more")
        if not 1 <= self.blocks <= MAX_BLOCKS:
            raise UserError(f"--blocks {self.blocks}: give from 1 to {MAX_BLOCKS} city blocks")
        for name in ("train", "val", "photos"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} {getattr(self, name)}: give a count of 0 or more")


# --------------------------------------------------------------------------- files


def _csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def footprints_geojson(city: City, frame: LocalFrame) -> dict[str, Any]:
    """GeoJSON of the footprints: lon/lat to 1e-9 degrees; a ring written clockwise is the counter-clockwise
    ring reversed with the same start vertex, so shapely ``orient(polygon, 1.0)`` gives back the wall order."""
    features = []
    for fp in city.footprints:
        ring = np.vstack([fp.ring[:1], fp.ring[:0:-1]]) if fp.written_clockwise else fp.ring
        lon, lat = frame.to_lonlat(ring[:, 0], ring[:, 1])
        coords = [[round(float(x), 9), round(float(y), 9)] for x, y in zip(lon, lat)]
        features.append(
            {
                "type": "Feature",
                "properties": {"id": fp.id, "height": fp.recorded_height},
                "geometry": {"type": "Polygon", "coordinates": [coords + coords[:1]]},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _region(polygon: Polygon, category: str) -> dict[str, Any]:
    return {
        "shape_attributes": {"name": "polygon", "all_points_x": polygon[0], "all_points_y": polygon[1]},
        "region_attributes": {"class": {category: True}},
    }


def via_regions(view: View) -> tuple[list[dict[str, Any]], list[int | None]]:
    """Polygon regions in VIA order (each building, then its windows; windows of a building left out follow
    its place) and the region index of every building (None if left out)."""
    regions: list[dict[str, Any]] = []
    index: list[int | None] = []
    for inst in view.instances:
        if inst.polygon is not None:
            index.append(len(regions))
            regions.append(_region(inst.polygon, "building"))
        else:
            index.append(None)
        regions += [_region(polygon, "window") for _, polygon in inst.windows]
    return regions, index


def photo_pose(view: View, frame: LocalFrame, noise: tuple[float, float], seed: int) -> dict[str, Any]:
    """The true pose (lat, lon, true heading) and the one written into EXIF (perturbed by ``noise``)."""
    cam = view.pose.camera
    lon, lat = (float(x) for x in frame.to_lonlat(cam.east, cam.north))
    heading = (cam.heading + frame.grid_convergence(cam.east, cam.north)) % 360.0
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2, SPLITS[view.split], view.index]))
    de, dn, dh = rng.normal(0.0, 1.0, 3) * np.array([noise[0], noise[0], noise[1]])
    exif_lon, exif_lat = (float(x) for x in frame.to_lonlat(cam.east + de, cam.north + dn))
    return {
        "lat": lat,
        "lon": lon,
        "heading": heading,
        "exif_lat": exif_lat,
        "exif_lon": exif_lon,
        "exif_heading": (heading + dh) % 360.0,
    }


def jpeg_with_exif(image: np.ndarray, exif: Image.Exif) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=JPEG_QUALITY, subsampling=0, exif=exif)
    return buf.getvalue()


@dataclass(frozen=True)
class Setting:
    """What every view of one run shares: the city, its geometry for placing cameras, its surfaces and colours."""

    city: City
    frame: LocalFrame
    streets: Streets
    surfaces: SurfaceSet
    palette: Palette

    @classmethod
    def of(cls, options: Options) -> Setting:
        city = generate_city(options.seed, options.blocks)
        frame = LocalFrame(*options.origin)
        return cls(city, frame, Streets.of(city), city_surfaces(city), city_palette(options.seed, city))


@dataclass
class Tables:
    """Rows of the per-view CSV files, gathered over all splits."""

    poses: list[dict]
    views: list[dict]
    buildings: list[dict]
    photos: list[dict]


def _write_split(folder: Path, split: str, count: int, options: Options, setting: Setting, tables: Tables) -> None:
    """Photos and VIA file of one split into ``folder``; its rows into ``tables``."""
    folder.mkdir()
    city, frame, palette = setting.city, setting.frame, setting.palette
    via: dict[str, Any] = {}
    for i in range(count):
        view = make_view(options.seed, split, i, city, setting.streets, setting.surfaces, palette, options.size)
        name = f"{'photo' if split == 'photos' else split}_{i:04d}.jpg"
        pose = photo_pose(view, frame, options.pose_noise, options.seed)
        f35 = view.pose.f35
        data = jpeg_with_exif(view.image, pose_exif(pose["exif_lat"], pose["exif_lon"], pose["exif_heading"], f35))
        (folder / name).write_bytes(data)
        written = read_pose(folder / name)  # the pose as EXIF holds it (rounded to its rationals), for poses.csv
        regions, index = via_regions(view)
        via[f"{name}{len(data)}"] = {"filename": name, "size": len(data), "regions": regions, "file_attributes": {}}
        cam = view.pose.camera
        tables.poses.append(
            {
                "file_name": name,
                "lat": f"{pose['lat']:.10f}",
                "lon": f"{pose['lon']:.10f}",
                "heading": f"{pose['heading']:.6f}",
                "pitch": f"{cam.pitch:.6f}",
                "hfov": f"{cam.hfov:.6f}",
                "camera_height": f"{cam.up:.4f}",
                "split": split,
                "east": f"{cam.east:.4f}",
                "north": f"{cam.north:.4f}",
                "width": cam.width,
                "height": cam.height,
                "f35": "" if f35 is None else f35,
                "exif_lat": f"{written.lat:.10f}",
                "exif_lon": f"{written.lon:.10f}",
                "exif_heading": f"{written.heading:.6f}",
                "target_footprint_id": city.footprints[view.pose.target].id,
                "target_wall": view.pose.wall,
                "off_normal": f"{view.pose.off_normal:.3f}",
            }
        )
        tables.views += view_rows(view, name, city, palette)
        tables.buildings += view_building_rows(view, name, city, palette, index)
        tables.photos.append(photo_row(view, name, palette))
    (folder / VIA_FILE).write_text(json.dumps(via) + "\n", encoding="utf-8")


def generate(out: str | os.PathLike[str], options: Options) -> dict[str, Any]:
    """Write the demo city into ``out`` (replacing an earlier one there) and return a summary."""
    options.check()
    setting = Setting.of(options)
    city = setting.city
    with replaced_folder(out, (MARKER_FILE,), "demo city") as tmp:
        tables = Tables([], [], [], [])
        counts = {"train": options.train, "val": options.val, "photos": options.photos}
        for split, count in counts.items():
            _write_split(tmp / split, split, count, options, setting, tables)
        geojson = footprints_geojson(city, setting.frame)
        (tmp / FOOTPRINTS_FILE).write_text(json.dumps(geojson) + "\n", encoding="utf-8")
        _csv(tmp / POSES_FILE, POSE_COLUMNS, tables.poses)
        _csv(tmp / "truth_walls.csv", WALL_COLUMNS, wall_rows(city))
        _csv(tmp / "truth_footprints.csv", FOOTPRINT_COLUMNS, footprint_rows(city))
        _csv(tmp / "truth_views.csv", VIEW_COLUMNS, tables.views)
        _csv(tmp / "truth_view_buildings.csv", VIEW_BUILDING_COLUMNS, tables.buildings)
        _csv(tmp / "truth_photos.csv", PHOTO_COLUMNS, tables.photos)
        (tmp / MARKER_FILE).write_text("written by facade-wwr demo-city; replaced by its next run\n")
    return {
        "out": str(out),
        "footprints": len(city.footprints),
        "walls": sum(len(fp.walls) for fp in city.footprints),
        "photos": counts,
        "buildings_in_via": sum(1 for r in tables.buildings if r["via_region"] != ""),
        "buildings_left_out": sum(1 for r in tables.buildings if r["via_region"] == ""),
        "windows_in_via": sum(r["windows_in_via"] for r in tables.photos),
        "windows_dropped": sum(r["windows_dropped"] for r in tables.photos),
        "size": options.size,
        "seed": options.seed,
    }


def format_summary(summary: dict[str, Any]) -> str:
    photos = summary["photos"]
    w, h = summary["size"]
    return (
        f"{summary['out']}: {summary['footprints']} footprints ({summary['walls']} walls); {photos['train']} train, "
        f"{photos['val']} val, {photos['photos']} photos ({w}x{h} px, seed {summary['seed']}); "
        f"{summary['buildings_in_via']} building and {summary['windows_in_via']} window polygons "
        f"({summary['buildings_left_out']} buildings and {summary['windows_dropped']} windows not one hole-free "
        f"region, left out); truth in {Path(summary['out'])}/truth_*.csv"
    )
