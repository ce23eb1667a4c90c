"""Window percentage per building, computed on the masks' COCO run-length encodings.

Definitions (the README repeats them):

* An instance is *kept* when its score is at least the threshold (compared in float32, the prediction
  file's type, so that a score written as 0.7 passes a 0.7 threshold).
* ``window_percentage`` = |building mask ∩ union of kept window masks| / |building mask|, a fraction in
  [0, 1]: overlapping windows count once, window pixels outside the building do not count.
* ``window_pixel_area`` = |building mask ∩ union of kept window masks|, in pixels.
* ``window_count`` = the number of kept windows with at least half of their pixels inside the building
  mask. Half, not "any pixel", so that a window of the neighbouring building touching this one by a pixel
  row is not counted here; a window is thus counted in at most one of two non-overlapping buildings.
* IDs ``b_0, b_1, ...`` number a photo's kept buildings in score order (highest first).
* A tagged VIA point lies in pixel (row, column) = (floor(y + 0.5), floor(x + 0.5)): VIA coordinates
  are pixel centres (the convention of the COCO conversion, which shifts polygons by +0.5). The point goes
  to the highest-scoring kept building whose mask holds that pixel (the building in front). Several points
  in one building are joined with ``;`` in VIA region order. Points in no building, outside the image or on
  photos without a prediction file are reported, never dropped.

Everything runs on the RLE runs through pycocotools (``merge``, ``area``, ``iou``): no mask is decoded
and no photo is read unless overlays are asked for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from facade_wwr import DEFAULT_SCORE_THRESHOLD, masks, predictions, tables
from facade_wwr.errors import UserError, Warnings
from facade_wwr.predictions import Predictions
from facade_wwr.via import TaggedPoint, tagged_points

#: Category ids of the prediction-file contract (the order of ``data.classes``: window first, building second),
#: so that renamed classes (e.g. ``[Fenster, Gebaeude]``) analyse the same.
WINDOW_ID, BUILDING_ID = 0, 1
#: Share of a window's pixels that must lie inside a building for the window to count there.
WINDOW_COUNT_SHARE = 0.5
#: Separator joining several tagged IDs (and their coordinates) that fall in one building.
TAG_SEPARATOR = ";"


@dataclass(frozen=True)
class KeptInstances:
    """A photo's kept buildings and windows (prediction-table rows) with their pycocotools RLE objects."""

    buildings: pd.DataFrame
    windows: pd.DataFrame
    building_rles: list[dict]
    window_rles: list[dict]


@dataclass
class PhotoResult:
    """One photo's analysis: its predictions, kept instances, building rows and unmatched points."""

    source: Path
    pred: Predictions
    instances: KeptInstances
    table: pd.DataFrame
    unmatched: list[dict[str, Any]]


def check_threshold(threshold: float) -> float:
    """The rule of every score threshold (analysis, evaluation, pre-annotation): a finite number from 0 to 1."""
    if not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0 and math.isfinite(threshold)):
        raise UserError(f"score threshold {threshold!r} is not a number between 0 and 1")
    return float(threshold)


def kept(table: pd.DataFrame, threshold: float) -> np.ndarray:
    """Boolean row mask of instances scoring at least ``threshold`` (compared in float32)."""
    return table["score"].to_numpy(dtype=np.float32) >= np.float32(threshold)


def check_category_ids(table: pd.DataFrame, source: str | Path, building_id: int, window_id: int) -> None:
    """Analysis goes by category id, so that renamed classes work; a file that calls another id ``window`` or
    ``building`` was made with another class order, and analysing it would swap buildings and windows."""
    for name, expected in (("window", window_id), ("building", building_id)):
        ids = set(table.loc[table["category"] == name, "category_id"].tolist()) - {expected}
        if ids:
            raise UserError(
                f"{source}: class '{name}' has category id {min(ids)}, analysis needs window {window_id} and "
                f"building {building_id}: convert the annotations with the classes in the order window,building"
            )


def select_instances(
    pred: Predictions,
    threshold: float,
    source: str | Path,
    warnings: Warnings,
    building_id: int = BUILDING_ID,
    window_id: int = WINDOW_ID,
) -> KeptInstances:
    """Kept buildings and windows of a photo; buildings whose mask is empty are skipped with a warning.

    Rows stay in the file's score order, so the building at position k gets the ID ``b_k``.
    """
    check_category_ids(pred.table, source, building_id, window_id)
    table = pred.table[kept(pred.table, threshold)]
    h, w = pred.height, pred.width
    b = table[table["category_id"] == building_id].reset_index(drop=True)
    win = table[table["category_id"] == window_id].reset_index(drop=True)
    for part in (b, win):
        for instance, counts in zip(part["instance"], part["mask_rle"]):
            try:
                masks.checked_runs(counts, h, w)
            except ValueError as e:
                raise UserError(f"{source}: instance {int(instance)}: {e}") from None
    b_rles = [masks.rle(c, h, w) for c in b["mask_rle"]]
    areas = masks.areas(b_rles)
    if (areas == 0).any():
        for i in np.flatnonzero(areas == 0):
            warnings.warn(f"{source}: building instance {int(b['instance'][i])} has an empty mask, skipped")
        nonempty = np.flatnonzero(areas > 0)
        b = b.iloc[nonempty].reset_index(drop=True)
        b_rles = [b_rles[i] for i in nonempty]
    return KeptInstances(b, win, b_rles, [masks.rle(c, h, w) for c in win["mask_rle"]])


def window_overlap(building_rles: Sequence[dict], window_rles: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Per building: pixels of the union of windows inside it, and the number of windows counted in it.

    The union of windows is one RLE merge; each building's intersection with it is one more merge.
    Window shares come from one ``iou`` call with the buildings marked as crowds, which makes
    pycocotools return |window ∩ building| / |window| (it skips pairs whose boxes do not overlap).
    """
    n = len(building_rles)
    if n == 0 or not window_rles:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int32)
    union = mask_utils.merge(list(window_rles), intersect=False)
    inside = np.array([mask_utils.area(mask_utils.merge([b, union], intersect=True)) for b in building_rles])
    share = np.asarray(mask_utils.iou(list(window_rles), list(building_rles), [1] * n)).reshape(len(window_rles), n)
    counts = (share >= WINDOW_COUNT_SHARE).sum(axis=0)
    return inside.astype(np.int64), counts.astype(np.int32)


def point_pixel(x: float, y: float) -> tuple[int, int]:
    """(row, column) of the pixel holding VIA point (x, y): VIA integer coordinates are pixel centres."""
    return math.floor(y + 0.5), math.floor(x + 0.5)


def point_rle(row: int, col: int, height: int, width: int) -> dict:
    """A one-pixel RLE (pycocotools masks are column-major)."""
    start = col * height + row
    return mask_utils.frPyObjects(
        {"counts": [start, 1, height * width - start - 1], "size": [height, width]}, height, width
    )


def containing_building(point: TaggedPoint, building_rles: Sequence[dict], height: int, width: int) -> int | None:
    """Index of the first (highest-scoring) building whose mask holds the point's pixel, or None."""
    row, col = point_pixel(point.x, point.y)
    if not building_rles or not (0 <= row < height and 0 <= col < width):
        return None
    inside = np.asarray(
        mask_utils.iou([point_rle(row, col, height, width)], list(building_rles), [1] * len(building_rles))
    )
    hits = np.flatnonzero(inside.reshape(-1) > 0)
    return int(hits[0]) if len(hits) else None


def format_number(v: float) -> str:
    """812 for integral values, 812.5 otherwise (VIA writes integers, but may hold floats)."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def format_coords(point: TaggedPoint) -> str:
    """The tutorial's ``[y, x]`` order."""
    return f"[{format_number(point.y)}, {format_number(point.x)}]"


def point_row(image: str, point: TaggedPoint, reason: str) -> dict[str, Any]:
    """A row of the unmatched-points table."""
    return {
        "file_name": image,
        "tagged_id": point.tagged_id,
        "x": float(point.x),
        "y": float(point.y),
        "via_region": int(point.region),
        "reason": reason,
    }


def assign_points(
    pred: Predictions, instances: KeptInstances, points: Sequence[TaggedPoint], tagged_path: str, warnings: Warnings
) -> tuple[dict[int, list[TaggedPoint]], list[dict[str, Any]]]:
    """Tagged points per building index, and the unmatched ones (each warned about)."""
    per_building: dict[int, list[TaggedPoint]] = {}
    unmatched: list[dict[str, Any]] = []
    for point in sorted(points, key=lambda p: p.region):
        row, col = point_pixel(point.x, point.y)
        at = f"x={format_number(point.x)}, y={format_number(point.y)}"
        where = f"{tagged_path}: image {pred.image} point {point.region} ({point.tagged_id} at {at})"
        if not (0 <= row < pred.height and 0 <= col < pred.width):
            warnings.warn(f"{where}: outside the {pred.width}x{pred.height} image, not attached")
            unmatched.append(point_row(pred.image, point, tables.OUTSIDE_IMAGE))
            continue
        index = containing_building(point, instances.building_rles, pred.height, pred.width)
        if index is None:
            warnings.warn(f"{where}: in no kept building, not attached")
            unmatched.append(point_row(pred.image, point, tables.IN_NO_BUILDING))
            continue
        per_building.setdefault(index, []).append(point)
    for index, pts in per_building.items():
        if len(pts) > 1:
            ids = TAG_SEPARATOR.join(p.tagged_id for p in pts)
            warnings.warn(
                f"{tagged_path}: image {pred.image}: building b_{index} holds {len(pts)} tagged points ({ids}), "
                f"joined with '{TAG_SEPARATOR}'"
            )
    return per_building, unmatched


def building_table(pred: Predictions, instances: KeptInstances, tags: dict[int, list[TaggedPoint]]) -> pd.DataFrame:
    """The contract's building rows for one photo."""
    b = instances.buildings
    n = len(b)
    if n == 0:
        return tables.empty()
    pixel_area = masks.areas(instances.building_rles)
    inside, counts = window_overlap(instances.building_rles, instances.window_rles)
    pts = [tags.get(i, []) for i in range(n)]
    df = pd.DataFrame(
        {
            "file_name": [pred.image] * n,
            "id": [f"b_{i}" for i in range(n)],
            "tagged_id": [TAG_SEPARATOR.join(p.tagged_id for p in ps) for ps in pts],
            "tagged_id_coords": [TAG_SEPARATOR.join(format_coords(p) for p in ps) for ps in pts],
            "category": b["category_id"].to_numpy(dtype=np.int32),
            "pixel_area": pixel_area,
            "building_area_perc_of_image": pixel_area / float(pred.width * pred.height),
            "window_percentage": inside / np.maximum(pixel_area, 1),
            "score": b["score"].to_numpy(dtype=np.float32),
            "window_count": counts,
            "window_pixel_area": inside,
            "x0": b["x0"].to_numpy(dtype=np.float32),
            "y0": b["y0"].to_numpy(dtype=np.float32),
            "x1": b["x1"].to_numpy(dtype=np.float32),
            "y1": b["y1"].to_numpy(dtype=np.float32),
            "image_width": np.full(n, pred.width, dtype=np.int32),
            "image_height": np.full(n, pred.height, dtype=np.int32),
            "model": [pred.model] * n,
        }
    )
    return tables.conform(df)


def analyze_predictions(
    pred: Predictions,
    source: str | Path,
    threshold: float = DEFAULT_SCORE_THRESHOLD,
    points: Sequence[TaggedPoint] = (),
    tagged_path: str = "",
    warnings: Warnings | None = None,
) -> PhotoResult:
    """Analyse one photo's predictions (already read); attach its tagged points."""
    warnings = warnings if warnings is not None else Warnings()
    instances = select_instances(pred, threshold, source, warnings)
    tags, unmatched = assign_points(pred, instances, points, tagged_path, warnings)
    return PhotoResult(Path(source), pred, instances, building_table(pred, instances, tags), unmatched)


@dataclass
class Analysis:
    """The outcome of ``analyze``: the building table, the metadata it is written with, the report."""

    table: pd.DataFrame
    info: tables.TableInfo
    report: list[dict[str, Any]]  # unmatched points to report for this run (the --unmatched CSV)


def analyze_files(
    paths: Sequence[str | Path],
    threshold: float = DEFAULT_SCORE_THRESHOLD,
    tagged: str | Path | None = None,
    tagged_scope: str = "all",
    warnings: Warnings | None = None,
    on_photo: Any = None,
    mixed_models: bool = False,
) -> Analysis:
    """Analyse prediction files one after another.

    ``tagged_scope`` "all": points on photos of the VIA file that have no prediction file among ``paths``
    are reported (warned, and in the report). "inputs": they are only recorded in the table's metadata,
    for ``merge`` to report once it has seen every shard. ``on_photo(result)`` is called after each photo
    (overlays are drawn there) so that only one photo's data is held at a time. Files of more than one
    model are refused unless ``mixed_models``.
    """
    warnings = warnings if warnings is not None else Warnings()
    threshold = check_threshold(threshold)
    if tagged_scope not in ("all", "inputs"):
        raise ValueError(f"tagged_scope {tagged_scope!r}")
    points = tagged_points(tagged, warnings=warnings) if tagged else {}
    tagged_path = str(tagged) if tagged else ""
    seen: dict[str, str] = {}
    first_model: tuple[str, str] | None = None
    frames: list[pd.DataFrame] = []
    unmatched: list[dict[str, Any]] = []
    instances: dict[str, dict[str, Any]] = {}
    for name in ("window", "building"):
        tables.count_instances(instances, name, np.empty(0), 0)
    for path in paths:
        pred = predictions.read(path)
        if pred.image in seen:
            raise UserError(
                f"{path}: photo {pred.image} already has a prediction file among the inputs ({seen[pred.image]})"
            )
        seen[pred.image] = str(path)
        if not mixed_models:
            first_model = first_model or (pred.model, str(path))
            tables.refuse_mixed_models(first_model, pred.model, str(path))
        result = analyze_predictions(pred, path, threshold, points.get(pred.image, ()), tagged_path, warnings)
        if on_photo is not None:
            on_photo(result)
        ids = pred.table["category_id"].to_numpy()
        scores = pred.table["score"].to_numpy(dtype=np.float64)
        tables.count_instances(instances, "window", scores[ids == WINDOW_ID], len(result.instances.windows))
        tables.count_instances(instances, "building", scores[ids == BUILDING_ID], len(result.instances.buildings))
        frames.append(result.table)
        unmatched.extend(result.unmatched)
    elsewhere = [
        point_row(image, p, tables.NO_PREDICTION) for image, pts in points.items() if image not in seen for p in pts
    ]
    report = list(unmatched)
    if tagged_scope == "all":
        for image in sorted({r["file_name"] for r in elsewhere}):
            ids = [r["tagged_id"] for r in elsewhere if r["file_name"] == image]
            warnings.warn(
                f"{tagged_path}: image {image}: {len(ids)} tagged point(s) ({', '.join(ids)}) "
                "on a photo with no prediction file among the inputs"
            )
        report.extend(elsewhere)
    nonempty = [f for f in frames if len(f)]
    table = tables.conform(pd.concat(nonempty, ignore_index=True)) if nonempty else tables.empty()
    info = tables.TableInfo(
        photos=sorted(seen),
        unmatched=unmatched,
        elsewhere=elsewhere,
        tagged=tagged_path,
        score_threshold=threshold,
        instances=instances,
    )
    return Analysis(tables.sort(table), info, report)
