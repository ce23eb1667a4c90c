"""Reading VGG Image Annotator (VIA) files.

Accepted layouts:

* VIA 2 JSON export: ``{key: {"filename", "size", "regions": [...], "file_attributes"}}``;
* VIA 1 JSON export: the same, with ``regions`` as a dict keyed ``"0"``, ``"1"``, ...;
* VIA 2 project file: ``{"_via_settings", "_via_img_metadata": <an export>, "_via_attributes"}``.

Regions become :class:`Polygon` (classified shapes: polygon, rect, circle, ellipse) or
:class:`TaggedPoint` (``point`` regions carrying a ``tagged_id``). The class attribute may be a
checkbox (``{"window": true}``), a radio/dropdown value or free text. Anything that cannot be used is
skipped with a warning naming the file, the image and the region index; nothing is ever guessed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facade_wwr import DEFAULT_CLASSES
from facade_wwr.errors import UserError, Warnings
from facade_wwr.fileio import read_json

#: Number of vertices used to approximate circles and ellipses.
ELLIPSE_VERTICES = 32


@dataclass(frozen=True)
class Polygon:
    category: str
    xs: np.ndarray  # float64, VIA pixel coordinates (not yet shifted to pixel centres)
    ys: np.ndarray
    region: int  # index of the region in the VIA entry
    shape: str  # the VIA shape it came from


@dataclass(frozen=True)
class TaggedPoint:
    tagged_id: str
    x: float
    y: float
    region: int


@dataclass
class ViaImage:
    filename: str
    polygons: list[Polygon] = field(default_factory=list)
    points: list[TaggedPoint] = field(default_factory=list)
    n_regions: int = 0


@dataclass(frozen=True)
class SkippedRegion:
    via: str
    image: str
    region: int
    reason: str
    shape: str = ""  # the VIA shape name, when the region had one

    def message(self) -> str:
        return f"{self.via}: image {self.image} region {self.region}: {self.reason}, skipped"


@dataclass
class ViaFile:
    path: str
    layout: str
    images: list[ViaImage]
    skipped: list[SkippedRegion]


def _entries(data: Any, path: str) -> tuple[str, dict[str, Any]]:
    """Return the layout name and the ``{key: image entry}`` mapping of a VIA document."""
    if isinstance(data, dict) and "_via_img_metadata" in data:
        meta = data["_via_img_metadata"]
        if not isinstance(meta, dict):
            raise UserError(f"{path}: unknown VIA layout: '_via_img_metadata' is not an object")
        layout = "VIA 2 project"
    elif isinstance(data, dict) and {"project", "file", "metadata"} <= set(data):
        raise UserError(f"{path}: unknown VIA layout: this looks like a VIA 3 project; export it from VIA 2")
    elif isinstance(data, dict):
        meta, layout = data, "VIA export"
    else:
        raise UserError(f"{path}: unknown VIA layout: expected a JSON object of images")
    for key, entry in meta.items():
        if not isinstance(entry, dict) or "filename" not in entry or "regions" not in entry:
            raise UserError(f"{path}: unknown VIA layout: entry {key!r} has no 'filename' and 'regions'")
        if not isinstance(entry["regions"], (list, dict)):
            raise UserError(f"{path}: unknown VIA layout: entry {key!r} has 'regions' of the wrong type")
    if layout == "VIA export":
        kinds = {type(e["regions"]) for e in meta.values() if e["regions"]}
        layout = "VIA 1 export" if kinds == {dict} else "VIA 2 export"
    return layout, meta


def _regions(entry: dict[str, Any]) -> list[Any]:
    regions = entry["regions"]
    if isinstance(regions, dict):  # VIA 1: {"0": region, "1": region, ...}
        try:
            return [regions[k] for k in sorted(regions, key=int)]
        except ValueError:
            return list(regions.values())
    return list(regions)


def ticked_classes(value: Any) -> list[str]:
    """The class names a region's class attribute holds, whatever the VIA attribute type."""
    if value is None:
        return []
    if isinstance(value, dict):  # checkbox
        return [str(k).strip() for k, v in value.items() if v]
    if isinstance(value, str):  # radio, dropdown, text
        return [value.strip()] if value.strip() else []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


def _finite(value: Any) -> float | None:
    """A JSON number as a float, or None for anything else: ``true`` (no longer 1), ``"15"``, ``null``,
    NaN, infinity or an integer too large for a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _shown(value: Any) -> str:
    """A JSON value as the VIA file spells it, shortened, for a message."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _numbers(shape: dict[str, Any], *keys: str) -> list[float]:
    values = []
    for key in keys:
        if key not in shape:
            raise ValueError(f"{shape.get('name')} has no numeric {key!r}")
        v = _finite(shape[key])
        if v is None:
            raise ValueError(f"{shape.get('name')} has a non-numeric {key!r} ({_shown(shape[key])})")
        values.append(v)
    return values


def _coordinates(shape: dict[str, Any], key: str) -> np.ndarray:
    values = [_finite(v) for v in shape[key]]
    if None in values:
        i = values.index(None)
        raise ValueError(f"polygon has a non-numeric {key}[{i}] ({_shown(shape[key][i])})")
    return np.asarray(values, dtype=np.float64)


def _ellipse(cx: float, cy: float, rx: float, ry: float, theta: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, 2.0 * np.pi, ELLIPSE_VERTICES, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = math.cos(theta), math.sin(theta)
    return cx + c * x - s * y, cy + s * x + c * y


def shape_to_polygon(shape: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of a VIA polygon, rect, circle or ellipse. Raises ValueError on malformed attributes."""
    name = shape.get("name")
    if name == "polygon":
        xs, ys = shape.get("all_points_x"), shape.get("all_points_y")
        if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
            raise ValueError("polygon has mismatched or missing all_points_x/all_points_y")
        return _coordinates(shape, "all_points_x"), _coordinates(shape, "all_points_y")
    if name == "rect":
        x, y, w, h = _numbers(shape, "x", "y", "width", "height")
        return np.array([x, x + w, x + w, x]), np.array([y, y, y + h, y + h])
    if name == "circle":
        cx, cy, r = _numbers(shape, "cx", "cy", "r")
        return _ellipse(cx, cy, r, r)
    if name == "ellipse":
        cx, cy, rx, ry = _numbers(shape, "cx", "cy", "rx", "ry")
        theta = _numbers(shape, "theta")[0] if "theta" in shape else 0.0  # VIA before 2.0.6 wrote no theta
        return _ellipse(cx, cy, rx, ry, theta)
    raise ValueError(f"unsupported shape {name!r}")


def polygon_problem(xs: np.ndarray, ys: np.ndarray) -> str | None:
    """Why a polygon cannot be an annotation (fewer than 3 distinct points, all on one line), or None.
    (A self-crossing polygon's shoelace area may be 0, a bow tie's, while it covers pixels: not a reason.)"""
    if len({(float(x), float(y)) for x, y in zip(xs, ys)}) < 3:
        return "degenerate polygon (fewer than 3 distinct points)"
    if np.linalg.matrix_rank(np.stack([xs - xs[0], ys - ys[0]]).astype(np.float64)) < 2:
        return "degenerate polygon (zero area)"
    return None


def image_names(path: str | Path) -> list[str]:
    """The file names a VIA file lists, in its order (annotated or not)."""
    _, entries = _entries(read_json(path), str(path))
    return [str(entry["filename"]) for entry in entries.values()]


def read_via(
    path: str | Path,
    class_attribute: str = "class",
    classes: Sequence[str] = DEFAULT_CLASSES,
    tagged_attribute: str = "tagged_id",
    warnings: Warnings | None = None,
) -> ViaFile:
    """Read a VIA file into images with classified polygons and tagged points.

    Regions that cannot be used are skipped with a warning through ``warnings`` (strict mode turns
    the first into a :class:`UserError`). Malformed JSON or an unknown layout is a :class:`UserError`.
    """
    path = str(path)
    warnings = warnings if warnings is not None else Warnings()
    layout, entries = _entries(read_json(path), path)
    images: dict[str, ViaImage] = {}
    skipped: list[SkippedRegion] = []

    def skip(name: str, index: int, reason: str, shape: str = "") -> None:
        item = SkippedRegion(path, name, index, reason, shape)
        skipped.append(item)
        warnings.warn(item.message())

    for entry in entries.values():
        name = str(entry["filename"])
        if name in images:
            raise UserError(f"{path}: image {name} is listed twice")
        image = images[name] = ViaImage(name)
        regions = _regions(entry)
        image.n_regions = len(regions)
        firsts: dict[str, int] = {}  # region (shape and attributes, as JSON) -> index of its first occurrence
        for index, region in enumerate(regions):
            if not isinstance(region, dict) or not isinstance(region.get("shape_attributes"), dict):
                skip(name, index, "region has no shape_attributes")
                continue
            shape = region["shape_attributes"]
            copy = json.dumps([shape, region.get("region_attributes")], sort_keys=True)
            if copy in firsts:
                reason = f"duplicate of region {firsts[copy]} (same shape and attributes)"
                skip(name, index, reason, "point" if shape.get("name") == "point" else "")
                continue
            firsts[copy] = index
            attributes = region.get("region_attributes") or {}
            if not isinstance(attributes, dict):
                attributes = {}
            kind = shape.get("name")
            if kind == "point":
                tagged = attributes.get(tagged_attribute)
                if isinstance(tagged, (dict, list, bool)):  # a checkbox or list attribute: no ID to read
                    skip(name, index, f"{tagged_attribute!r} is not a text attribute", "point")
                    continue
                tagged = str(tagged).strip() if tagged is not None else ""
                try:
                    x, y = _numbers(shape, "cx", "cy")
                except ValueError as e:
                    skip(name, index, str(e), "point")
                    continue
                if not tagged:
                    skip(name, index, f"point without a {tagged_attribute!r}", "point")
                    continue
                image.points.append(TaggedPoint(tagged, x, y, index))
                continue
            if kind == "polyline":
                skip(name, index, "polyline is an open line, not an area")
                continue
            names = ticked_classes(attributes.get(class_attribute))
            if not names:
                skip(name, index, f"no {class_attribute!r} ticked")
                continue
            if len(names) > 1:
                skip(name, index, f"several classes ticked ({', '.join(names)})")
                continue
            if names[0] not in classes:
                skip(name, index, f"unknown class {names[0]!r} (expected one of {', '.join(classes)})")
                continue
            try:
                xs, ys = shape_to_polygon(shape)
            except ValueError as e:
                skip(name, index, str(e))
                continue
            problem = polygon_problem(xs, ys)
            if problem:
                skip(name, index, problem)
                continue
            image.polygons.append(Polygon(names[0], xs, ys, index, str(kind)))
    return ViaFile(path, layout, list(images.values()), skipped)


def tagged_points(
    path: str | Path, tagged_attribute: str = "tagged_id", warnings: Warnings | None = None
) -> dict[str, list[TaggedPoint]]:
    """The ``point`` regions with a tagged ID, per photo name, from a VIA file that may also hold polygons.

    Only problems with points are reported: the polygons of a full annotation file (and their issues) are
    of no concern to a reader of tagged points.
    """
    warnings = warnings if warnings is not None else Warnings()
    via = read_via(path, classes=(), tagged_attribute=tagged_attribute, warnings=Warnings(quiet=True))
    for skipped in via.skipped:
        if skipped.shape == "point":
            warnings.warn(skipped.message())
    return {image.filename: list(image.points) for image in via.images if image.points}
