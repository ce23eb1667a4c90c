"""Input files as editors leave them: a UTF-8 byte-order mark, duplicate regions, odd coordinate values and
duplicate JSON keys in VIA files; a byte-order mark in a photo list."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest
from PIL import Image

from facade_wwr import via
from facade_wwr.cli import main
from facade_wwr.errors import Warnings
from facade_wwr.inference import read_photo_list

W, H = 64, 48


def photo(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (W, H), (120, 130, 140)).save(folder / name)
    return folder / name


def poly(xs, ys, cls) -> dict:
    return {
        "shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
        "region_attributes": {"class": cls},
    }


WINDOW = poly([10, 20, 20, 10], [10, 10, 20, 20], {"window": True})
BUILDING = poly([2, 60, 60, 2], [2, 2, 46, 46], {"building": True})


def export_text(entries: dict[str, list]) -> str:
    data = {}
    for name, regions in entries.items():
        data[f"{name}123"] = {"filename": name, "size": 123, "regions": regions, "file_attributes": {}}
    return json.dumps(data)


def convert(tmp_path: Path, via_path: Path, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "out" / "coco.json"
    rc = main(["via2coco", "--via", str(via_path), "--images", str(tmp_path), "--out", str(out), *extra])
    return rc, out


# ------------------------------------------------------------------------------------------ byte-order mark


def test_via_file_with_a_byte_order_mark_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """VIA never writes a BOM, but editors (Notepad) do: it was refused as malformed JSON."""
    photo(tmp_path, "a.jpg")
    path = tmp_path / "via.json"
    path.write_bytes(codecs.BOM_UTF8 + export_text({"a.jpg": [WINDOW, BUILDING]}).encode("utf-8"))
    assert [len(i.polygons) for i in via.read_via(path).images] == [2]
    rc, out = convert(tmp_path, path, "--strict")
    assert rc == 0, capsys.readouterr().err
    assert len(json.loads(out.read_text())["annotations"]) == 2


def test_photo_list_with_a_byte_order_mark(tmp_path: Path) -> None:
    """The BOM was kept as part of the first photo's name, which was then not found."""
    path = tmp_path / "photos.txt"
    path.write_bytes(codecs.BOM_UTF8 + "a.jpg\r\n# comment\nsub/café.jpg\n".encode())
    assert read_photo_list(path) == ["a.jpg", "sub/café.jpg"]


# ------------------------------------------------------------------------------------- duplicate regions


def test_exact_duplicate_region_is_skipped_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same region twice in one photo's list (a paste, a merge of two exports) doubled the annotation."""
    photo(tmp_path, "a.jpg")
    point = {"shape_attributes": {"name": "point", "cx": 30, "cy": 20}, "region_attributes": {"tagged_id": "b_1"}}
    shifted = poly([11, 20, 20, 10], [10, 10, 20, 20], {"window": True})  # one vertex moved: not a copy
    radio = poly([10, 20, 20, 10], [10, 10, 20, 20], "window")  # the same window, another attribute style
    path = tmp_path / "via.json"
    path.write_text(export_text({"a.jpg": [WINDOW, BUILDING, point, WINDOW, shifted, radio, point]}))
    rc, out = convert(tmp_path, path)
    assert rc == 0
    err = capsys.readouterr().err.strip().splitlines()
    same = "(same shape and attributes), skipped"
    assert err == [
        f"facade-wwr: warning: {path}: image a.jpg region 3: duplicate of region 0 {same}",
        f"facade-wwr: warning: {path}: image a.jpg region 6: duplicate of region 2 {same}",
    ]
    coco = json.loads(out.read_text())
    assert [a["via_region"] for a in coco["annotations"]] == [0, 1, 4, 5]
    assert [p["via_region"] for p in coco["tagged_points"]] == [2]
    summary = json.loads((out.parent / "coco.summary.json").read_text())
    assert [s["region"] for s in summary["skipped_regions"]] == [3, 6]
    assert [p.region for p in via.tagged_points(path)["a.jpg"]] == [2]  # what analyze reads
    assert "region 6: duplicate of region 2" in capsys.readouterr().err

    rc, _ = convert(tmp_path, path, "--strict")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "region 3: duplicate of region 0" in err[0] and "--strict" in err[0]


# ------------------------------------------------------------------------------ non-numeric coordinates

ODD = {"true": "true", "false": "false", "string": '"15"', "null": "null", "NaN": "NaN", "inf": "Infinity"}
ODD["huge"] = "1" + "0" * 400  # a JSON integer no float holds


@pytest.mark.parametrize("value", ODD)
@pytest.mark.parametrize("shape", ["polygon", "rect", "ellipse theta", "point"])
def test_non_numeric_coordinates_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shape: str, value: str
) -> None:
    """`true` as a coordinate was read as 1 (and "15" as 15, an ellipse's `true` theta as 1 radian, its NaN
    theta gave NaN vertices): the region is skipped with a warning naming it, an error under --strict."""
    photo(tmp_path, "a.jpg")
    shapes = {
        "polygon": {"name": "polygon", "all_points_x": [10, 20, "@", 10], "all_points_y": [10, 10, 20, 20]},
        "rect": {"name": "rect", "x": 5, "y": "@", "width": 10, "height": 8},
        "ellipse theta": {"name": "ellipse", "cx": 30, "cy": 20, "rx": 8, "ry": 4, "theta": "@"},
        "point": {"name": "point", "cx": "@", "cy": 20},
    }
    attributes = {"tagged_id": "b_1"} if shape == "point" else {"class": {"window": True}}
    region = {"shape_attributes": shapes[shape], "region_attributes": attributes}
    path = tmp_path / "via.json"
    path.write_text(export_text({"a.jpg": [BUILDING, region]}).replace('"@"', ODD[value]))
    rc, out = convert(tmp_path, path)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 0 and len(err) == 1 and f"{path}: image a.jpg region 1: " in err[0] and err[0].endswith(", skipped")
    coco = json.loads(out.read_text())
    assert [a["via_region"] for a in coco["annotations"]] == [0] and coco["tagged_points"] == []
    rc, _ = convert(tmp_path, path, "--strict")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "region 1: " in err[0]


def test_non_numeric_polygon_coordinate_is_named(tmp_path: Path) -> None:
    path = tmp_path / "via.json"
    path.write_text(export_text({"a.jpg": [poly([10, 20, 20, 10], [10, True, 20, 20], {"window": True})]}))
    (skipped,) = via.read_via(path, warnings=Warnings(quiet=True)).skipped
    assert skipped.reason == "polygon has a non-numeric all_points_y[1] (true)"
    path.write_text(export_text({"a.jpg": [poly([10, 20, "20", 10], [10, 10, 20, 20], {"window": True})]}))
    (skipped,) = via.read_via(path, warnings=Warnings(quiet=True)).skipped
    assert skipped.reason == 'polygon has a non-numeric all_points_x[2] ("20")'


def test_an_ellipse_without_theta_is_upright(tmp_path: Path) -> None:
    """theta absent (VIA before 2.0.6 wrote none) is 0, as before."""
    path = tmp_path / "via.json"
    shape = {"name": "ellipse", "cx": 30, "cy": 20, "rx": 8, "ry": 4}
    path.write_text(export_text({"a.jpg": [{"shape_attributes": shape, "region_attributes": {"class": "window"}}]}))
    (image,) = via.read_via(path, warnings=Warnings(strict=True)).images
    assert image.polygons[0].xs.max() == pytest.approx(38.0) and image.polygons[0].ys.max() == pytest.approx(24.0)


# ------------------------------------------------------------------------------------ duplicate JSON keys


@pytest.mark.parametrize(
    ("text", "key"),
    [
        # two entries under one key: the first photo's regions were lost
        (
            '{"a.jpg1": {"filename": "a.jpg", "size": 1, "regions": [{"shape_attributes": {"name": "rect", "x": 1,'
            ' "y": 1, "width": 5, "height": 5}, "region_attributes": {"class": "window"}}], "file_attributes": {}},'
            ' "a.jpg1": {"filename": "a.jpg", "size": 1, "regions": [], "file_attributes": {}}}',
            "a.jpg1",
        ),
        # a region with its shape twice: the first shape was lost
        (
            '{"a.jpg1": {"filename": "a.jpg", "size": 1, "file_attributes": {}, "regions": [{"shape_attributes":'
            ' {"name": "rect", "x": 1, "y": 1, "width": 5, "height": 5}, "shape_attributes": {"name": "rect",'
            ' "x": 9, "y": 9, "width": 5, "height": 5}, "region_attributes": {"class": "window"}}]}}',
            "shape_attributes",
        ),
        (
            '{"a.jpg1": {"filename": "a.jpg", "filename": "b.jpg", "size": 1, "regions": [], "file_attributes": {}}}',
            "filename",
        ),
    ],
    ids=["entry", "region", "field"],
)
def test_duplicate_json_keys_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    photo(tmp_path, "a.jpg")
    path = tmp_path / "via.json"
    path.write_text(text)
    rc, out = convert(tmp_path, path)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1, err
    assert f"{path}: key {key!r} appears twice in one JSON object" in err[0] and "Traceback" not in err[0]
    assert not out.exists()
