"""The building table: its columns (the contract in docs/design.md), Parquet I/O, merging and sorting.

A building table has one row per building kept by analysis. The tutorial's eight columns come first,
so that scripts written for its ``result.csv`` keep working; our additions follow. Each table written by
``analyze`` also carries, as Parquet key-value metadata, the photos it analysed and its tagged points
that matched no building, so that ``merge`` can report unmatched points across shards exactly once, and
per class the instances it saw and kept, so that a table whose window percentages mean nothing is said to be.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from facade_wwr.errors import UserError
from facade_wwr.fileio import atomic_path

#: The tutorial's columns, in its order.
TUTORIAL_COLUMNS = (
    "file_name",
    "id",
    "tagged_id",
    "tagged_id_coords",
    "category",
    "pixel_area",
    "building_area_perc_of_image",
    "window_percentage",
)

SCHEMA = pa.schema(
    [
        ("file_name", pa.string()),
        ("id", pa.string()),
        ("tagged_id", pa.string()),
        ("tagged_id_coords", pa.string()),
        ("category", pa.int32()),
        ("pixel_area", pa.int64()),
        ("building_area_perc_of_image", pa.float64()),
        ("window_percentage", pa.float64()),
        ("score", pa.float32()),
        ("window_count", pa.int32()),
        ("window_pixel_area", pa.int64()),
        ("x0", pa.float32()),
        ("y0", pa.float32()),
        ("x1", pa.float32()),
        ("y1", pa.float32()),
        ("image_width", pa.int32()),
        ("image_height", pa.int32()),
        ("model", pa.string()),
        ("footprint_id", pa.string()),
    ]
)
#: Building-table columns in contract order.
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)

#: Columns of the unmatched tagged-points table.
UNMATCHED_COLUMNS = ("file_name", "tagged_id", "x", "y", "via_region", "reason")

#: Reasons a tagged point is unmatched.
IN_NO_BUILDING = "in no building"
OUTSIDE_IMAGE = "outside the image"
NO_PREDICTION = "no prediction file"


@dataclass
class TableInfo:
    """What a building table's metadata says about the run that wrote it.

    ``photos``: every photo analysed (photos with 0 buildings included); ``unmatched``: tagged points on
    those photos that matched no building; ``elsewhere``: tagged points on photos this run did not analyse
    (merge reports those whose photo no table analysed); ``tagged``: the tagged VIA file, or "";
    ``instances``: per class ("window", "building"), the instances the prediction files held (``seen``), those
    the threshold kept (``kept``) and the lowest and highest score seen (``min``, ``max``; None when none).
    """

    photos: list[str] = field(default_factory=list)
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    elsewhere: list[dict[str, Any]] = field(default_factory=list)
    tagged: str = ""
    score_threshold: float | None = None
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)


def count_instances(total: dict[str, dict[str, Any]], name: str, scores: np.ndarray, kept: int) -> None:
    """Add one photo's (or table's) instances of class ``name`` to ``total`` (see :class:`TableInfo`)."""
    add_counts(total, {name: {"seen": len(scores), "kept": kept, "min": None, "max": None}})
    if len(scores):
        c = total[name]
        low, high = float(np.min(scores)), float(np.max(scores))
        c["min"] = low if c["min"] is None else min(c["min"], low)
        c["max"] = high if c["max"] is None else max(c["max"], high)


def add_counts(total: dict[str, dict[str, Any]], part: dict[str, dict[str, Any]]) -> None:
    """Combine two tables' ``instances`` counts into ``total``."""
    for name, c in part.items():
        t = total.setdefault(name, {"seen": 0, "kept": 0, "min": None, "max": None})
        t["seen"] += int(c["seen"])
        t["kept"] += int(c["kept"])
        for key, pick in (("min", min), ("max", max)):
            if c[key] is not None:
                t[key] = c[key] if t[key] is None else pick(t[key], c[key])


def kept_windows(info: TableInfo) -> str:
    """``, 12 windows kept (0.9 per photo)`` for a summary line; empty when the table does not say."""
    windows = info.instances.get("window")
    if windows is None or not info.photos:
        return ""
    return f", {windows['kept']} windows kept ({windows['kept'] / len(info.photos):.1f} per photo)"


def _scores(c: dict[str, Any]) -> str:
    return f"{c['min']:.3f}-{c['max']:.3f}" if c["seen"] else "none"


def meaningless(table: pd.DataFrame, info: TableInfo, source: str | Path) -> str | None:
    """Why a building table's window percentages mean nothing, or None: no building kept, no window kept,
    no building with a kept window, or fewer kept windows than photos (the threshold keeps almost nothing);
    with the score range the prediction files held."""
    windows, buildings = info.instances.get("window"), info.instances.get("building")
    if windows is None or buildings is None or not info.photos:
        return None  # a table of an older version, or of no photo
    at = "" if info.score_threshold is None else f", score threshold {info.score_threshold:g}"
    n = len(info.photos)
    if buildings["kept"] == 0:
        what = f"no building kept on the {n} photos (building scores seen {_scores(buildings)}{at})"
    elif windows["kept"] == 0:
        what = f"no window kept on the {n} photos (window scores seen {_scores(windows)}{at})"
    elif int((table["window_pixel_area"] > 0).sum()) == 0:
        what = (
            f"no building has a kept window: all {len(table)} window percentages are 0 (the {windows['kept']} "
            f"windows kept lie outside every kept building; window scores seen {_scores(windows)}{at})"
        )
    elif windows["kept"] < n:
        what = (
            f"the threshold keeps almost no window: {windows['kept']} on {n} photos, of {windows['seen']} seen "
            f"(window scores seen {_scores(windows)}{at})"
        )
    else:
        return None
    return f"{source}: {what}: these results mean nothing (README, Troubleshooting: {TROUBLESHOOTING!r})"


#: The README's troubleshooting entry for tables whose window percentages mean nothing.
TROUBLESHOOTING = "All window percentages are 0"


def empty() -> pd.DataFrame:
    """A 0-row building table with the contract's columns and dtypes."""
    return SCHEMA.empty_table().to_pandas()


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """The table's columns in contract order with contract dtypes (raises KeyError on a missing column;
    ``footprint_id``, which only ``merge --links`` fills, is empty where absent)."""
    if "footprint_id" not in df.columns:
        df = df.assign(footprint_id="")
    return pa.Table.from_pandas(df[list(COLUMNS)], schema=SCHEMA, preserve_index=False).to_pandas()


def natural_key(building_id: str) -> tuple[str, int]:
    """Sort key putting ``b_2`` before ``b_10`` (prefix, then the number)."""
    m = re.fullmatch(r"(.*?)(\d+)", building_id)
    return (m.group(1), int(m.group(2))) if m else (building_id, -1)


def sort(df: pd.DataFrame) -> pd.DataFrame:
    """Rows by file name, then ID in natural order; a stable sort, index reset."""
    if df.empty:
        return df.reset_index(drop=True)
    keys = [(f, *natural_key(i)) for f, i in zip(df["file_name"], df["id"])]
    order = sorted(range(len(df)), key=keys.__getitem__)
    return df.iloc[order].reset_index(drop=True)


def write(path: str | Path, df: pd.DataFrame, info: TableInfo) -> None:
    """Write a building table as Parquet, atomically, with ``info`` as key-value metadata."""
    arrow = pa.Table.from_pandas(conform(df), schema=SCHEMA, preserve_index=False)
    meta = {
        "facade_wwr_table": "buildings",
        "photos": json.dumps(info.photos, ensure_ascii=False),
        "unmatched": json.dumps(info.unmatched, ensure_ascii=False),
        "elsewhere": json.dumps(info.elsewhere, ensure_ascii=False),
        "tagged": info.tagged,
        "score_threshold": "" if info.score_threshold is None else repr(float(info.score_threshold)),
        "instances": json.dumps(info.instances),
    }
    arrow = arrow.replace_schema_metadata({k.encode(): v.encode() for k, v in meta.items()})
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp)


def read(path: str | Path) -> tuple[pd.DataFrame, TableInfo]:
    """Read a building table and its metadata; a file that is not one is a one-line UserError."""
    try:
        arrow = pq.read_table(path)
    except FileNotFoundError:
        raise UserError(f"{path}: building table not found") from None
    except (pa.ArrowException, OSError) as e:
        raise UserError(f"{path}: not a readable Parquet building table ({e})") from None
    missing = [c for c in COLUMNS if c not in arrow.column_names]
    if missing:
        raise UserError(f"{path}: not a facade-wwr building table (missing {', '.join(missing)})")
    meta = {k.decode(): v.decode() for k, v in (arrow.schema.metadata or {}).items()}
    df = conform(arrow.select(list(COLUMNS)).to_pandas())
    try:
        info = TableInfo(
            photos=json.loads(meta.get("photos", "null")) or sorted(set(df["file_name"])),
            unmatched=json.loads(meta.get("unmatched", "[]")),
            elsewhere=json.loads(meta.get("elsewhere", "[]")),
            tagged=meta.get("tagged", ""),
            score_threshold=float(meta["score_threshold"]) if meta.get("score_threshold") else None,
            instances=json.loads(meta.get("instances", "{}")),
        )
    except (json.JSONDecodeError, ValueError) as e:
        raise UserError(f"{path}: building table metadata is corrupt ({e})") from None
    return df, info


def unmatched_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The unmatched-points table, sorted by file name, then VIA region index."""
    df = pd.DataFrame(list(rows), columns=list(UNMATCHED_COLUMNS))
    df["via_region"] = df["via_region"].astype(np.int64)
    df["x"] = df["x"].astype(np.float64)
    df["y"] = df["y"].astype(np.float64)
    return df.sort_values(["file_name", "via_region"], kind="stable").reset_index(drop=True)


def write_unmatched(path: str | Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write the unmatched-points CSV atomically (a header only when every point matched)."""
    with atomic_path(path) as tmp:
        unmatched_frame(rows).to_csv(tmp, index=False)


def write_csv(path: str | Path, df: pd.DataFrame) -> None:
    """Write a building table as CSV, atomically; empty tagged IDs stay empty fields."""
    with atomic_path(path) as tmp:
        conform(df).to_csv(tmp, index=False)


def parquet_twin(csv_path: str | Path) -> Path:
    """``results/buildings.csv`` -> ``results/buildings.parquet``."""
    return Path(csv_path).with_suffix(".parquet")


def unmatched_path(out_path: str | Path) -> Path:
    """Default unmatched-points path next to an output: ``<dir>/<out stem>.unmatched.csv``."""
    p = Path(out_path)
    return p.with_name(p.stem + ".unmatched.csv")


@dataclass
class Merged:
    table: pd.DataFrame
    photos: list[str]
    unmatched: list[dict[str, Any]]
    tagged: bool
    info: TableInfo  # photos, threshold (when the tables share one) and instance counts of all tables


def with_footprints(table: pd.DataFrame, links: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The building table with ``footprint_id`` from link tables (``facade-wwr link``), joined on
    (``file_name``, ``id``): the footprint a building was linked to, empty where it was not. Returns the table
    and how many of its buildings were linked."""
    from facade_wwr.link_tables import LINKED_STATUSES

    linked = links[links["status"].isin(LINKED_STATUSES)]
    ids = linked.drop_duplicates(["file_name", "id"]).set_index(["file_name", "id"])["footprint_id"]
    keys = pd.MultiIndex.from_arrays([table["file_name"].astype(str), table["id"].astype(str)])
    footprint = ids.reindex(keys).astype(object).where(lambda s: s.notna(), "").to_numpy()
    return table.assign(footprint_id=footprint), int((footprint != "").sum())


def refuse_mixed_models(first: tuple[str, str], model: str, source: str) -> None:
    """One model's results at a time: ``model`` (of ``source``) must be ``first`` = (model, its source)."""
    if model != first[0]:
        raise UserError(
            f"{source}: made by model {model}, but {first[1]} by model {first[0]}; "
            "use one model's predictions (or --mixed-models to combine them on purpose)"
        )


def merge(paths: Sequence[str | Path], mixed_models: bool = False) -> Merged:
    """Concatenate building tables, sorted; combine their unmatched points.

    A photo analysed by two tables is an error (its rows would be counted twice), and so are tables of
    more than one model unless ``mixed_models``. Points on photos a table did not analyse are reported as
    ``no prediction file`` only when no table analysed the photo.
    """
    first_model: tuple[str, str] | None = None
    frames: list[pd.DataFrame] = []
    owner: dict[str, str] = {}
    unmatched: list[dict[str, Any]] = []
    elsewhere: dict[tuple[str, str, int], dict[str, Any]] = {}
    tagged = False
    instances: dict[str, dict[str, Any]] = {}
    thresholds: set[float | None] = set()
    counted = True  # every table records its instance counts (tables of older versions do not)
    for path in paths:
        df, info = read(path)
        add_counts(instances, info.instances)
        counted = counted and bool(info.instances)
        thresholds.add(info.score_threshold)
        for photo in info.photos:
            if photo in owner:
                raise UserError(f"{path}: photo {photo} was already analysed in {owner[photo]}")
            owner[photo] = str(path)
        for model in [] if mixed_models else sorted(set(df["model"].astype(str))):
            first_model = first_model or (model, str(path))
            refuse_mixed_models(first_model, model, str(path))
        frames.append(df)
        unmatched.extend(info.unmatched)
        for row in info.elsewhere:
            elsewhere[(row["file_name"], row["tagged_id"], int(row["via_region"]))] = row
        tagged = tagged or bool(info.tagged)
    missing = [dict(row, reason=NO_PREDICTION) for key, row in elsewhere.items() if key[0] not in owner]
    nonempty = [f for f in frames if len(f)]
    table = sort(pd.concat(nonempty, ignore_index=True)) if nonempty else empty()
    threshold = thresholds.pop() if len(thresholds) == 1 else None
    info = TableInfo(photos=sorted(owner), score_threshold=threshold, instances=instances if counted else {})
    return Merged(conform(table), sorted(owner), unmatched + missing, tagged, info)
