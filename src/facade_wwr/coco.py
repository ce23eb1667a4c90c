"""Writing and reading COCO instance files built from VIA annotations.

Conventions (shared with the engines and analysis):

* category ids follow the order of the configured classes: window 0, building 1 by default;
* annotation and image ids start at 1 (pycocotools treats id 0 as "no match");
* polygon vertices are shifted by +0.5 to pixel centres and cut at the image border (:mod:`facade_wwr.outline`);
* ``area`` is the rasterised mask's pixel count (a self-crossing polygon's shoelace area is not);
* each image records ``path``, its location relative to the COCO file, so a COCO file is all the
  training command needs; ``tagged_points`` keeps VIA points with their ``tagged_id``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facade_wwr import DEFAULT_CLASSES, masks
from facade_wwr.errors import UserError, Warnings
from facade_wwr.fileio import read_json, write_json
from facade_wwr.images import image_size, safe_image_path
from facade_wwr.outline import coco_points
from facade_wwr.via import SkippedRegion, read_via


@dataclass(frozen=True)
class Source:
    """One VIA file and the folder holding its photos."""

    via: str
    images: str


def build_coco(
    sources: Sequence[Source],
    out_path: str | Path,
    classes: Sequence[str] = DEFAULT_CLASSES,
    class_attribute: str = "class",
    keep_empty: bool = False,
    warnings: Warnings | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Convert VIA files into one COCO instances document and a summary of what was kept and skipped."""
    warnings = warnings if warnings is not None else Warnings()
    out_dir = Path(out_path).resolve().parent
    seen: dict[str, str] = {}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    tagged: list[dict[str, Any]] = []
    skipped: list[SkippedRegion] = []
    without_annotations: list[str] = []
    listed = 0
    category_id = {name: i for i, name in enumerate(classes)}

    for source in sources:
        via = read_via(source.via, class_attribute, classes, warnings=warnings)
        skipped.extend(via.skipped)
        for entry in via.images:
            listed += 1
            if entry.filename in seen:
                raise UserError(
                    f"image {entry.filename} appears in two annotation sources: {seen[entry.filename]} and {source.via}"
                )
            seen[entry.filename] = source.via
            photo = safe_image_path(source.images, entry.filename, source.via)
            if not photo.is_file():
                raise UserError(f"{source.via}: image {entry.filename} not found in {source.images}")
            for point in entry.points:
                tagged.append(
                    {
                        "file_name": entry.filename,
                        "tagged_id": point.tagged_id,
                        "x": point.x,
                        "y": point.y,
                        "via_region": point.region,
                    }
                )
            if not entry.polygons and not keep_empty:
                without_annotations.append(entry.filename)
                continue
            width, height = image_size(photo)
            image_id = len(images) + 1
            kept = 0
            for poly in entry.polygons:
                flat, outside = coco_points(poly.xs, poly.ys, width, height)
                where = f"{source.via}: image {entry.filename} region {poly.region}"
                area = masks.area(masks.polygons_to_rle([flat], height, width)) if len(flat) >= 6 else 0
                if area == 0:
                    skipped.append(SkippedRegion(source.via, entry.filename, poly.region, "polygon covers no pixel"))
                    warnings.warn(f"{where}: polygon covers no pixel of the image, skipped")
                    continue
                if outside:
                    warnings.warn(f"{where}: points outside the {width}x{height} image, clipped to its border")
                x0, y0 = min(flat[0::2]), min(flat[1::2])
                x1, y1 = max(flat[0::2]), max(flat[1::2])
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": category_id[poly.category],
                        "segmentation": [flat],
                        "area": area,
                        "bbox": [x0, y0, round(x1 - x0, 2), round(y1 - y0, 2)],
                        "iscrowd": 0,
                        "via_region": poly.region,
                    }
                )
                kept += 1
            if kept == 0:
                without_annotations.append(entry.filename)
                if not keep_empty:
                    continue
            images.append(
                {
                    "id": image_id,
                    "file_name": entry.filename,
                    "width": width,
                    "height": height,
                    "path": os.path.relpath(photo.resolve(), out_dir),
                }
            )

    counts = Counter(classes[a["category_id"]] for a in annotations)
    coco = {
        "info": {"description": "facade-wwr COCO instances", "sources": [s.via for s in sources]},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": n, "supercategory": "facade"} for i, n in enumerate(classes)],
        "tagged_points": tagged,
    }
    summary = {
        "coco": str(out_path),
        "sources": [{"via": s.via, "images": s.images} for s in sources],
        "images_listed": listed,
        "images_written": len(images),
        "images_with_annotations": len({a["image_id"] for a in annotations}),
        "images_without_annotations": without_annotations,
        "annotations": {name: counts.get(name, 0) for name in classes},
        "tagged_points": len(tagged),
        "skipped_regions": [{"via": s.via, "image": s.image, "region": s.region, "reason": s.reason} for s in skipped],
        "warnings": list(warnings.messages),
    }
    return coco, summary


def summary_path(coco_path: str | Path) -> Path:
    p = Path(coco_path)
    return p.with_name(p.stem + ".summary.json")


def format_summary(summary: dict[str, Any]) -> str:
    per_class = ", ".join(f"{n} {c}" for n, c in summary["annotations"].items())
    lines = [
        f"{summary['coco']}: {summary['images_written']} images "
        f"({summary['images_with_annotations']} annotated, {summary['images_listed']} listed), "
        f"annotations: {per_class}, tagged points: {summary['tagged_points']}",
    ]
    if summary["images_without_annotations"]:
        lines.append(
            f"  {len(summary['images_without_annotations'])} images without annotations: "
            + ", ".join(summary["images_without_annotations"][:10])
            + (" ..." if len(summary["images_without_annotations"]) > 10 else "")
        )
    if summary["skipped_regions"]:
        lines.append(f"  {len(summary['skipped_regions'])} regions skipped:")
        lines += [f"    {s['image']} region {s['region']}: {s['reason']}" for s in summary["skipped_regions"]]
    return "\n".join(lines)


def via_to_coco(
    sources: Sequence[Source],
    out_path: str | Path,
    classes: Sequence[str] = DEFAULT_CLASSES,
    class_attribute: str = "class",
    keep_empty: bool = False,
    warnings: Warnings | None = None,
) -> dict[str, Any]:
    """Convert and write the COCO file and its ``.summary.json`` atomically; return the summary."""
    coco, summary = build_coco(sources, out_path, classes, class_attribute, keep_empty, warnings)
    write_json(out_path, coco, indent=None)
    write_json(summary_path(out_path), summary)
    return summary


def load_coco(path: str | Path) -> dict[str, Any]:
    """Read a COCO file written by :func:`via_to_coco` (or any COCO instances file)."""
    data = read_json(path)
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
        raise UserError(f"{path}: not a COCO instances file (needs images, annotations, categories)")
    return data


def image_path(coco_path: str | Path, image: dict[str, Any]) -> Path:
    """Where the photo of a COCO image entry lives (its ``path`` is relative to the COCO file)."""
    rel = image.get("path", image["file_name"])
    return (Path(coco_path).resolve().parent / rel).resolve()


def class_names(coco: dict[str, Any]) -> list[str]:
    """Class names in category-id order."""
    return [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])]
