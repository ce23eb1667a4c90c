"""Footprints: any format and CRS, IDs, heights, repair, ring orientation, wall merging, and every bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from facade_wwr.city import generate_city
from facade_wwr.city_demo import footprints_geojson
from facade_wwr.errors import UserError, Warnings
from facade_wwr.footprints import merge_ring, read_footprints
from facade_wwr.geo import LocalFrame, ccw_ring
from facade_wwr.geo_settings import GeoSettings

ORIGIN = (35.63, 139.74)
FRAME = LocalFrame(*ORIGIN)


def _ring(points_m: list[tuple[float, float]]) -> list[list[float]]:
    """Lon/lat of points given in metres around ORIGIN, closed."""
    lon, lat = FRAME.to_lonlat(np.array([p[0] for p in points_m]), np.array([p[1] for p in points_m]))
    coords = [[float(x), float(y)] for x, y in zip(lon, lat)]
    return coords + coords[:1]


def _geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def _feature(ring_m, fid="a", height=10.0, **extra) -> dict:
    return {
        "type": "Feature",
        "properties": {"id": fid, "height": height, **extra},
        "geometry": {"type": "Polygon", "coordinates": [_ring(ring_m)]},
    }


SQUARE = [(0.0, 0.0), (10.0, 0.0), (10.0, 8.0), (0.0, 8.0)]


def _local(fp) -> np.ndarray:
    e, n = FRAME.to_local(fp.rings[0][:, 0], fp.rings[0][:, 1])
    return np.stack([e, n], axis=1)


def test_city_footprints_read_with_the_city_wall_numbers(tmp_path: Path) -> None:
    """The demo city's GeoJSON (most rings clockwise, some heights null) gives back each footprint's walls in
    the city's numbering: counter-clockwise, the same start vertex."""
    city = generate_city(3, 2)
    path = tmp_path / "city.geojson"
    path.write_text(json.dumps(footprints_geojson(city, FRAME)))
    warnings = Warnings(quiet=True)
    fs = read_footprints(path, GeoSettings(), warnings)
    assert [fp.id for fp in fs.footprints] == [fp.id for fp in city.footprints]
    for got, want in zip(fs.footprints, city.footprints):
        assert np.allclose(_local(got), want.ring, atol=1e-3)
        assert got.height_known == (want.recorded_height is not None)
        assert got.height == (want.recorded_height if want.recorded_height is not None else 10.0)
    assert any("without a height" in m for m in warnings.messages)


def test_clockwise_ring_is_oriented_keeping_its_start(tmp_path: Path) -> None:
    clockwise = [SQUARE[0], SQUARE[3], SQUARE[2], SQUARE[1]]
    fs = read_footprints(_geojson(tmp_path / "f.geojson", [_feature(clockwise)]))
    assert np.allclose(_local(fs.footprints[0]), ccw_ring(SQUARE), atol=1e-3)


def test_near_collinear_corners_and_tiny_jogs_merge_into_walls() -> None:
    # a straight wall with a kink of 2 degrees, a 0.3 m jog, and a real corner every 10 m
    ring = np.array([[0, 0], [5, 0.17], [10, 0], [10, 4], [10.3, 4], [10.3, 8], [0, 8]], dtype=float)
    assert merge_ring(ring, angle=10.0, distance=0.5).tolist() == [0, 2, 5, 6]  # kink and jog merged
    assert merge_ring(ring, angle=10.0, distance=0.0).tolist() == [0, 2, 3, 4, 5, 6]  # only the kink
    assert merge_ring(ring, angle=0.0, distance=0.0).tolist() == list(range(7))
    assert len(merge_ring(np.array([[0, 0], [3, 0], [3, 3], [0, 3]], float), 10.0, 0.5)) == 4  # a small kiosk


def test_other_crs_and_formats_give_the_same_rings(tmp_path: Path) -> None:
    """GeoPackage in Web Mercator, a Shapefile in UTM and GeoParquet all read like the GeoJSON."""
    ring = [(0.0, 0.0), (12.0, 0.0), (12.0, 9.0), (5.0, 9.0), (5.0, 15.0), (0.0, 15.0)]
    ref = read_footprints(_geojson(tmp_path / "f.geojson", [_feature(ring, "x", 7.5)]))
    gdf = gpd.read_file(tmp_path / "f.geojson")
    files = {
        "f.gpkg": gdf.to_crs(3857),
        "f.shp": gdf.to_crs(32654),
        "f.parquet": gdf,
    }
    for name, frame in files.items():
        if name.endswith(".parquet"):
            frame.to_parquet(tmp_path / name)
        else:
            frame.to_file(tmp_path / name)
        got = read_footprints(tmp_path / name)
        assert got.footprints[0].id == "x" and got.footprints[0].height == 7.5
        assert np.allclose(_local(got.footprints[0]), _local(ref.footprints[0]), atol=0.01), name


def test_numeric_ids_and_other_columns(tmp_path: Path) -> None:
    features = [_feature(SQUARE, None, 6.0), _feature([(20, 0), (30, 0), (30, 8), (20, 8)], None, None)]
    features[0]["properties"].update({"gid": 12.0, "h": 6.0})
    features[1]["properties"].update({"gid": 13, "h": "7.5"})
    fs = read_footprints(_geojson(tmp_path / "f.geojson", features), GeoSettings(id_column="gid", height_column="h"))
    assert [fp.id for fp in fs.footprints] == ["12", "13"]
    assert [fp.height for fp in fs.footprints] == [6.0, 7.5]


def test_multipolygon_walls_are_numbered_part_after_part(tmp_path: Path) -> None:
    a, b = Polygon(_ring(SQUARE)), Polygon(_ring([(20, 0), (30, 0), (30, 8), (20, 8)]))
    feature = {
        "type": "Feature",
        "properties": {"id": "m", "height": 5},
        "geometry": MultiPolygon([a, b]).__geo_interface__,
    }
    fs = read_footprints(_geojson(tmp_path / "f.geojson", [feature]))
    assert len(fs.footprints[0].rings) == 2 and fs.footprints[0].wall_count == 8


def test_near_finds_footprints_around_a_point(tmp_path: Path) -> None:
    far = [(x + 500.0, y) for x, y in SQUARE]
    fs = read_footprints(_geojson(tmp_path / "f.geojson", [_feature(SQUARE, "near"), _feature(far, "far")]))
    assert fs.near(*ORIGIN, 100.0) == [0]
    assert fs.near(*ORIGIN, 600.0) == [0, 1]


# --------------------------------------------------------------------------- messages


def _message(tmp_path: Path, features: list[dict] | None = None, settings=None, path: Path | None = None) -> str:
    p = path or _geojson(tmp_path / "bad.geojson", features or [])
    with pytest.raises(UserError) as e:
        read_footprints(p, settings or GeoSettings(), Warnings(quiet=True))
    return str(e.value)


def _warnings(tmp_path: Path, features: list[dict], settings=None) -> tuple[list[str], object]:
    w = Warnings(quiet=True)
    fs = read_footprints(_geojson(tmp_path / "warn.geojson", features), settings or GeoSettings(), w)
    return w.messages, fs


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    assert (
        _message(tmp_path, path=tmp_path / "none.geojson") == f"{tmp_path / 'none.geojson'}: footprint file not found"
    )
    junk = tmp_path / "junk.geojson"
    junk.write_text("this is not json")
    assert _message(tmp_path, path=junk).startswith(f"{junk}: cannot read footprints (")


def test_empty_file_and_no_polygons(tmp_path: Path) -> None:
    assert _message(tmp_path, []) == f"{tmp_path / 'bad.geojson'}: no footprints in this file"
    point = {
        "type": "Feature",
        "properties": {"id": "p", "height": 3},
        "geometry": Point(139.74, 35.63).__geo_interface__,
    }
    assert (
        _message(tmp_path, [point]) == f"{tmp_path / 'bad.geojson'}: no Polygon or MultiPolygon footprints in this file"
    )
    messages, fs = _warnings(tmp_path, [point, _feature(SQUARE, "ok")])
    assert len(fs.footprints) == 1
    assert messages == [
        f"{tmp_path / 'warn.geojson'}: 1 features without a polygon (empty, points or lines), skipped (feature 0)"
    ]


def test_unknown_columns_name_the_option(tmp_path: Path) -> None:
    msg = _message(tmp_path, [_feature(SQUARE)], GeoSettings(id_column="建物ID"))
    assert msg == f"{tmp_path / 'bad.geojson'}: no column '建物ID' (columns: id, height); name it with --id-column"
    msg = _message(tmp_path, [_feature(SQUARE)], GeoSettings(height_column="measuredHeight"))
    assert msg.endswith("no column 'measuredHeight' (columns: id, height); name it with --height-column")


def test_missing_and_duplicate_ids(tmp_path: Path) -> None:
    other = [(20, 0), (30, 0), (30, 8), (20, 8)]
    msg = _message(tmp_path, [_feature(SQUARE, "a"), _feature(other, "a")])
    assert msg == (
        f"{tmp_path / 'bad.geojson'}: id 'a' in features 0 and 1: give each footprint its own id "
        "(the parts of one building as one MultiPolygon)"
    )
    messages, fs = _warnings(tmp_path, [_feature(SQUARE, ""), _feature(other, None), _feature(SQUARE, "c")])
    assert messages == [
        f"{tmp_path / 'warn.geojson'}: 2 footprints without an id, rendered but never linked (feature 0, feature 1)"
    ]
    assert [fp.id for fp in fs.footprints] == ["", "", "c"]


def test_missing_and_bad_heights_take_the_default(tmp_path: Path) -> None:
    other = [(20, 0), (30, 0), (30, 8), (20, 8)]
    features = [_feature(SQUARE, "a", None), _feature(other, "b", "tall"), _feature(SQUARE, "c", -3)]
    messages, fs = _warnings(tmp_path, features, GeoSettings(default_height=12.0))
    assert messages == [
        f"{tmp_path / 'warn.geojson'}: 1 footprints without a height, given the default 12 m (feature 0)",
        f"{tmp_path / 'warn.geojson'}: 2 footprint heights that are not a positive number of metres, given 12 m "
        "(feature 1: 'tall', feature 2: '-3')",
    ]
    assert [fp.height for fp in fs.footprints] == [12.0, 12.0, 12.0]
    assert not any(fp.height_known for fp in fs.footprints)


def test_invalid_ring_is_repaired_with_a_warning(tmp_path: Path) -> None:
    bowtie = [(0.0, 0.0), (10.0, 8.0), (10.0, 0.0), (0.0, 8.0)]
    messages, fs = _warnings(tmp_path, [_feature(bowtie, "bow")])
    assert messages == [
        f"{tmp_path / 'warn.geojson'}: 1 invalid rings repaired with shapely's make_valid (feature 0 (id bow))"
    ]
    assert len(fs.footprints[0].rings) == 2  # the two triangles of the bow tie
    assert all(shapely.Polygon(r).is_valid for r in fs.footprints[0].rings)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_shapefile_without_crs_is_refused(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"id": ["a"], "height": [3.0]}, geometry=[Polygon(SQUARE)], crs=None)
    gdf.to_file(tmp_path / "nocrs.shp")
    msg = _message(tmp_path, path=tmp_path / "nocrs.shp")
    assert msg.startswith(f"{tmp_path / 'nocrs.shp'}: no coordinate reference system (a Shapefile needs its .prj)")


@pytest.mark.realdata
def test_plateau_footprints_read_as_they_are(real_data: Path) -> None:
    w = Warnings(quiet=True)
    fs = read_footprints(
        real_data / "footprints" / "plateau-2020.geojson",
        GeoSettings(id_column="建物ID", height_column="measuredHeight"),
        w,
    )
    assert len(fs.footprints) == 11_525
    assert sum(fp.id == "" for fp in fs.footprints) == 3
    assert sum(not fp.height_known for fp in fs.footprints) == 3
    assert len(w.messages) == 2  # three without an id, three without a height: nothing else
    merged = sum(fp.wall_count for fp in fs.footprints)
    assert 60_000 < merged < 83_107  # 83,107 ring edges before merging
    for fp in fs.footprints[:200]:
        for ring in fp.rings:  # every ring counter-clockwise after orientation (PLATEAU writes them clockwise)
            assert shapely.Polygon(ring).exterior.is_ccw
    assert math.isclose(fs.footprints[0].height, 8.5)


def test_nothing_left_after_repair(tmp_path: Path) -> None:
    line = _feature(SQUARE, "line")  # no area: make_valid turns it into a line
    line["geometry"]["coordinates"] = [[[139.74, 35.63], [139.7401, 35.63], [139.7402, 35.63], [139.74, 35.63]]]
    messages, fs = _warnings(tmp_path, [line, _feature(SQUARE, "ok")])
    assert f"{tmp_path / 'warn.geojson'}: 1 footprints with no area left after repair, skipped (feature 0)" in messages
    assert [fp.id for fp in fs.footprints] == ["ok"]
    assert _message(tmp_path, [line]) == f"{tmp_path / 'bad.geojson'}: no usable footprint in this file"


def test_unreadable_geoparquet(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    path.write_bytes(b"PAR1 not really")
    assert _message(tmp_path, path=path).startswith(f"{path}: cannot read footprints as GeoParquet (")
