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
