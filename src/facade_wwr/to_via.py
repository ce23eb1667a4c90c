"""Pre-annotation: prediction files -> a VIA 2 file the user corrects instead of drawing from scratch.

Each kept instance mask is traced to one polygon (outer contour of its largest connected part, holes
filled), simplified within a pixel tolerance, and written the way the training data writes it.

The vertices follow :mod:`facade_wwr.outline`, whose rule makes the round trip through ``via2coco`` exact
at tolerance 0.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from facade_wwr import DEFAULT_CLASSES, masks, outline, predictions, tables
from facade_wwr.analysis import check_threshold
from facade_wwr.errors import UserError, Warnings
from facade_wwr.fileio import write_text
from facade_wwr.via import polygon_problem, tagged_points, ticked_classes

CLASS_STYLES = ("checkbox", "radio")
SCORE_ATTRIBUTE = "score"
TAGGED_ATTRIBUTE = "tagged_id"
#: VIA's convention for files it cannot size (added by URL): the key is ``<filename>-1``.
UNKNOWN_SIZE = -1
VIA_VERSION = "2.0.10"


def rasterise(v: np.ndarray, width: int, height: int) -> dict | None:
    """The RLE mask of a VIA polygon as ``via2coco`` will make it, or None where via2coco would refuse it.

    The geometry check comes first: pycocotools reads a 2-vertex polygon (4 numbers) as a box.
    """
    if len(v) < 3 or polygon_problem(v[:, 0].astype(np.float64), v[:, 1].astype(np.float64)) is not None:
        return None
    rle = outline.rasterise(v[:, 0], v[:, 1], width, height)
    return rle if masks.area(rle) > 0 else None


def rle_iou(a: dict, b: dict) -> float:
    return float(mask_utils.iou([a], [b], [0])[0][0])


#: Just above 1/sqrt(2), how far the corners of a one-pixel staircase stray from its diagonal: the
#: finest tolerance that still straightens staircases (below it, simplification keeps most corners).
STAIRCASE_TOLERANCE = 0.75


def fallback_tolerances(tolerance: float) -> list[float]:
    """Tolerances to try, coarsest first, before keeping every corner (tolerance 0)."""
    if tolerance <= 0:
        return [0.0]
    if tolerance > STAIRCASE_TOLERANCE:
        return [tolerance, STAIRCASE_TOLERANCE, 0.0]
    return [tolerance, 0.0]


@dataclass(frozen=True)
class Traced:
    """One instance traced to a VIA polygon."""

    xs: list[int]
    ys: list[int]
    parts: int  # connected parts in the mask (only the largest is traced)
    tolerance: float  # the tolerance used: finer than asked where the asked one changed the shape too much


def trace(crop: masks.Crop, width: int, height: int, tolerance: float, min_iou: float = 0.9) -> Traced | None:
    """Trace the largest part of a mask to integer VIA vertices; None if via2coco could not use any polygon.

    A simplified polygon is kept only if via2coco accepts it and, rasterised as via2coco will, it
    still overlaps the full outline with IoU >= ``min_iou``; otherwise a finer tolerance is tried,
    down to keeping every corner. A fixed pixel tolerance is harsh on tiny windows (an 8x8 window
    simplified within 1 px can lose a fifth of its area) and collapses the tiniest masks entirely.
    """
    outlines = outline.corner_outlines(crop.mask)
    if not outlines:
        return None
    largest = max(outlines, key=outline.polygon_area)
    full = outline.via_vertices(largest, crop.x0, crop.y0, width, height)
    full_rle = rasterise(full, width, height)
    if full_rle is None:
        return None
    for tol in fallback_tolerances(tolerance):
        v = full if tol == 0 else outline.via_vertices(outline.simplify(largest, tol), crop.x0, crop.y0, width, height)
        rle = full_rle if tol == 0 else rasterise(v, width, height)
        if rle is not None and (tol == 0 or rle_iou(rle, full_rle) >= min_iou):
            return Traced(v[:, 0].tolist(), v[:, 1].tolist(), len(outlines), tol)
    raise AssertionError("unreachable: tolerance 0 always succeeds")


# ---------------------------------------------------------------------------------------------------
# VIA regions and entries


def class_value(category: str, style: str) -> Any:
    """The class attribute's value as VIA writes it: checkbox ``{"window": true}`` or radio ``"window"``."""
    return {category: True} if style == "checkbox" else category


def polygon_region(traced: Traced, category: str, score: float, class_attribute: str, style: str) -> dict[str, Any]:
    return {
        "shape_attributes": {"name": "polygon", "all_points_x": traced.xs, "all_points_y": traced.ys},
        "region_attributes": {class_attribute: class_value(category, style), SCORE_ATTRIBUTE: f"{score:.3f}"},
    }


def _number(value: float) -> int | float:
    """VIA writes whole coordinates as integers; keep any fraction a hand-made file had."""
    return int(value) if float(value).is_integer() else float(value)


def point_region(tagged_id: str, x: float, y: float) -> dict[str, Any]:
    return {
        "shape_attributes": {"name": "point", "cx": _number(x), "cy": _number(y)},
        "region_attributes": {TAGGED_ATTRIBUTE: tagged_id},
    }


def entry_key(filename: str, size: int) -> str:
    """VIA 2's image id: file name followed by its byte size (``-1`` when unknown)."""
    return f"{filename}{size}"


# ---------------------------------------------------------------------------------------------------
# the whole file


@dataclass(frozen=True)
class Options:
    """How instances become regions (the ``to-via`` command's options)."""

    score_threshold: float = 0.5
    tolerance: float = 1.0
    min_iou: float = 0.9
    class_attribute: str = "class"
    class_style: str = "checkbox"
    #: combine prediction files of more than one model (refused otherwise)
    mixed_models: bool = False

    def check(self) -> None:
        """Refuse option values that would write a file via2coco cannot read back."""
        check_threshold(self.score_threshold)
        if self.class_attribute in (SCORE_ATTRIBUTE, TAGGED_ATTRIBUTE) or not self.class_attribute.strip():
            raise UserError(f"--class-attribute {self.class_attribute!r}: pick a name other than score and tagged_id")
        if self.class_style not in CLASS_STYLES:
            raise UserError(f"--class-style {self.class_style!r}: expected one of {', '.join(CLASS_STYLES)}")


@dataclass
class Summary:
    """What was written and what was left out, for the one-paragraph report the command prints."""

    out: str
    photos: int = 0
    photos_without_regions: list[str] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)
    below_threshold: int = 0
    empty_masks: int = 0
    untraceable: int = 0
    several_parts: int = 0
    finer: int = 0
    tagged_points: int = 0
    vertices: int = 0

    def format(self) -> str:
        per_class = ", ".join(f"{n} {c}" for n, c in sorted(self.kept.items(), key=_class_order)) or "no instance"
        lines = [
            f"{self.out}: {self.photos} photos ({len(self.photos_without_regions)} without any kept instance), "
            f"{per_class}, {self.vertices} vertices, tagged points: {self.tagged_points}",
            f"  {self.below_threshold} instances below the score threshold left out"
            + (f", {self.empty_masks} empty masks skipped" if self.empty_masks else "")
            + (f", {self.untraceable} untraceable masks skipped" if self.untraceable else ""),
        ]
        if self.several_parts:
            lines.append(f"  {self.several_parts} masks had several parts: only the largest was traced")
        if self.finer:
            lines.append(f"  {self.finer} small masks simplified more finely (the tolerance changed them too much)")
        return "\n".join(lines)


def _class_order(item: tuple[str, int]) -> tuple[int, str]:
    name = item[0]
    return (DEFAULT_CLASSES.index(name) if name in DEFAULT_CLASSES else len(DEFAULT_CLASSES), name)


def read_tagged(path: str | os.PathLike[str], warnings: Warnings) -> dict[str, list[dict[str, Any]]]:
    """Point regions per photo name from a ``--tagged`` VIA file; its polygons are not carried over."""
    points = tagged_points(path, TAGGED_ATTRIBUTE, warnings)
    return {name: [point_region(p.tagged_id, p.x, p.y) for p in pts] for name, pts in points.items()}


def instance_regions(
    pred_path: str, pred: predictions.Predictions, options: Options, summary: Summary, warnings: Warnings
) -> list[dict[str, Any]]:
    """The polygon regions of one prediction file, in its (score-descending) instance order."""
    regions = []
    for row in pred.table.itertuples(index=False):
        if np.float32(row.score) < np.float32(options.score_threshold):  # as analysis compares (float32)
            summary.below_threshold += 1
            continue
        category = str(row.category)
        where = f"{pred_path}: instance {row.instance} ({category}, score {row.score:.3f})"
        try:
            crop = masks.decode_crop(str(row.mask_rle), pred.height, pred.width)
        except ValueError as e:
            raise UserError(f"{where}: unreadable mask ({e})") from None
        if crop is None:
            summary.empty_masks += 1
            warnings.warn(f"{where}: empty mask, skipped")
            continue
        traced = trace(crop, pred.width, pred.height, options.tolerance, options.min_iou)
        if traced is None:
            summary.untraceable += 1
            warnings.warn(f"{where}: mask too thin to trace at the image border, skipped")
            continue
        summary.several_parts += traced.parts > 1
        summary.finer += traced.tolerance < options.tolerance
        summary.vertices += len(traced.xs)
        summary.kept[category] = summary.kept.get(category, 0) + 1
        regions.append(polygon_region(traced, category, float(row.score), options.class_attribute, options.class_style))
    return regions


def build_via(
    pred_paths: Sequence[str | os.PathLike[str]],
    options: Options,
    tagged: dict[str, list[dict[str, Any]]] | None = None,
    photos: str | os.PathLike[str] | None = None,
    warnings: Warnings | None = None,
    out: str = "",
    tagged_source: str = "--tagged",
) -> tuple[dict[str, Any], Summary]:
    """Build the VIA 2 export (``{key: {filename, size, regions, file_attributes}}``) from prediction files.

    Every prediction file gets an entry, with ``regions: []`` when nothing passes the threshold;
    ``tagged`` point regions (from :func:`read_tagged`) are appended to their photo's regions.
    """
    warnings = warnings if warnings is not None else Warnings()
    tagged = tagged or {}
    options.check()
    summary = Summary(out)
    export: dict[str, Any] = {}
    seen: dict[str, str] = {}
    first_model: tuple[str, str] | None = None
    for pred_path in map(str, pred_paths):
        pred = predictions.read(pred_path)
        if pred.image in seen:
            raise UserError(f"photo {pred.image} has two prediction files: {seen[pred.image]} and {pred_path}")
        seen[pred.image] = pred_path
        first_model = first_model or (pred.model, pred_path)
        if not options.mixed_models:
            tables.refuse_mixed_models(first_model, pred.model, pred_path)
        size = UNKNOWN_SIZE if photos is None else predictions.photo_of(pred, photos, pred_path)[0].stat().st_size
        points = tagged.get(pred.image, [])
        regions = instance_regions(pred_path, pred, options, summary, warnings) + points
        summary.tagged_points += len(points)
        export[entry_key(pred.image, size)] = {
            "filename": pred.image,
            "size": size,
            "regions": regions,
            "file_attributes": {},
        }
        summary.photos += 1
        if not regions:
            summary.photos_without_regions.append(pred.image)
    for name in tagged:
        if name not in seen:
            warnings.warn(f"{tagged_source}: image {name} has tagged points but no prediction file, not carried over")
    return export, summary


def via_project(
    export: dict[str, Any],
    options: Options,
    classes: Sequence[str],
    default_filepath: str = "",
    name: str = "preannotations",
) -> dict[str, Any]:
    """Wrap an export in a VIA 2 project (Project -> Load) that also defines the attributes.

    Importing a bare export into an empty VIA makes every unknown attribute a text field, so a
    checkbox class would show as ``[object Object]``; the project declares ``class`` as a checkbox
    (or radio) with the class names as options, and ``score`` and ``tagged_id`` as text.
    """
    return {
        "_via_settings": {"core": {"default_filepath": default_filepath}, "project": {"name": name}},
        "_via_img_metadata": export,
        "_via_attributes": {
            "region": {
                options.class_attribute: {
                    "type": options.class_style,
                    "description": "",
                    "options": {c: "" for c in classes},
                    "default_options": {},
                },
                SCORE_ATTRIBUTE: {
                    "type": "text",
                    "description": "model score (ignored by via2coco)",
                    "default_value": "",
                },
                TAGGED_ATTRIBUTE: {"type": "text", "description": "external building id", "default_value": ""},
            },
            "file": {},
        },
        "_via_data_format_version": VIA_VERSION,
        "_via_image_id_list": list(export),
    }


def project_classes(export: dict[str, Any], class_attribute: str) -> list[str]:
    """Default classes first, then any other class a region names, in order of appearance."""
    names = list(DEFAULT_CLASSES)
    for entry in export.values():
        for region in entry["regions"]:
            for name in ticked_classes(region["region_attributes"].get(class_attribute)):
                if name not in names:
                    names.append(name)
    return names


def dumps_like_via(data: Any) -> str:
    """JSON the way VIA's ``JSON.stringify`` writes it: compact separators, non-ASCII kept."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def write_via(
    pred_paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    options: Options | None = None,
    tagged: str | os.PathLike[str] | None = None,
    photos: str | os.PathLike[str] | None = None,
    project: bool = False,
    warnings: Warnings | None = None,
) -> Summary:
    """Read prediction files (and a ``--tagged`` VIA file), write the VIA file atomically; return the summary."""
    options = options if options is not None else Options()
    warnings = warnings if warnings is not None else Warnings()
    if photos is not None and not Path(photos).is_dir():
        raise UserError(f"{photos}: not a folder of photos")
    points = read_tagged(tagged, warnings) if tagged is not None else {}
    export, summary = build_via(pred_paths, options, points, photos, warnings, str(out), str(tagged))
    data: dict[str, Any] = export
    if project:
        default_path = "" if photos is None else str(Path(photos).resolve()) + os.sep
        data = via_project(export, options, project_classes(export, options.class_attribute), default_path)
    write_text(out, dumps_like_via(data))
    return summary
