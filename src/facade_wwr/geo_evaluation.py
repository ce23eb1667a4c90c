"""The geographic stages against the synthetic city's truth (``facade-wwr evaluate-geo``, ``geo.json``).

Measured over the photos of the link tables, with the city's truth files (``facade-wwr demo-city``):

* **links**: of the buildings visible in those photos (``truth_view_buildings.csv``, one row per photo and
  footprint), the share whose footprint a kept building of that photo was linked to (*found*); of the
  linked buildings, the share linked to a footprint visible in that photo (*right*). Both need no mask
  matching, so they hold for a trained model's detections as for ground-truth masks.
* **footprint WWR** per footprint and orientation (``aggregate.aggregate``: Σ window m² / Σ wall m²), its
  mean absolute error in points (100 × WWR) against
  - the *visible-part* truth aggregated the same way: ``truth_views.csv`` rows of those photos, walls seen
    within ``geo.max_view_angle`` of their normal (the method's own error);
  - the visible-part truth of the *linked views* alone: the rows of the (photo, footprint) pairs that a
    building was linked and measured in. Its error is the measurement's, given the link; the first one adds
    what the detector missed (a building not found, or not linked, in a photo that shows it), so the gap
    between the two is the cost of the misses, which ``links`` counts;
  - the *whole-wall* truth of ``truth_footprints.csv`` (what a modeller gets from the photos taken);
  - beside it, the same with the pixel WWR (Σ window pixels / Σ wall pixels) against the visible-part truth.
  Only footprints and orientations that both the method and the truth have a value for are compared (the
  truth side takes the same ``min_wall_m2``).
* the same errors for flat-roofed footprints alone (``by_roof``): a footprint file knows one height, so
  linking extrudes it as a flat-topped prism (LOD1) and a pitched roof seen above the eaves counts as wall,
  which the truth does not count; gabled footprints carry that error on top of the method's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facade_wwr import aggregate
from facade_wwr.errors import UserError
from facade_wwr.geo import ORIENTATIONS
from facade_wwr.link_tables import LINKED, LINKED_STATUSES

TRUTH_FILES = ("truth_view_buildings.csv", "truth_views.csv", "truth_footprints.csv")


def read_truth(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The synthetic city's truth tables, by file name; a one-line error naming a missing one."""
    folder = Path(folder)
    tables = {}
    for name in TRUTH_FILES:
        path = folder / name
        if not path.is_file():
            raise UserError(f"{path}: truth file not found (write the city with 'facade-wwr demo-city')")
        tables[name] = pd.read_csv(path, dtype={"footprint_id": str, "file_name": str})
    return tables


def link_scores(links: pd.DataFrame, visible: pd.DataFrame) -> dict[str, Any]:
    """Found and right shares (module docstring) of the photos in ``links``."""
    photos = set(links.attrs.get("photos") or links["file_name"])
    truth = visible[visible["file_name"].isin(photos) & visible["footprint_id"].notna()]
    truth_pairs = set(zip(truth["file_name"], truth["footprint_id"]))
    buildings = links.drop_duplicates(["file_name", "id"])
    linked = buildings[buildings["status"].isin(LINKED_STATUSES)]
    linked_pairs = list(zip(linked["file_name"], linked["footprint_id"].astype(str)))
    found = len(truth_pairs & set(linked_pairs))
    right = sum(1 for pair in linked_pairs if pair in truth_pairs)
    return {
        "photos": len(photos),
        "visible_buildings": len(truth_pairs),
        "kept_buildings": len(buildings),
        "linked_buildings": len(linked),
        "found": found,
        "found_share": found / len(truth_pairs) if truth_pairs else None,
        "linked_right": right,
        "right_share": right / len(linked) if len(linked) else None,
        "statuses": {k: int(v) for k, v in buildings["status"].value_counts().sort_index().items()},
    }


def visible_truth(
    views: pd.DataFrame,
    photos: set[str],
    max_view_angle: float,
    min_wall_m2: float = aggregate.MIN_WALL_M2,
    pairs: set[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """The visible-part truth per footprint, aggregated as ``aggregate`` aggregates the links; with
    ``pairs``, only the rows of those (photo, footprint) pairs."""
    rows = views[views["file_name"].isin(photos) & (views["view_angle"] <= max_view_angle)]
    if pairs is not None:
        rows = rows[[pair in pairs for pair in zip(rows["file_name"], rows["footprint_id"].astype(str))]]
    rows = rows[rows["wall_m2"] > 0]
    as_links = pd.DataFrame(
        {
            "file_name": rows["file_name"],
            "footprint_id": rows["footprint_id"],
            "wall": rows["wall"],
            "orientation": rows["orientation"],
            "wall_m2": rows["wall_m2"],
            "window_m2": rows["window_m2"],
            "status": LINKED,
            "edge_on": False,
        }
    )
    return aggregate.aggregate(as_links, min_wall_m2)


def pixel_table(links: pd.DataFrame, min_wall_m2: float = aggregate.MIN_WALL_M2) -> pd.DataFrame:
    """The footprint table with pixel areas in place of square metres (the pixel WWR, aggregated alike)."""
    seen = aggregate.aggregate(links, min_wall_m2).set_index("footprint_id")
    pixels = links.assign(
        wall_m2=links["wall_pixels"].astype("float64"), window_m2=links["window_pixels"].astype("float64")
    )
    out = aggregate.aggregate(pixels, 0.0).set_index("footprint_id")
    for column in ("wwr", *(f"wwr_{o}" for o in ORIENTATIONS)):  # the same footprints and orientations
        out[column] = out[column].where(seen[column].reindex(out.index).notna())
    return out.reset_index()


def footprint_errors(predicted: pd.DataFrame, truth: pd.DataFrame) -> dict[str, pd.Series]:
    """Per ``overall`` and orientation, the absolute error in points of each footprint (indexed by id) that
    both footprint tables give a value."""
    both = predicted.set_index("footprint_id").join(truth.set_index("footprint_id").add_suffix("_truth"), how="inner")
    out: dict[str, pd.Series] = {}
    for column in ("wwr", *(f"wwr_{o}" for o in ORIENTATIONS)):
        key = "overall" if column == "wwr" else column[4:]
        out[key] = (both[column] - both[f"{column}_truth"]).abs().dropna() * 100.0
    return out


def _errors(predicted: pd.DataFrame, truth: pd.DataFrame) -> dict[str, Any]:
    """Mean absolute error in points per column ``wwr`` and ``wwr_<o>``, over footprints both have."""
    out: dict[str, Any] = {}
    for key, diff in footprint_errors(predicted, truth).items():
        out[key] = {
            "mae_points": float(diff.mean()) if len(diff) else None,
            "p90_points": float(diff.quantile(0.9)) if len(diff) else None,
            "footprints": int(len(diff)),
        }
    return out


def evaluate(
    links: pd.DataFrame,
    truth: dict[str, pd.DataFrame],
    max_view_angle: float,
    min_wall_m2: float = aggregate.MIN_WALL_M2,
) -> dict[str, Any]:
    """The figures of geo.json (module docstring)."""
    photos = set(links.attrs.get("photos") or links["file_name"])
    predicted = aggregate.aggregate(links, min_wall_m2)
    visible = visible_truth(truth["truth_views.csv"], photos, max_view_angle, min_wall_m2)
    measured = aggregate.counted(links)
    pairs = set(zip(measured["file_name"], measured["footprint_id"].astype(str)))
    linked_views = visible_truth(truth["truth_views.csv"], photos, max_view_angle, min_wall_m2, pairs)
    whole = truth["truth_footprints.csv"]
    whole = whole[["footprint_id", "wwr", *(f"wwr_{o}" for o in ORIENTATIONS)]]
    roofs = truth["truth_footprints.csv"].set_index("footprint_id")["roof"]
    flat = predicted[predicted["footprint_id"].map(roofs).eq("flat").to_numpy()]
    pixels = pixel_table(links, min_wall_m2)
    by_roof = {
        "flat": {
            "wwr_vs_visible_truth": _errors(flat, visible),
            "wwr_vs_whole_wall_truth": _errors(flat, whole),
            "pixel_wwr_vs_visible_truth": _errors(pixels[pixels["footprint_id"].isin(flat["footprint_id"])], visible),
        }
    }
    return {
        "links": link_scores(links, truth["truth_view_buildings.csv"]),
        "footprints_seen": int(len(predicted)),
        "wwr_vs_visible_truth": _errors(predicted, visible),
        "wwr_vs_linked_views_truth": _errors(predicted, linked_views),
        "wwr_vs_whole_wall_truth": _errors(predicted, whole),
        "pixel_wwr_vs_visible_truth": _errors(pixels, visible),
        "by_roof": by_roof,
        "max_view_angle": max_view_angle,
        "min_wall_m2": min_wall_m2,
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    """A few lines for the terminal and the report."""

    def fmt(value: float | None) -> str:
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"

    links = result["links"]
    lines = [
        f"links: {links['found']} of {links['visible_buildings']} visible buildings found "
        f"({fmt(100 * links['found_share'] if links['found_share'] is not None else None)} %), "
        f"{links['linked_right']} of {links['linked_buildings']} links right "
        f"({fmt(100 * links['right_share'] if links['right_share'] is not None else None)} %)"
    ]
    for part, label in (
        (result["wwr_vs_visible_truth"], "wall-plane WWR vs visible-part truth"),
        (result["by_roof"]["flat"]["wwr_vs_visible_truth"], "the same, flat-roofed footprints"),
        (result.get("wwr_vs_linked_views_truth"), "the same, views it linked"),  # not in older geo.json
        (result["wwr_vs_whole_wall_truth"], "wall-plane WWR vs whole-wall truth"),
        (result["pixel_wwr_vs_visible_truth"], "pixel WWR vs visible-part truth"),
    ):
        if part is None:
            continue
        cells = ", ".join(
            f"{name} {fmt(part[name]['mae_points'])} ({part[name]['footprints']})"
            for name in ("overall", *ORIENTATIONS)
        )
        lines.append(f"{label}, mean abs. error in points (footprints): {cells}")
    return lines


def as_json(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with NaN turned into None (JSON has no NaN)."""

    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, float) and not np.isfinite(value):
            return None
        return value

    return clean(result)
