"""Building footprints: read from any file geopandas reads, in any CRS, normalised into walls.

What a footprint file must give (docs/design.md, "Geography"):

* one feature per building, a Polygon or MultiPolygon (other geometries are skipped with a warning; a
  ring that is not valid is repaired with shapely's ``make_valid``, with a warning);
* an ID attribute (``geo.id_column``, default ``id``): text or whole numbers, each at most once; a feature
  without an ID is still rendered (it hides what stands behind it) but nothing is linked to it;
* a height attribute (``geo.height_column``, default ``height``) in metres to the top; where it is missing
  or not a positive number, ``geo.default_height`` is used, with a warning;
* a coordinate reference system (a GeoJSON file is WGS84 by definition; a Shapefile needs its ``.prj``).

Normalisation, done once per file so that a footprint's wall numbers are the same in every photo:
each part's exterior ring is oriented counter-clockwise (keeping its start vertex, as ``geo.ccw_ring``),
then corners that turn less than ``geo.merge_angle`` or lie within ``geo.merge_distance`` of the line
through their neighbours are removed, smallest deviation first (real rings carry many tiny edges).
**Wall k** of a footprint is the k-th edge of its merged rings, part after part, each ring starting at
the first vertex of the oriented ring that survives the merge. Holes are ignored (walls are exterior).
Features are numbered from 0 in file order in messages (``feature 12``).
"""

from __future__ import annotations

import math
import os
import warnings as py_warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Polygon

from facade_wwr.errors import UserError, Warnings, first_line
from facade_wwr.geo_settings import GeoSettings

#: Mean Earth radius (metres), for the small local approximations used to merge edges and to find
#: footprints near a camera (both then use exact coordinates).
EARTH_RADIUS = 6_371_008.8
#: How many features a warning names before it only counts the rest.
NAMED = 5


def search_box(lat: float, lon: float, radius: float) -> tuple[float, float, float, float]:
    """A WGS84 box ``(lon_min, lat_min, lon_max, lat_max)`` holding every point within ``radius`` metres of
    ``(lat, lon)``, a little generous (1 %)."""
    dlat = math.degrees(radius / EARTH_RADIUS) * 1.01
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return (lon - dlon, lat - dlat, lon + dlon, lat + dlat)


@dataclass(frozen=True)
class Footprint:
    """One building of the file: feature number, ID ("" if it has none), height and merged rings."""

    feature: int
    id: str
    height: float
    height_known: bool
    rings: tuple[np.ndarray, ...]  # per part: (n, 2) lon/lat of the merged counter-clockwise ring, not closed

    @property
    def wall_count(self) -> int:
        return sum(len(r) for r in self.rings)


@dataclass
class FootprintSet:
    """The footprints of one file, and a spatial index over their rings."""

    path: str
    footprints: list[Footprint]
    tree: shapely.STRtree
    source: Any = None  # the GeoDataFrame as read (its own CRS); row ``feature`` is that footprint

    def ids(self) -> list[str]:
        """Every footprint's ID ("" for none), in file order."""
        return [fp.id for fp in self.footprints]

    def near(self, lat: float, lon: float, radius: float) -> list[int]:
        """Indices of footprints whose outline comes within about ``radius`` metres of ``(lat, lon)``
        (a box query in degrees, a little generous; callers measure exactly in their local frame)."""
        return sorted(int(i) for i in self.tree.query(shapely.box(*search_box(lat, lon, radius))))


def _named(path: str, rows: list[str], what: str) -> str:
    shown = ", ".join(rows[:NAMED]) + (f" and {len(rows) - NAMED} more" if len(rows) > NAMED else "")
    return f"{path}: {len(rows)} {what} ({shown})"


Box = tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max (WGS84)


def _geo_column(path: str) -> dict:
    """The GeoParquet metadata of a file's primary geometry column ({} if it has none)."""
    import json

    import pyarrow.parquet as pq

    try:
        geo = json.loads((pq.read_schema(path).metadata or {}).get(b"geo", b"{}"))
    except Exception as e:  # pyarrow's errors on a file that is not Parquet
        raise UserError(f"{path}: cannot read footprints as GeoParquet ({first_line(e)})") from None
    return geo.get("columns", {}).get(geo.get("primary_column", "geometry"), {})


def _is_parquet(path: str) -> bool:
    return path.lower().endswith((".parquet", ".geoparquet"))


def file_crs(path: str):
    """The CRS a footprint file is written in (None if it names none), read without reading its features."""
    import pyogrio
    from pyproj import CRS

    if _is_parquet(path):
        column = _geo_column(path)
        return CRS.from_user_input(column["crs"]) if column.get("crs") else CRS.from_user_input("OGC:CRS84")
    try:
        crs = pyogrio.read_info(path)["crs"]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError, OSError) as e:
        raise UserError(f"{path}: cannot read footprints ({first_line(e)})") from None
    return CRS.from_user_input(crs) if crs else None


def _in_file_crs(path: str, boxes: list[Box]) -> list[Box] | None:
    """WGS84 lon/lat boxes in the file's own CRS (None: the file names no CRS, so read all of it)."""
    from pyproj import CRS, Transformer

    crs = file_crs(path)
    if crs is None:
        return None
    if crs.equals(CRS.from_epsg(4326)) or crs.equals(CRS.from_user_input("OGC:CRS84")):
        return boxes
    to_file = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return [to_file.transform_bounds(*box, densify_pts=21) for box in boxes]


def _covering(path: str) -> str | None:
    """The bounding-box covering column of a GeoParquet file (GeoParquet 1.1), if it has one."""
    bbox = _geo_column(path).get("covering", {}).get("bbox", {})
    return bbox.get("xmin", [None])[0] if bbox else None


def _box_filter(column: str, boxes: list[Box]):
    """A pyarrow filter keeping the rows whose bounding box meets one of ``boxes``: row groups outside all
    of them are skipped by their statistics, so a spatially sorted file is read only near the boxes."""
    import pyarrow.compute as pc

    def field(name: str):
        return pc.field((column, name))

    expression = None
    for x0, y0, x1, y1 in boxes:
        one = (field("xmin") <= x1) & (field("xmax") >= x0) & (field("ymin") <= y1) & (field("ymax") >= y0)
        expression = one if expression is None else expression | one
    return expression


def _feature_count(path: str) -> int:
    """How many features the file holds, from its metadata."""
    if _is_parquet(path):
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    import pyogrio

    return int(pyogrio.read_info(path, force_feature_count=True)["features"])


def _read(path: str, boxes: list[Box] | None = None):
    import geopandas
    import pyogrio

    if not os.path.exists(path):
        raise UserError(f"{path}: footprint file not found")
    boxes = _in_file_crs(path, boxes) if boxes else None
    if _is_parquet(path):  # GeoParquet: through pyarrow, as geopandas writes it
        try:
            column = _covering(path) if boxes else None
            if boxes and column is None:
                gdf = geopandas.read_parquet(path)
                return gdf[gdf.intersects(shapely.union_all([shapely.box(*b) for b in boxes]))]
            return geopandas.read_parquet(path, filters=_box_filter(column, boxes) if boxes else None)
        except Exception as e:  # pyarrow's errors, or a Parquet file without geo metadata (ValueError)
            raise UserError(f"{path}: cannot read footprints as GeoParquet ({first_line(e)})") from None
    mask = shapely.union_all([shapely.box(*b) for b in boxes]) if boxes else None
    try:
        with py_warnings.catch_warnings():
            py_warnings.simplefilter("ignore")  # pyogrio's notes (several layers, a measured geometry) go below
            return geopandas.read_file(path, engine="pyogrio", mask=mask)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError) as e:
        raise UserError(f"{path}: cannot read footprints ({first_line(e)})") from None
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read footprints ({first_line(e)})") from None


def _ids(path: str, values: pd.Series, warnings: Warnings) -> list[str]:
    """IDs as text (12.0 read from a numeric column is ``12``); a missing one is ``""``, warned about;
    an ID given twice is an error naming both features."""
    out: list[str] = []
    missing: list[str] = []
    first: dict[str, int] = {}
    for k, v in enumerate(values.tolist()):
        if v is None or (isinstance(v, float) and not math.isfinite(v)) or (isinstance(v, str) and not v.strip()):
            out.append("")
            missing.append(f"feature {k}")
            continue
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        text = str(v).strip()
        if text in first:
            raise UserError(
                f"{path}: id {text!r} in features {first[text]} and {k}: give each footprint its own id "
                "(the parts of one building as one MultiPolygon)"
            )
        first[text] = k
        out.append(text)
    if missing:
        warnings.warn(_named(path, missing, "footprints without an id, rendered but never linked"))
    return out


def _heights(path: str, values: pd.Series, default: float, warnings: Warnings) -> tuple[np.ndarray, np.ndarray]:
    """Heights in metres and whether each was given; missing or unusable values take ``default``."""
    raw = values.tolist()
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    missing, bad = [], []
    for k, (v, x) in enumerate(zip(raw, numbers)):
        if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
            missing.append(f"feature {k}")
        elif not (math.isfinite(x) and x > 0):
            bad.append(f"feature {k}: {v!r}")
    known = np.isfinite(numbers) & (numbers > 0)
    if missing:
        warnings.warn(_named(path, missing, f"footprints without a height, given the default {default:g} m"))
    if bad:
        warnings.warn(
            _named(path, bad, f"footprint heights that are not a positive number of metres, given {default:g} m")
        )
    return np.where(known, numbers, default), known


def _to_metres(lonlat: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """East/north metres of lon/lat rows around each row's ``origin`` (equirectangular: fine within a building)."""
    scale = math.radians(1.0) * EARTH_RADIUS
    return np.stack(
        [
            (lonlat[:, 0] - origin[:, 0]) * scale * np.cos(np.radians(origin[:, 1])),
            (lonlat[:, 1] - origin[:, 1]) * scale,
        ],
        axis=1,
    )


def _removable(xy: np.ndarray, prev: np.ndarray, nxt: np.ndarray, angle: float, distance: float):
    """Per corner of rings laid out flat (``prev``/``nxt``: indices of each corner's neighbours): whether it
    may be merged away, and its distance from the segment joining its neighbours (-1 for a repeated point)."""
    p, a_end, b_end = xy, xy[prev], xy[nxt]
    a, b = p - a_end, b_end - p
    turn = np.degrees(np.abs(np.arctan2(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0], (a * b).sum(axis=1))))
    chord = b_end - a_end
    length2 = (chord * chord).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(length2 > 0, np.clip((a * chord).sum(axis=1) / length2, 0.0, 1.0), 0.0)
    gap = np.hypot(*(a_end + s[:, None] * chord - p).T)
    zero = ((a == 0).all(axis=1)) | ((b == 0).all(axis=1))
    return zero | (turn < angle) | (gap < distance), np.where(zero, -1.0, gap)


def merge_ring(xy: np.ndarray, angle: float, distance: float) -> np.ndarray:
    """Indices of the corners of a counter-clockwise ring ``(n, 2)`` (metres, not closed) kept as wall ends.

    A corner is removed while it turns by less than ``angle`` degrees or lies within ``distance`` metres of
    the segment joining its neighbours, the one of smallest distance first, down to a triangle."""
    keep = np.arange(len(xy))
    while len(keep) > 3:
        n = len(keep)
        order = np.arange(n)
        removable, gap = _removable(xy[keep], np.roll(order, 1), np.roll(order, -1), angle, distance)
        if not removable.any():
            break
        keep = np.delete(keep, int(np.argmin(np.where(removable, gap, np.inf))))
    return keep


def normalise_rings(polygons: list[Polygon], settings: GeoSettings) -> list[np.ndarray]:
    """The merged counter-clockwise exterior rings (lon/lat, not closed) of polygons.

    Orientation (shapely ``orient_polygons``, which keeps the start vertex as ``geo.ccw_ring`` does) and
    the test for mergeable corners run on every ring at once; the merge itself only on rings that have one."""
    if not polygons:
        return []
    rings = shapely.get_exterior_ring(shapely.orient_polygons(np.asarray(polygons, dtype=object)))
    coords, owner = shapely.get_coordinates(rings, return_index=True)
    first = np.r_[True, owner[1:] != owner[:-1]]
    closing = np.r_[owner[1:] != owner[:-1], True]  # the repeated first vertex ending each ring
    lonlat, owner, first = coords[~closing], owner[~closing], first[~closing]
    starts = np.flatnonzero(first)
    counts = np.diff(np.r_[starts, len(owner)])
    base = np.repeat(starts, counts)
    position = np.arange(len(owner)) - base
    xy = _to_metres(lonlat, lonlat[base])
    prev = np.where(position == 0, base + np.repeat(counts, counts) - 1, np.arange(len(owner)) - 1)
    nxt = np.where(position == np.repeat(counts, counts) - 1, base, np.arange(len(owner)) + 1)
    removable, _ = _removable(xy, prev, nxt, settings.merge_angle, settings.merge_distance)
    touched = np.bincount(owner[removable], minlength=len(polygons)) > 0
    out = []
    for k, (s, n) in enumerate(zip(starts, counts)):
        ring = lonlat[s : s + n]
        if touched[k] and n > 3:
            merged = ring[merge_ring(xy[s : s + n], settings.merge_angle, settings.merge_distance)]
            if len(merged) >= 3 and Polygon(merged).is_valid and Polygon(merged).area > 0:
                ring = merged  # else merging would break the outline: every corner is kept
        out.append(ring)
    return out


def _polygons(geometry) -> list[Polygon]:
    return [g for g in shapely.get_parts(geometry) if isinstance(g, Polygon) and not g.is_empty and g.area > 0]


def _check_columns(path: str, gdf, settings: GeoSettings) -> None:
    """The ID and height columns are there and the file names its CRS; a one-line UserError otherwise."""
    for option, column in (("--id-column", settings.id_column), ("--height-column", settings.height_column)):
        if column not in gdf.columns:
            columns = [str(c) for c in gdf.columns if c != gdf.geometry.name]
            raise UserError(
                f"{path}: no column {column!r} (columns: {', '.join(columns) or 'none'}); name it with {option}"
            )
    if gdf.crs is None:
        raise UserError(
            f"{path}: no coordinate reference system (a Shapefile needs its .prj); set one, e.g. with "
            "ogr2ogr -a_srs EPSG:4326"
        )


def read_footprints(
    path: str | os.PathLike[str],
    settings: GeoSettings | None = None,
    warnings: Warnings | None = None,
    boxes: list[Box] | None = None,
) -> FootprintSet:
    """Read, check and normalise a footprint file (see the module docstring); bad input is a one-line
    UserError naming the file, a footprint that can be skipped or repaired a warning.

    With ``boxes`` (WGS84 ``lon_min, lat_min, lon_max, lat_max`` each) only the footprints meeting one of
    them are read: a GeoParquet file with a bounding-box column (``facade-wwr index-footprints``) skips the
    row groups outside them, a GeoPackage or Shapefile uses its spatial index. None there is no error then."""
    settings = settings or GeoSettings()
    warnings = warnings if warnings is not None else Warnings()
    path = str(path)
    gdf = _read(path, boxes)
    if len(gdf) == 0 and (not boxes or _feature_count(path) == 0):
        raise UserError(f"{path}: no footprints in this file")
    _check_columns(path, gdf, settings)
    geometry = gdf.geometry
    usable = ~(geometry.isna() | geometry.is_empty).to_numpy()
    polygonal = usable & geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if len(gdf) == 0:
        return FootprintSet(path, [], shapely.STRtree([]), gdf)
    if not polygonal.any():
        raise UserError(f"{path}: no Polygon or MultiPolygon footprints in this file")
    ids = _ids(path, gdf[settings.id_column], warnings)
    heights, known = _heights(path, gdf[settings.height_column], settings.default_height, warnings)
    if (~polygonal).any():
        rows = [f"feature {k}" for k in np.flatnonzero(~polygonal)]
        warnings.warn(_named(path, rows, "features without a polygon (empty, points or lines), skipped"))
    source = gdf
    if not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    shapes = shapely.force_2d(gdf.geometry.to_numpy())
    valid = shapely.is_valid(shapes)
    repaired = [k for k in np.flatnonzero(polygonal & ~valid)]
    if repaired:
        named = [f"feature {k}" + (f" (id {ids[k]})" if ids[k] else "") for k in repaired]
        warnings.warn(_named(path, named, "invalid rings repaired with shapely's make_valid"))
    parts: list[Polygon] = []
    part_of: list[int] = []
    dropped = []
    for k in np.flatnonzero(polygonal):
        shape = shapely.make_valid(shapes[k]) if not valid[k] else shapes[k]
        polygons = [shape] if valid[k] and shape.geom_type == "Polygon" else _polygons(shape)
        if not polygons:
            dropped.append(f"feature {k}")
        parts += polygons
        part_of += [int(k)] * len(polygons)
    rings_of: dict[int, list[np.ndarray]] = {}
    for k, ring in zip(part_of, normalise_rings(parts, settings)):
        rings_of.setdefault(k, []).append(ring)
    footprints = [
        Footprint(k, ids[k], float(heights[k]), bool(known[k]), tuple(rings)) for k, rings in rings_of.items()
    ]
    if dropped:
        warnings.warn(_named(path, dropped, "footprints with no area left after repair, skipped"))
    if not footprints:
        raise UserError(f"{path}: no usable footprint in this file")
    tree = shapely.STRtree([Polygon(fp.rings[0]) if len(fp.rings) == 1 else _multi(fp) for fp in footprints])
    return FootprintSet(path, footprints, tree, source)


def _multi(fp: Footprint):
    return shapely.MultiPolygon([Polygon(r) for r in fp.rings])


#: Footprints per row group of an index: a link job reads the row groups near its photos, so a small group
#: keeps what it reads near what it needs; a large one keeps the file's statistics small.
INDEX_ROW_GROUP = 2_000


def read_outlines(path: str | os.PathLike[str], settings: GeoSettings):
    """The footprints of a file as they are (its CRS, its geometry; features without a geometry dropped) and
    their IDs as text ("" where missing), checked as ``read_footprints`` checks them, without building walls:
    for the whole-file stages (the index, the GeoPackage). An ID given twice is an error."""
    path = str(path)
    gdf = _read(path)
    if len(gdf) == 0:
        raise UserError(f"{path}: no footprints in this file")
    _check_columns(path, gdf, settings)
    ids = _ids(path, gdf[settings.id_column], Warnings(quiet=True))
    geometry = gdf.geometry
    keep = (~(geometry.isna() | geometry.is_empty) & geometry.geom_type.isin(["Polygon", "MultiPolygon"])).to_numpy()
    if not keep.any():
        raise UserError(f"{path}: no Polygon or MultiPolygon footprints in this file")
    return gdf.loc[keep], [i for i, k in zip(ids, keep) if k]


def write_index(path: str | os.PathLike[str], out: str | os.PathLike[str], settings: GeoSettings) -> int:
    """Write the footprints of ``path`` as a spatially sorted GeoParquet file in WGS84 (``facade-wwr
    index-footprints``): the ID and height columns and the geometry, rows in Hilbert order of their
    bounding boxes, with a bounding-box column (GeoParquet 1.1 covering) so that ``read_footprints(boxes=)``
    reads only the row groups near the photos. The file's IDs are checked here, all at once (a link job
    sees only its neighbourhood). Returns the number of footprints written."""
    from facade_wwr.fileio import atomic_path

    gdf, _ = read_outlines(path, settings)
    columns = list(dict.fromkeys([settings.id_column, settings.height_column]))
    gdf = gdf[[*columns, gdf.geometry.name]]
    if not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    gdf = gdf.iloc[np.argsort(gdf.hilbert_distance(), kind="stable")]
    with atomic_path(out) as tmp:
        gdf.to_parquet(tmp, index=False, write_covering_bbox=True, row_group_size=INDEX_ROW_GROUP)
    return len(gdf)
