"""The link table (docs/design.md, "Contract: the link table"): its statuses and columns, writing it with its
metadata, and reading link tables back (``aggregate``, ``merge --links``, ``evaluate-geo``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from facade_wwr.errors import UserError, first_line

LINKED = "linked"
LINKED_NO_WALL = "linked_no_wall"
LOW_SHARE = "low_share"
NO_FOOTPRINT = "no_footprint"
NOT_ALIGNED = "not_aligned"
NO_POSE = "no_pose"
NOT_PINHOLE = "not_pinhole"
STATUSES = (LINKED, LINKED_NO_WALL, LOW_SHARE, NO_FOOTPRINT, NOT_ALIGNED, NO_POSE, NOT_PINHOLE)

COLUMNS = {
    "file_name": "string",
    "id": "string",
    "instance": "int32",
    "status": "string",
    "footprint_id": "string",
    "wall": "Int32",
    "wall_azimuth": "float64",
    "orientation": "string",
    "view_angle": "float64",
    "edge_on": "boolean",
    "distance_m": "float64",
    "building_pixels": "int64",
    "wall_pixels": "Int64",
    "window_pixels": "Int64",
    "wall_m2": "float64",
    "window_m2": "float64",
    "pixel_wwr": "float64",
    "plane_wwr": "float64",
    "link_share": "float64",
    "alignment_before": "float64",
    "alignment": "float64",
    "lat": "float64",
    "lon": "float64",
    "heading": "float64",
    "pitch": "float64",
    "hfov": "float64",
    "camera_height": "float64",
    "pose_source": "string",
    "refined": "boolean",
}
#: A building linked to a footprint (with walls measured, or its mask showing only roof).
LINKED_STATUSES = (LINKED, LINKED_NO_WALL)


def table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The link table with its columns in order and their types (empty cells as nulls)."""
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for name, dtype in COLUMNS.items():
        df[name] = df[name].astype(dtype)
    return df


def write(path: str | Path, df: pd.DataFrame, meta: dict[str, str]) -> None:
    """Write a link table as Parquet, atomically, with ``meta`` as key-value metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from facade_wwr.fileio import atomic_path

    arrow = pa.Table.from_pandas(df, preserve_index=False)
    arrow = arrow.replace_schema_metadata(
        {**(arrow.schema.metadata or {}), **{k.encode(): v.encode() for k, v in meta.items()}}
    )
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp)


def files(paths: list[str]) -> list[Path]:
    """Link tables given as files or folders of ``.parquet`` files; a one-line error for a missing one."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(path.glob("*.parquet"))
            if not found:
                raise UserError(f"{path}: no link tables (.parquet) in this folder")
            out += found
        elif path.is_file():
            out.append(path)
        else:
            raise UserError(f"{path}: link table not found")
    return out


def read(paths: list[Path]) -> pd.DataFrame:
    """The rows of link tables, checked; ``.attrs["photos"]`` lists every photo they linked (a photo with no
    kept building has no row). A photo in two tables is an error (its walls would count twice)."""
    import pyarrow.parquet as pq

    tables = []
    photos: set[str] = set()
    owner: dict[str, Path] = {}
    for path in paths:
        try:
            arrow = pq.read_table(path)
        except Exception as e:  # pyarrow's errors on a file that is not Parquet
            raise UserError(f"{path}: cannot read as a link table ({first_line(e)})") from None
        frame = arrow.to_pandas()
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise UserError(f"{path}: not a link table (no column {', '.join(missing[:3])}); write it with 'link'")
        for photo in frame["file_name"].unique():
            if photo in owner:
                raise UserError(f"{path}: photo {photo} is also in {owner[photo]}: give each photo's links once")
            owner[photo] = path
        tables.append(frame[list(COLUMNS)])
        listed = (arrow.schema.metadata or {}).get(b"photos")
        photos |= set(json.loads(listed)) if listed else set(frame["file_name"])
    links = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=list(COLUMNS))
    links.attrs["photos"] = sorted(photos)
    return links
