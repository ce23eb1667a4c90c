"""The synthetic city: exact VIA polygons, perspective-exact wall areas, EXIF poses, consistent truth, errors."""

from __future__ import annotations

import csv
import filecmp
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from facade_wwr.camera import Camera, f35_from_hfov, hfov_from_f35, pixel_centres, plane_homography, plane_points
from facade_wwr.city import WINDOW, City, Opening, make_footprint, number_openings
from facade_wwr.city_demo import Options, Setting, via_regions
from facade_wwr.city_render import WALL, city_palette, city_surfaces, render_buildings
from facade_wwr.city_views import Pose, View, building_mask, make_view, view_rows, window_mask
from facade_wwr.cli import main
from facade_wwr.coco import Source, build_coco
from facade_wwr.errors import Warnings
from facade_wwr.exif import pose_exif, read_pose
from facade_wwr.geo import LocalFrame, ring_edges
from facade_wwr.masks import polygons_to_rle

from .conftest import REAL_DATA

ARGS = {"seed": 4, "blocks": 2, "train": 4, "val": 2, "photos": 2, "size": (256, 192)}


def _argv(out: Path, **extra: str) -> list[str]:
    o = ARGS
    argv = ["demo-city", str(out), "--seed", str(o["seed"]), "--blocks", str(o["blocks"]), "--train", str(o["train"])]
    argv += ["--val", str(o["val"]), "--photos", str(o["photos"]), "--size", "{}x{}".format(*o["size"]), "--quiet"]
    for key, value in extra.items():
        argv += [f"--{key.replace('_', '-')}", value]
    return argv


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def city_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city") / "city"
    assert main(_argv(out)) == 0
    return out


@pytest.fixture(scope="module")
def setting() -> Setting:
    return Setting.of(Options(**ARGS))


def _view(setting: Setting, split: str, index: int) -> View:
    return make_view(
        ARGS["seed"], split, index, setting.city, setting.streets, setting.surfaces, setting.palette, ARGS["size"]
    )


# --------------------------------------------------------------------------- files and VIA polygons


def test_files_and_shapes(city_dir: Path) -> None:
    names = sorted(p.name for p in city_dir.iterdir())
    assert names == sorted(
        [".facade-wwr-demo-city", "footprints.geojson", "photos", "poses.csv", "train", "val"]
        + [f"truth_{t}.csv" for t in ("footprints", "photos", "view_buildings", "views", "walls")]
    )
    for split in ("train", "val", "photos"):
        photos = sorted((city_dir / split).glob("*.jpg"))
        assert len(photos) == ARGS[split]
        via = json.loads((city_dir / split / "via_region_data.json").read_text())
        for key, entry in via.items():
            assert list(entry) == ["filename", "size", "regions", "file_attributes"]
            assert key == f"{entry['filename']}{(city_dir / split / entry['filename']).stat().st_size}"
            assert all(
                r["region_attributes"]["class"] in ({"window": True}, {"building": True}) for r in entry["regions"]
            )
    geojson = json.loads((city_dir / "footprints.geojson").read_text())
    heights = [f["properties"]["height"] for f in geojson["features"]]
    assert None in heights and all(h is None or 2.0 < h < 40.0 for h in heights)
    assert all(isinstance(f["properties"]["id"], str) for f in geojson["features"])
    clockwise = _rows(city_dir / "truth_footprints.csv")
    assert {r["written_clockwise"] for r in clockwise} == {"0", "1"}
    shapes = {(r["shape"], r["roof"]) for r in clockwise}
    assert ("L", "flat") in shapes and ("rectangle", "gable") in shapes
    walls = _rows(city_dir / "truth_walls.csv")
    assert any(r["party_wall"] == "1" for r in walls), "attached rows share party walls"
    wwr = [float(r["wwr"]) for r in clockwise if r["wwr"]]
    assert min(wwr) < 0.1 and max(wwr) > 0.3


def _expected_masks(view: View, palette) -> list[np.ndarray]:
    """The rendered pixels of every VIA region of a view, in region order."""
    b = view.buffers
    bmask, wmask = building_mask(b), window_mask(b, palette)
    out = []
    for inst in view.instances:
        if inst.polygon is not None:
            out.append(bmask & (b.owner == inst.footprint))
        out += [wmask & (b.opening == k) for k, _ in inst.windows]
    return out


def test_via_polygons_rasterise_to_the_rendered_pixels(city_dir: Path, setting: Setting) -> None:
    """via2coco (strict: no warning allowed) turns every polygon into exactly the rendered building or window."""
    width, height = ARGS["size"]
    checked = occluded = 0
    for split in ("train", "val", "photos"):
        coco, summary = build_coco(
            [Source(str(city_dir / split / "via_region_data.json"), str(city_dir / split))],
            city_dir / f"{split}.json",
            warnings=Warnings(strict=True, quiet=True),
        )
        assert summary["skipped_regions"] == []
        by_image = defaultdict(list)
        for a in coco["annotations"]:
            by_image[a["image_id"]].append(a)
        for image in coco["images"]:
            index = int(Path(image["file_name"]).stem.split("_")[-1])
            view = _view(setting, split, index)
            occluded += len(view.occluders)
            expected = _expected_masks(view, setting.palette)
            anns = sorted(by_image[image["id"]], key=lambda a: a["via_region"])
            assert [a["via_region"] for a in anns] == list(range(len(expected)))
            for a, want in zip(anns, expected):
                got = mask_utils.decode(polygons_to_rle(a["segmentation"], height, width)).astype(bool)
                assert np.array_equal(got, want), f"{image['file_name']} region {a['via_region']}"
                assert a["area"] == int(want.sum())
                checked += 1
            for inst in view.instances:  # a window never shows through the building in front of it
                for k, _ in inst.windows:
                    assert (view.buffers.owner[view.buffers.opening == k] == inst.footprint).all()
    assert checked > 100 and occluded > 0


def test_view_building_rows_link_via_regions_to_footprints(city_dir: Path, setting: Setting) -> None:
    rows = [r for r in _rows(city_dir / "truth_view_buildings.csv") if r["file_name"] == "train_0001.jpg"]
    view = _view(setting, "train", 1)
    regions, index = via_regions(view)
    ids = {fp.index: fp.id for fp in setting.city.footprints}
    assert [r["footprint_id"] for r in rows] == [ids[i.footprint] for i in view.instances]
    assert [r["via_region"] for r in rows] == ["" if i is None else str(i) for i in index]
    kept = [r for r in rows if r["via_region"] != ""]
    assert [int(r["building"]) for r in kept] == list(range(len(kept)))
    for r in kept:
        assert regions[int(r["via_region"])]["region_attributes"]["class"] == {"building": True}


# --------------------------------------------------------------------------- perspective and wall areas


def _one_wall_city() -> City:
    """A 20 m x 10 m block, 12 m high; its south wall (wall 0) has windows on its left half only (a shop
    window below three columns of windows), so its window density varies along and up the wall."""
    windows = [
        Opening(1.0 + 2.5 * c, 2.5 + 2.5 * c, 3.8 + 3.0 * r, 5.3 + 3.0 * r, WINDOW) for c in range(3) for r in range(3)
    ]
    windows.append(Opening(1.0, 7.5, 0.3, 2.6, WINDOW))
    fp = make_footprint(0, "one", np.array([[0.0, 0.0], [20.0, 0.0], [20.0, 10.0], [0.0, 10.0]]), 12.0, {0: windows})
    return City(tuple(number_openings([fp])), (), 0.0)


def _wall_view(
    city: City, off_normal: float, distance: float, size: tuple[int, int] = (384, 288)
) -> tuple[View, dict[str, str]]:
    wall = city.footprints[0].walls[0]
    centre = (np.array(wall.start) + np.array(wall.end)) / 2
    direction = math.cos(math.radians(off_normal)) * wall.normal + math.sin(math.radians(off_normal)) * wall.along
    ground = centre + distance * direction
    to_wall = centre - ground
    heading = math.degrees(math.atan2(to_wall[0], to_wall[1]))
    camera = Camera(float(ground[0]), float(ground[1]), 6.0, heading, 0.0, 70.0, *size)
    buffers = render_buildings(camera, city_surfaces(city))
    view = View(
        "test", 0, Pose(camera, 0, 0, off_normal, None), buffers, np.zeros((size[1], size[0], 3), np.uint8), [], []
    )
    rows = view_rows(view, "view.jpg", city, city_palette(0, city))
    return view, next(r for r in rows if r["footprint_id"] == "one" and r["wall"] == 0)


def test_head_on_pixel_ratio_equals_plane_ratio_oblique_does_not() -> None:
    city = _one_wall_city()
    wall = city.footprints[0].walls[0]
    whole = wall.window_area / wall.area
    _, head_on = _wall_view(city, 0.0, 25.0)
    _, oblique = _wall_view(city, 60.0, 25.0)
    for row in (head_on, oblique):  # the whole wall is in view: its plane figures are the true ones
        assert float(row["wall_m2"]) == pytest.approx(wall.area, rel=0.01)
        assert float(row["plane_wwr"]) == pytest.approx(whole, abs=0.01)
        assert float(row["whole_wall_wwr"]) == pytest.approx(whole, abs=1e-6)
    assert abs(float(head_on["pixel_wwr"]) - float(head_on["plane_wwr"])) < 1e-6  # fronto-parallel: equal weights
    assert float(oblique["view_angle"]) == pytest.approx(60.0, abs=3.0)
    assert abs(float(oblique["pixel_wwr"]) - float(oblique["plane_wwr"])) > 0.04  # the near, window-poor half wins


def test_pixel_areas_sum_to_the_true_area_of_each_window() -> None:
    """Σ |det H^-1| / |w'|^3 over a rendered window's pixels is its area in m², up to rasterisation: at most
    the area of its boundary pixels (each may fall in or out) off, and within 1.5 % over all windows."""
    city = _one_wall_city()
    openings = {o.id: o for o in city.footprints[0].walls[0].openings}
    for off, distance in ((0.0, 25.0), (60.0, 25.0), (35.0, 16.0)):
        view, _ = _wall_view(city, off, distance, (768, 576))
        b = view.buffers
        total_true = total_sum = 0.0
        for k, o in openings.items():
            m = (b.opening == k) & (b.kind == WALL)
            assert m[1:-1, 1:-1].sum() == m.sum() > 100, "the whole window is in view"
            inner = m.copy()
            inner[1:-1, 1:-1] &= m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
            boundary = m & ~inner
            area = float(b.area[m].sum())
            assert abs(area - o.area) <= float(b.area[boundary].sum()), (off, k)
            total_true, total_sum = total_true + o.area, total_sum + area
        assert total_sum == pytest.approx(total_true, rel=0.015), off


def test_plane_points_and_projection_agree() -> None:
    camera = Camera(3.0, -4.0, 1.7, 33.0, 7.0, 64.0, 320, 240)
    origin, a, b = np.array([10.0, 5.0, 0.0]), np.array([0.6, -0.8, 0.0]), np.array([0.0, 0.0, 1.0])
    points = origin + np.array([[2.0], [5.0], [-1.0]]) * a + np.array([[1.0], [4.0], [2.5]]) * b
    uv, depth = camera.project(points)
    s, t, w = plane_points(np.linalg.inv(plane_homography(camera, origin, a, b)), uv[:, 0], uv[:, 1])
    assert np.allclose(s, [2.0, 5.0, -1.0]) and np.allclose(t, [1.0, 4.0, 2.5]) and np.allclose(1.0 / w, depth)
    u, v = pixel_centres(4, 3)
    assert u[0, 0] == 0.5 and v[2, 3] == 2.5
    for hfov in (50.0, 65.3, 90.0):
        assert hfov_from_f35(f35_from_hfov(hfov, 4000, 3000), 4000, 3000) == pytest.approx(hfov)
    assert f35_from_hfov(hfov_from_f35(28, 4000, 3000), 4000, 3000) == pytest.approx(28.0)


def test_true_heading_corrects_grid_convergence() -> None:
    """A grid heading in the city's frame plus grid_convergence is the true heading at the camera."""
    from pyproj import Geod

    frame = LocalFrame(35.63, 139.74)
    for east, north, grid in ((400.0, 300.0, 10.0), (-350.0, -200.0, 250.0), (0.0, 0.0, 90.0)):
        true = grid + frame.grid_convergence(east, north)
        lon, lat = (float(x) for x in frame.to_lonlat(east, north))
        lon2, lat2, _ = Geod(ellps="WGS84").fwd(lon, lat, true, 50.0)
        e2, n2 = (float(x) for x in frame.to_local(lon2, lat2))
        assert math.degrees(math.atan2(e2 - east, n2 - north)) % 360 == pytest.approx(grid % 360, abs=1e-3)
    assert abs(frame.grid_convergence(400.0, 300.0)) > 1e-3  # not negligible against EXIF's 0.001 degrees


# --------------------------------------------------------------------------- EXIF and determinism


def test_exif_round_trip_and_f35_agree_with_poses(city_dir: Path) -> None:
    poses = _rows(city_dir / "poses.csv")
    written = 0
    for row in poses:
        pose = read_pose(city_dir / row["split"] / row["file_name"])
        assert pose is not None and pose.heading_ref == "T"
        assert abs(pose.lat - float(row["lat"])) < 1e-6 and abs(pose.lon - float(row["lon"])) < 1e-6
        assert abs((pose.heading - float(row["heading"]) + 180) % 360 - 180) < 0.01
        # the exif_* columns are the values as EXIF holds them, to the digits written
        assert (f"{pose.lat:.10f}", f"{pose.lon:.10f}") == (row["exif_lat"], row["exif_lon"])
        assert f"{pose.heading:.6f}" == row["exif_heading"]
        if row["f35"]:
            written += 1
            assert pose.f35 == int(row["f35"])
            assert float(row["hfov"]) == pytest.approx(
                hfov_from_f35(pose.f35, int(row["width"]), int(row["height"])), abs=1e-5
            )
        else:
            assert pose.f35 is None
        assert 50.0 <= float(row["hfov"]) <= 90.0 and abs(float(row["pitch"])) <= 10.0
    assert 0 < written < len(poses)


def test_exif_writer_handles_hemispheres_and_wraps(tmp_path: Path) -> None:
    from PIL import Image

    for lat, lon, heading in ((-33.8688, -151.2093, 359.9996), (0.0000004, 179.9999996, 12.3456), (51.5, -0.1275, 0.0)):
        path = tmp_path / "p.jpg"
        Image.new("RGB", (16, 16)).save(path, exif=pose_exif(lat, lon, heading, f35=26))
        pose = read_pose(path)
        assert pose is not None
        assert abs(pose.lat - lat) < 1e-9 and abs(pose.lon - lon) < 1e-9
        assert abs((pose.heading - heading + 180) % 360 - 180) < 0.001 and 0 <= pose.heading < 360
        assert pose.f35 == 26
    Image.new("RGB", (16, 16)).save(tmp_path / "bare.jpg")
    assert read_pose(tmp_path / "bare.jpg") is None


@pytest.mark.realdata
def test_reads_mapillary_exif_of_the_real_data_set() -> None:
    if not (REAL_DATA / "val").is_dir():
        pytest.skip(f"real data set not found at {REAL_DATA}")
    pose = read_pose(REAL_DATA / "val" / "P2VBr3KZuYBOF1QA-DIRrQ.jpg")
    assert pose is not None and pose.heading_ref == "T" and pose.f35 is None
    assert pose.lat == pytest.approx(35 + 37 / 60 + 43.463639993155766 / 3600, abs=1e-9)
    assert pose.lon == pytest.approx(139 + 44 / 60 + 15.416880006606656 / 3600, abs=1e-9)
    assert pose.heading == pytest.approx(179.639)
    poses = [read_pose(p) for p in sorted(REAL_DATA.glob("*/*.jpg"))]
    located = [p for p in poses if p is not None]
    assert len(located) == 75  # as SOURCE.md counts them
    assert all(35.5 < p.lat < 35.7 and 139.6 < p.lon < 139.8 for p in located)


def test_same_arguments_give_identical_files_and_noise_leaves_the_truth(city_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert main(_argv(again)) == 0
    names = sorted(str(p.relative_to(city_dir)) for p in city_dir.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(again)) for p in again.rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(city_dir, again, names, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(names)

    fewer = tmp_path / "fewer"  # each photo has its own stream: other splits do not change
    assert main([*_argv(fewer)[:-1], "--train", "1", "--quiet"]) == 0
    assert (fewer / "val" / "val_0001.jpg").read_bytes() == (city_dir / "val" / "val_0001.jpg").read_bytes()

    noisy = tmp_path / "noisy"
    assert main(_argv(noisy, pose_noise="3,5")) == 0
    truth_columns = ["file_name", "lat", "lon", "heading", "pitch", "hfov", "camera_height"]
    clean, perturbed = _rows(city_dir / "poses.csv"), _rows(noisy / "poses.csv")
    assert [[r[c] for c in truth_columns] for r in clean] == [[r[c] for c in truth_columns] for r in perturbed]
    assert (noisy / "truth_views.csv").read_bytes() == (city_dir / "truth_views.csv").read_bytes()
    frame = LocalFrame(35.63, 139.74)
    offsets, turns = [], []
    for row in perturbed:
        pose = read_pose(noisy / row["split"] / row["file_name"])
        assert pose is not None
        e, n = frame.to_local(pose.lon, pose.lat)
        offsets.append(math.hypot(float(e) - float(row["east"]), float(n) - float(row["north"])))
        turns.append(abs((pose.heading - float(row["heading"]) + 180) % 360 - 180))
    assert 0.3 < np.mean(offsets) < 12.0 and 0.5 < np.mean(turns) < 15.0


# --------------------------------------------------------------------------- truth consistency


def test_footprint_wwr_is_the_sum_over_its_walls(city_dir: Path) -> None:
    walls = _rows(city_dir / "truth_walls.csv")
    footprints = {r["footprint_id"]: r for r in _rows(city_dir / "truth_footprints.csv")}
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for w in walls:
        if w["party_wall"] == "1":
            continue
        for key in ("all", w["orientation"]):
            sums[(w["footprint_id"], key)][0] += float(w["window_area_m2"])
            sums[(w["footprint_id"], key)][1] += float(w["area_m2"])
        assert float(w["wwr"]) == pytest.approx(float(w["window_area_m2"]) / float(w["area_m2"]), abs=1e-5)
    for fid, row in footprints.items():
        window, wall = sums[(fid, "all")]
        assert float(row["wwr"]) == pytest.approx(window / wall, abs=1e-5)
        for name in ("north", "east", "south", "west"):
            if (fid, name) in sums:
                window, wall = sums[(fid, name)]
                assert float(row[f"wwr_{name}"]) == pytest.approx(window / wall, abs=1e-5)
            else:
                assert row[f"wwr_{name}"] == ""


def test_view_figures_add_up(city_dir: Path) -> None:
    views, buildings = _rows(city_dir / "truth_views.csv"), _rows(city_dir / "truth_view_buildings.csv")
    for photo in _rows(city_dir / "truth_photos.csv"):
        name = photo["file_name"]
        kinds = ("sky", "ground", "wall", "roof", "occluder", "frame")
        assert sum(int(photo[f"{k}_pixels"]) for k in kinds) == int(photo["width"]) * int(photo["height"])
        assert int(photo["frame_pixels"]) == int(photo["width"]) + int(photo["height"]) - 1
        mine = [r for r in views if r["file_name"] == name]
        assert sum(int(r["wall_pixels"]) for r in mine) == int(photo["wall_pixels"])
        assert sum(int(r["window_pixels"]) for r in mine) == int(photo["window_pixels"])
        blds = [r for r in buildings if r["file_name"] == name]
        assert sum(int(r["pixel_area"]) for r in blds) == int(photo["wall_pixels"]) + int(photo["roof_pixels"])
        for b in blds:
            walls = [r for r in mine if r["footprint_id"] == b["footprint_id"]]
            assert int(b["wall_pixels"]) == sum(int(r["wall_pixels"]) for r in walls)
            assert int(b["window_pixels"]) == sum(int(r["window_pixels"]) for r in walls)
            assert int(b["pixel_area"]) == int(b["wall_pixels"]) + int(b["roof_pixels"])
            assert float(b["wall_m2"]) == pytest.approx(sum(float(r["wall_m2"]) for r in walls), rel=1e-6)
            if b["plane_wwr"]:
                assert float(b["plane_wwr"]) == pytest.approx(float(b["window_m2"]) / float(b["wall_m2"]), abs=1e-5)
        for r in mine:
            assert int(r["window_pixels"]) <= int(r["wall_pixels"])
            assert r["party_wall"] == "0" or int(r["window_pixels"]) == 0


def test_ring_orientation_does_not_change_walls(city_dir: Path) -> None:
    ring = np.array([[0.0, 0.0], [12.0, 3.0], [10.0, 11.0], [4.0, 13.0], [-1.0, 7.0]])
    ccw, cw = ring_edges(ring), ring_edges(np.vstack([ring[:1], ring[:0:-1]]))
    assert [e.azimuth for e in ccw] == pytest.approx([e.azimuth for e in cw])
    assert sorted(e.azimuth for e in ring_edges(ring[::-1])) == pytest.approx(sorted(e.azimuth for e in ccw))
    assert ccw[0].azimuth == pytest.approx(math.degrees(math.atan2(3.0, -12.0)) % 360)  # normal (dy, -dx)
    # The GeoJSON rings, read back in either orientation, give truth_walls' walls in order.
    frame = LocalFrame(35.63, 139.74)
    azimuths = defaultdict(list)
    for w in _rows(city_dir / "truth_walls.csv"):
        azimuths[w["footprint_id"]].append(float(w["azimuth"]))
    for feature in json.loads((city_dir / "footprints.geojson").read_text())["features"]:
        lon, lat = np.array(feature["geometry"]["coordinates"][0]).T
        east, north = frame.to_local(lon, lat)
        edges = ring_edges(np.stack([east, north], axis=1))
        got = [e.azimuth for e in edges]
        assert got == pytest.approx(azimuths[feature["properties"]["id"]], abs=0.01)


# --------------------------------------------------------------------------- bad input


def test_replaces_an_earlier_city_but_refuses_other_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c"
    base = [
        "demo-city",
        str(out),
        "--blocks",
        "1",
        "--train",
        "1",
        "--val",
        "0",
        "--photos",
        "0",
        "--size",
        "128x96",
        "--quiet",
    ]
    assert main(base) == 0
    (out / "stale.txt").write_text("left from before")
    assert main(base) == 0
    assert not (out / "stale.txt").exists() and len(list((out / "train").glob("*.jpg"))) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c"]  # no temporary folder left beside it
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    capsys.readouterr()
    assert main(["demo-city", str(other), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "holds no demo city" in err and len(err.strip().splitlines()) == 1
    assert (other / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--origin", "abc", "LAT,LON"),
        ("--origin", "95,10", "latitude"),
        ("--origin", "1,2,3", "LAT,LON"),
        ("--size", "320", "WIDTHxHEIGHT"),
        ("--size", "10x10", "from 96"),
        ("--size", "axb", "WIDTHxHEIGHT"),
        ("--pose-noise", "-1,5", "negative"),
        ("--pose-noise", "3", "METRES,DEGREES"),
        ("--pose-noise", "nan,1", "finite"),
        ("--blocks", "0", "city blocks"),
        ("--train", "-1", "count"),
    ],
)
def test_bad_options_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    assert main(["demo-city", str(tmp_path / "c"), f"{option}={value}", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("facade-wwr demo-city: error:") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "c").exists()
