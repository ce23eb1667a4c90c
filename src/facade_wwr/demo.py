"""A deterministic synthetic facade data set: photos, VIA 2 exports, tagged points and true window percentages.

Why it exists: the workflow needs an embedded default data set, and fast tests need training data a
small Mask R-CNN can learn on CPU in minutes. Every image shows 1-4 buildings standing on a street,
drawn back to front so that a building in front hides part of the one behind; each building is a
rectangle (sometimes with a gabled roof) carrying a grid of framed rectangular windows.

Ground truth is exact by construction:

* every mask is rasterised first, and the photo is painted from those very masks;
* a VIA polygon traces the *visible* part of each building and window by the rule of
  :mod:`facade_wwr.outline`, so that via2coco rasterises it into exactly the generator's mask (checked for
  every polygon before the photo is painted: an instance whose polygon would not round-trip is dropped,
  never written);
* no mask touches the first image row or column, since a vertex there would need a negative VIA
  coordinate (which via2coco clips with a warning);
* ``truth.csv`` holds, per building, its visible pixels, the visible window pixels inside it and their ratio.

Each image has its own random stream, seeded from ``(seed, split, index)``, so the same arguments give
byte-identical files and changing one split's count leaves the other splits unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from facade_wwr.errors import UserError
from facade_wwr.fileio import replaced_folder
from facade_wwr.outline import Polygon, rectangle, trace_polygon

#: Splits in generation order, with the stream id that seeds their images.
SPLITS: dict[str, int] = {"train": 0, "val": 1, "photos": 2}
#: File written into OUT that marks it as a demo data set (and may therefore be replaced).
TRUTH_FILE = "truth.csv"
#: marks a folder as a demo data set even while truth.csv is missing (Snakemake deletes a job's declared
#: outputs, truth.csv among them, before the job runs again)
MARKER_FILE = ".facade-wwr-demo"
TRUTH_COLUMNS = [
    "split",
    "file_name",
    "building",
    "via_region",
    "tagged_id",
    "pixel_area",
    "window_count",
    "window_pixel_area",
    "window_percentage",
    "x0",
    "y0",
    "x1",
    "y1",
]
VIA_FILE = "via_region_data.json"
TAGGED_FILE = "tagged.json"
#: Share of buildings in OUT/photos deliberately left without a tagged point.
UNTAGGED_SHARE = 0.15
JPEG_QUALITY = 92
MIN_SIZE = 96
MAX_SIZE = 4096
#: A partly hidden window is kept (clipped) if at least this share of it stays visible; otherwise it is not drawn.
MIN_WINDOW_VISIBLE = 0.4
LAYOUT_TRIES = 40
#: Walls of one photo differ by at least this RGB distance (tried COLOUR_TRIES times).
MIN_WALL_DISTANCE = 70.0
COLOUR_TRIES = 20


@dataclass
class Window:
    """An axis-aligned window; ``x1``/``y1`` are exclusive pixel edges."""

    x0: int
    y0: int
    x1: int
    y1: int
    visible: np.ndarray | None = None  # visible part within the rectangle, set once occlusion is known
    polygon: Polygon | None = None

    def mask(self, height: int, width: int) -> np.ndarray:
        """The visible window as a full-image mask."""
        assert self.visible is not None
        full = np.zeros((height, width), dtype=bool)
        full[self.y0 : self.y1, self.x0 : self.x1] = self.visible
        return full


@dataclass
class Building:
    """A facade rectangle ``[x0, x1) x [top, bottom)``, an optional gable above it, and its windows."""

    x0: int
    x1: int
    top: int
    bottom: int
    gable: int  # height of the triangular roof above ``top``, 0 for a flat roof
    wall: np.ndarray  # RGB float colours
    roof: np.ndarray
    glass: np.ndarray
    frame: np.ndarray
    frame_width: int
    mullion: bool
    windows: list[Window] = field(default_factory=list)
    door: tuple[int, int, int, int] | None = None
    full: np.ndarray | None = None  # full mask (before occlusion)
    visible: np.ndarray | None = None
    polygon: Polygon | None = None
    tagged_id: str = ""
    tag_point: tuple[int, int] | None = None


@dataclass
class Scene:
    """One synthetic photo and its ground truth; ``buildings`` are ordered back to front."""

    image: np.ndarray  # (H, W, 3) uint8
    buildings: list[Building]


# --------------------------------------------------------------------------- geometry and masks


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)`` of the set pixels (exclusive ends), or None for an empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _building_mask(b: Building, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[b.top : b.bottom, b.x0 : b.x1] = 1
    if b.gable:
        apex = ((b.x0 + b.x1 - 1) // 2, b.top - b.gable)
        triangle = np.array([[b.x0, b.top], [b.x1 - 1, b.top], list(apex)], dtype=np.int32)
        cv2.fillPoly(mask, [triangle], 1)
    mask[0, :] = 0
    mask[:, 0] = 0
    return mask.astype(bool)


# --------------------------------------------------------------------------- random layout


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """An RGB colour in 0..255 from hue (0..360), saturation and value (0..1)."""
    pixel = np.array([[[h / 2.0, s * 255.0, v * 255.0]]], dtype=np.float32).clip(0, 255).astype(np.uint8)
    return cv2.cvtColor(pixel, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float64)


def _luma(rgb: np.ndarray) -> float:
    return float(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


def _colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wall, roof, glass and frame colours, with glass clearly darker or lighter than the wall."""
    wall = _hsv(rng.uniform(0, 360), rng.uniform(0.05, 0.5), rng.uniform(0.45, 0.92))
    roof = _hsv(rng.choice([5.0, 15.0, 25.0, 210.0, 0.0]), rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.45))
    if _luma(wall) > 110 or rng.random() < 0.7:
        glass = _hsv(rng.uniform(190, 230), rng.uniform(0.2, 0.6), rng.uniform(0.1, 0.3))
    else:
        glass = _hsv(rng.uniform(190, 210), rng.uniform(0.1, 0.3), rng.uniform(0.8, 0.95))
    if abs(_luma(glass) - _luma(wall)) < 60:
        glass = _hsv(210.0, 0.4, 0.12)
    frame = [np.array([235.0, 235.0, 230.0]), np.array([70.0, 50.0, 35.0]), np.array([120.0, 120.0, 125.0])]
    return wall, roof, glass, frame[int(rng.integers(0, 3))]


def _windows(rng: np.random.Generator, x0: int, x1: int, top: int, bottom: int, scale: float) -> list[Window]:
    """A grid of equal windows on the facade ``[x0, x1) x [top, bottom)``; margins, sometimes a bare ground floor."""
    width, height = x1 - x0, bottom - top
    ww = int(rng.integers(round(8 * scale), round(26 * scale) + 1))
    wh = int(min(rng.integers(round(10 * scale), round(30 * scale) + 1), round(40 * scale)))
    side = int(rng.integers(round(5 * scale), round(14 * scale) + 1))
    hgap = int(rng.integers(round(5 * scale), round(16 * scale) + 1))
    vgap = int(rng.integers(round(6 * scale), round(16 * scale) + 1))
    top_margin = int(rng.integers(round(5 * scale), round(14 * scale) + 1))
    bottom_margin = int(rng.integers(round(4 * scale), round(10 * scale) + 1))
    if rng.random() < 0.35:  # shop front or entrance level without windows
        bottom_margin += int(rng.integers(round(12 * scale), round(26 * scale) + 1))
    cols = (width - 2 * side + hgap) // (ww + hgap)
    rows = (height - top_margin - bottom_margin + vgap) // (wh + vgap)
    if cols < 1 or rows < 1:
        return []
    left = x0 + (width - (cols * ww + (cols - 1) * hgap)) // 2
    windows = []
    for r in range(rows):
        for c in range(cols):
            if rng.random() < 0.04:  # a bricked-up window now and then
                continue
            wx = left + c * (ww + hgap)
            wy = top + top_margin + r * (wh + vgap)
            windows.append(Window(wx, wy, wx + ww, wy + wh))
    return windows


def _building(
    rng: np.random.Generator, size: int, ground: int, scale: float, others: Sequence[Building] = ()
) -> Building:
    width = int(min(rng.integers(round(60 * scale), round(200 * scale) + 1), size - 2))
    x0 = int(rng.integers(-width // 3, size - (2 * width) // 3))
    bottom = min(ground + int(rng.integers(0, round(14 * scale) + 1)), size)
    height = int(rng.integers(round(60 * scale), round(190 * scale) + 1))
    top = max(bottom - height, round(8 * scale))
    gable = 0
    if rng.random() < 0.3:
        gable = int(min(rng.uniform(0.15, 0.4) * width, top - 2))
        gable = gable if gable >= round(6 * scale) else 0
    for _ in range(COLOUR_TRIES):  # neighbours in the same colour would look like one building
        wall, roof, glass, frame = _colours(rng)
        if all(np.linalg.norm(wall - o.wall) >= MIN_WALL_DISTANCE for o in others):
            break
    b = Building(
        x0=max(x0, 1),
        x1=min(x0 + width, size),
        top=top,
        bottom=bottom,
        gable=gable,
        wall=wall,
        roof=roof,
        glass=glass,
        frame=frame,
        frame_width=int(rng.integers(1, 3)) if scale < 1.5 else int(round(rng.uniform(1, 2.5) * scale)),
        mullion=bool(rng.random() < 0.4),
    )
    grid = _windows(rng, x0, x0 + width, top, bottom, scale)  # laid out on the whole facade, even off-image
    b.windows = [w for w in grid if w.x0 >= b.x0 and w.x1 <= b.x1]
    if rng.random() < 0.3 and b.bottom - b.top > 40 * scale:
        dw, dh = int(rng.integers(round(8 * scale), round(14 * scale) + 1)), int(round(rng.uniform(16, 24) * scale))
        dx = int(rng.integers(b.x0 + 2, max(b.x0 + 3, b.x1 - dw - 2)))
        lowest = max((w.y1 for w in b.windows), default=b.top)
        if b.bottom - dh > lowest + 2:
            b.door = (dx, b.bottom - dh, dx + dw, b.bottom)
    return b


def _occlude(buildings: list[Building], size: int, scale: float) -> bool:
    """Compute visible masks and polygons back to front; False if some building is hidden too much or split."""
    hidden_by_front = np.zeros((size, size), dtype=bool)
    for b in reversed(buildings):  # front first: what is in front hides what is behind
        b.full = _building_mask(b, size, size)
        b.visible = b.full & ~hidden_by_front
        hidden_by_front |= b.full
        full_area, seen = int(b.full.sum()), int(b.visible.sum())
        if seen < max(0.3 * full_area, 900 * scale * scale):
            return False
        b.polygon = trace_polygon(b.visible)
        if b.polygon is None:
            return False
        kept = []
        for w in b.windows:
            w.visible = b.visible[w.y0 : w.y1, w.x0 : w.x1].copy()
            box = _bbox(w.visible)
            if box is None or w.visible.sum() < MIN_WINDOW_VISIBLE * w.visible.size:
                continue
            if box[1] - box[0] < 3 or box[3] - box[2] < 3:  # a sliver
                continue
            if w.visible.all():  # fully visible: the rectangle itself, along its pixel edges
                w.polygon = rectangle(w.x0, w.y0, w.x1, w.y1)
            else:
                w.polygon = trace_polygon(w.visible, (w.x0, w.y0))
            if w.polygon is not None:
                kept.append(w)
        b.windows = kept
    return True


def layout(rng: np.random.Generator, size: int) -> tuple[list[Building], int]:
    """Buildings back to front (farther ones stand higher on the street) and the ground line."""
    scale = size / 256.0
    for _ in range(LAYOUT_TRIES):
        ground = int(rng.integers(round(0.74 * size), round(0.88 * size) + 1))
        count = int(rng.choice([1, 2, 3, 4], p=[0.1, 0.3, 0.35, 0.25]))
        buildings: list[Building] = []
        for _ in range(count):
            buildings.append(_building(rng, size, ground, scale, buildings))
        buildings.sort(key=lambda b: b.bottom)
        if _occlude(buildings, size, scale):
            return buildings, ground
    # Fallback that always works: one building, nothing to hide it.
    buildings = [_building(rng, size, round(0.8 * size), scale)]
    if not _occlude(buildings, size, scale):
        raise RuntimeError("demo layout failed")  # pragma: no cover - one unoccluded rectangle always traces
    return buildings, round(0.8 * size)


# --------------------------------------------------------------------------- painting


def _paint(rng: np.random.Generator, buildings: list[Building], ground: int, size: int) -> np.ndarray:
    """Paint sky, street, then each building back to front from its full mask, then windows and noise."""
    t = np.linspace(0.0, 1.0, size)[:, None, None]
    sky_top = _hsv(rng.uniform(200, 225), rng.uniform(0.3, 0.7), rng.uniform(0.55, 0.8))
    sky_low = _hsv(rng.uniform(190, 215), rng.uniform(0.05, 0.3), rng.uniform(0.85, 1.0))
    if rng.random() < 0.25:  # overcast
        grey = rng.uniform(150, 215)
        sky_top, sky_low = np.full(3, grey - 25.0), np.full(3, grey + 20.0)
    img = np.broadcast_to(sky_top * (1 - t) + sky_low * t, (size, size, 3)).copy()
    street = rng.uniform(70, 120)
    img[ground:] = street + rng.normal(0.0, 3.0, (size - ground, size, 1))
    kerb = min(size, ground + max(2, size // 60))
    img[ground:kerb] = street + 60.0
    for b in buildings:
        assert b.full is not None
        shade = 1.0 + rng.uniform(-0.08, 0.08) * np.linspace(-1.0, 1.0, size)[None, :, None]
        img[b.full] = (b.wall * shade[0])[np.nonzero(b.full)[1]]
        if b.gable:
            roof = b.full.copy()
            roof[b.top :, :] = False
            img[roof] = b.roof
        else:
            band = max(2, size // 100)
            img[b.top : b.top + band, b.x0 : b.x1][b.full[b.top : b.top + band, b.x0 : b.x1]] = b.wall * 0.7
        if b.door is not None:
            x0, y0, x1, y1 = b.door
            img[y0:y1, x0:x1] = b.wall * 0.35
        for w in b.windows:
            _paint_window(img, b, w)
    img += rng.normal(0.0, rng.uniform(2.0, 6.0), img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _paint_window(img: np.ndarray, b: Building, w: Window) -> None:
    """A window in its frame (the whole rectangle is the window mask), painted only where it is visible."""
    assert w.visible is not None
    patch = np.empty((w.y1 - w.y0, w.x1 - w.x0, 3))
    patch[:] = b.frame
    f = b.frame_width
    glass = patch[f : max(f, patch.shape[0] - f), f : max(f, patch.shape[1] - f)]
    glass[:] = b.glass
    if glass.size:  # a lighter reflection in the upper half of the glass
        glass[: glass.shape[0] // 2] = b.glass * 0.85 + 255.0 * 0.15
    if b.mullion and patch.shape[0] > 12 and patch.shape[1] > 8:
        patch[:, patch.shape[1] // 2] = b.frame
        patch[patch.shape[0] // 2, :] = b.frame
    region = img[w.y0 : w.y1, w.x0 : w.x1]
    region[w.visible] = patch[w.visible]


def make_scene(seed: int, split: str, index: int, size: int) -> Scene:
    """One photo with its buildings; a pure function of its arguments."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, SPLITS[split], index]))
    buildings, ground = layout(rng, size)
    return Scene(_paint(rng, buildings, ground, size), buildings)


# --------------------------------------------------------------------------- tagged points


def tag_point(rng: np.random.Generator, visible: np.ndarray) -> tuple[int, int]:
    """A pixel (x, y) well inside the visible building: among the farthest from its border."""
    padded = np.pad(visible.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    ys, xs = np.nonzero(dist >= 0.6 * dist.max())
    i = int(rng.integers(0, len(xs)))
    return int(xs[i]), int(ys[i])


def assign_tags(seed: int, scenes: Sequence[Scene]) -> None:
    """Give most buildings of the photos a ``bldg_NNNN`` id and a point; leave some untagged on purpose."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 99]))
    buildings = [b for scene in scenes for b in scene.buildings]
    untagged = rng.random(len(buildings)) < UNTAGGED_SHARE
    if len(buildings) >= 2 and not untagged.any():  # always leave at least one untagged, for the tests downstream
        untagged[-1] = True
    for number, (b, skip) in enumerate(zip(buildings, untagged), start=1):
        if skip:
            continue
        assert b.visible is not None
        b.tagged_id = f"bldg_{number:04d}"
        b.tag_point = tag_point(rng, b.visible)


# --------------------------------------------------------------------------- files


def jpeg_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return buf.getvalue()


def _polygon_region(polygon: Polygon, category: str) -> dict[str, Any]:
    return {
        "shape_attributes": {"name": "polygon", "all_points_x": polygon[0], "all_points_y": polygon[1]},
        "region_attributes": {"class": {category: True}},
    }


def via_regions(scene: Scene) -> tuple[list[dict[str, Any]], list[int]]:
    """Polygon regions (each building, then its windows) and the region index of every building."""
    regions: list[dict[str, Any]] = []
    index: list[int] = []
    for b in scene.buildings:
        assert b.polygon is not None
        index.append(len(regions))
        regions.append(_polygon_region(b.polygon, "building"))
        regions += [_polygon_region(w.polygon, "window") for w in b.windows if w.polygon is not None]
    return regions, index


def point_regions(scene: Scene) -> list[dict[str, Any]]:
    return [
        {
            "shape_attributes": {"name": "point", "cx": b.tag_point[0], "cy": b.tag_point[1]},
            "region_attributes": {"tagged_id": b.tagged_id},
        }
        for b in scene.buildings
        if b.tag_point is not None
    ]


def via_entry(file_name: str, size_bytes: int, regions: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """A VIA 2 export entry, keyed ``<filename><size>`` as VIA writes it."""
    return f"{file_name}{size_bytes}", {
        "filename": file_name,
        "size": size_bytes,
        "regions": regions,
        "file_attributes": {},
    }


def truth_rows(split: str, file_name: str, scene: Scene, region_index: Sequence[int]) -> list[dict[str, Any]]:
    """One row per building: visible pixels, visible window pixels inside it, and their ratio."""
    rows = []
    for i, b in enumerate(scene.buildings):
        assert b.visible is not None
        windows = np.zeros_like(b.visible)
        for w in b.windows:
            assert w.visible is not None
            windows[w.y0 : w.y1, w.x0 : w.x1] |= w.visible
        pixels = int(b.visible.sum())
        window_pixels = int((windows & b.visible).sum())
        ys, xs = np.nonzero(b.visible)
        rows.append(
            {
                "split": split,
                "file_name": file_name,
                "building": i,
                "via_region": region_index[i],
                "tagged_id": b.tagged_id,
                "pixel_area": pixels,
                "window_count": len(b.windows),
                "window_pixel_area": window_pixels,
                "window_percentage": f"{window_pixels / pixels:.6f}",
                "x0": int(xs.min()),
                "y0": int(ys.min()),
                "x1": int(xs.max()) + 1,
                "y1": int(ys.max()) + 1,
            }
        )
    return rows


def _write_split(tmp: Path, split: str, count: int, seed: int, size: int) -> list[dict[str, Any]]:
    """Write one split's photos and VIA file under ``tmp``; return its truth rows."""
    folder = tmp / split
    folder.mkdir()
    scenes = [make_scene(seed, split, i, size) for i in range(count)]
    names = [f"{'photo' if split == 'photos' else split}_{i:04d}.jpg" for i in range(count)]
    if split == "photos":
        assign_tags(seed, scenes)
    via: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for name, scene in zip(names, scenes):
        data = jpeg_bytes(scene.image)
        (folder / name).write_bytes(data)
        regions, index = via_regions(scene)
        key, entry = via_entry(name, len(data), point_regions(scene) if split == "photos" else regions)
        via[key] = entry
        rows += truth_rows(split, name, scene, index)
    (folder / (TAGGED_FILE if split == "photos" else VIA_FILE)).write_text(json.dumps(via) + "\n", encoding="utf-8")
    return rows


def _write_truth(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=TRUTH_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def generate(out: str | os.PathLike[str], train: int, val: int, photos: int, seed: int, size: int = 256) -> dict:
    """Write the demo data set into ``out`` (replacing an earlier one there) and return a summary.

    Everything is written into a temporary sibling folder first and renamed into place at the end, so
    ``out`` is never left half-written.
    """
    for name, value in (("--train", train), ("--val", val), ("--photos", photos)):
        if value < 0:
            raise UserError(f"{name} {value}: give a count of 0 or more")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise UserError(f"--size {size}: give an image size from {MIN_SIZE} to {MAX_SIZE} pixels")
    if seed < 0:
        raise UserError(f"--seed {seed}: give a seed of 0 or more")
    with replaced_folder(out, (TRUTH_FILE, MARKER_FILE), "demo data set") as tmp:
        rows: list[dict[str, Any]] = []
        for split, count in (("train", train), ("val", val), ("photos", photos)):
            rows += _write_split(tmp, split, count, seed, size)
        _write_truth(tmp / TRUTH_FILE, rows)
        (tmp / MARKER_FILE).write_text("written by facade-wwr demo-data; replaced by its next run\n")
    counts = {split: sum(1 for r in rows if r["split"] == split) for split in SPLITS}
    return {
        "out": str(out),
        "images": {"train": train, "val": val, "photos": photos},
        "buildings": counts,
        "tagged": sum(1 for r in rows if r["tagged_id"]),
        "size": size,
        "seed": seed,
    }


def format_summary(summary: dict) -> str:
    imgs, blds = summary["images"], summary["buildings"]
    return (
        f"{summary['out']}: {imgs['train']} train, {imgs['val']} val, {imgs['photos']} photos "
        f"({summary['size']} px, seed {summary['seed']}); buildings: {blds['train']} train, {blds['val']} val, "
        f"{blds['photos']} photos ({summary['tagged']} tagged); true window percentages in "
        f"{Path(summary['out']) / TRUTH_FILE}"
    )
