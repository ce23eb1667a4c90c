"""Camera poses from tables, Mapillary API v4 entities and EXIF: the first source that has a photo wins."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from facade_wwr.camera import hfov_from_f35
from facade_wwr.errors import UserError, Warnings
from facade_wwr.exif import GPS_IFD, GPS_IMG_DIRECTION_REF, pose_exif
from facade_wwr.poses import NotPinhole, PoseSources, read_table


def _photo(folder: Path, name: str, exif: Image.Exif | None = None, size: tuple[int, int] = (64, 48)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    Image.new("RGB", size, (90, 90, 90)).save(path, format="JPEG", **({"exif": exif} if exif is not None else {}))
    return path


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _sources(names: list[str], photos: Path | None = None, declination: float | None = None) -> PoseSources:
    return PoseSources.of(names, str(photos) if photos else None, declination, Warnings(quiet=True))


# --------------------------------------------------------------------------- tables


def test_csv_and_parquet_tables(tmp_path: Path) -> None:
    text = (
        "file_name,lat,lon,heading,pitch,hfov,camera_height,other\n"
        "a.jpg,35.6,139.7,-10,2.5,,1.6,x\nb.jpg,35.7,139.8,10,,,,\n"
    )
    csv = _csv(tmp_path / "poses.csv", text)
    pd.read_csv(csv).to_parquet(tmp_path / "poses.parquet")
    for path in (csv, tmp_path / "poses.parquet"):
        poses = _sources([str(path)])
        a, _ = poses.pose("a.jpg", 100, 80)
        assert (a.lat, a.lon, a.heading, a.pitch, a.hfov, a.camera_height) == (35.6, 139.7, 350.0, 2.5, None, 1.6)
        assert a.source == path.name
        b, _ = poses.pose("b.jpg", 100, 80)
        assert (b.pitch, b.hfov, b.camera_height) == (None, None, None)
        none, why = poses.pose("c.jpg", 100, 80)
        assert none is None and why == f"{path.name}: not listed"


def test_table_messages(tmp_path: Path) -> None:
    def message(text: str) -> str:
        with pytest.raises(UserError) as e:
            read_table(str(_csv(tmp_path / "t.csv", text)), Warnings(quiet=True))
        return str(e.value)

    t = tmp_path / "t.csv"
    assert message("file_name,lat,lon\na.jpg,1,2\n") == (
        f"{t}: pose table without column(s) heading (needs file_name, lat, lon, heading; "
        "optional pitch, hfov, camera_height)"
    )
    assert message("file_name,lat,lon,heading\na.jpg,north,2,3\n") == f"{t}: row 0: lat 'north' is not a number"
    assert message("file_name,lat,lon,heading\na.jpg,1,2,3\nb.jpg,91,2,3\n") == (
        f"{t}: row 1: lat 91.0 is not a number from -90 to 90"
    )
    assert (
        message("file_name,lat,lon,heading,hfov\na.jpg,1,2,3,0\n")
        == f"{t}: row 0: hfov 0.0 is not a number from 1 to 179"
    )
    assert (
        message("file_name,lat,lon,heading\na.jpg,1,2,3\na.jpg,1,2,3\n")
        == f"{t}: row 1: a.jpg already has a pose in row 0"
    )
    assert message("file_name,lat,lon,heading\n,1,2,3\n") == f"{t}: row 0: file_name is empty"
    assert (
        message("file_name,lat,lon,heading\na.jpg,nan,2,3\n") == f"{t}: row 0: lat nan is not a number from -90 to 90"
    )
    w = Warnings(quiet=True)
    poses = read_table(str(_csv(t, "file_name,lat,lon,heading\na.jpg,,2,3\nb.jpg,1,2,3\n")), w)
    assert list(poses) == ["b.jpg"]
    assert w.messages == [f"{t}: 1 photos with an empty lat, lon or heading, no pose from here (a.jpg)"]
    with pytest.raises(UserError, match="pose table not found"):
        read_table(str(tmp_path / "missing.csv"), Warnings(quiet=True))


# --------------------------------------------------------------------------- Mapillary


def _entity(**extra) -> dict:
    return {"id": "123", "geometry": {"type": "Point", "coordinates": [139.7, 35.6]}, "compass_angle": 90.0} | extra


def test_mapillary_entities(tmp_path: Path) -> None:
    paged = tmp_path / "page.json"
    paged.write_text(
        json.dumps(
            {
                "data": [
                    _entity(
                        computed_geometry={"type": "Point", "coordinates": [139.71, 35.61]},
                        computed_compass_angle=95.5,
                        camera_parameters=[0.8, -0.1, 0.02],
                        camera_type="perspective",
                    )
                ]
            }
        )
    )
    pose, _ = _sources([str(paged)]).pose("123.jpg", 2048, 1536)
    assert (pose.lat, pose.lon, pose.heading) == (35.61, 139.71, 95.5)
    assert pose.hfov == pytest.approx(math.degrees(2 * math.atan(2048 / (2 * 0.8 * 2048))))
    portrait, _ = _sources([str(paged)]).pose("123.jpg", 1152, 2048)  # focal is a share of the larger side
    assert portrait.hfov == pytest.approx(math.degrees(2 * math.atan(1152 / (2 * 0.8 * 2048))))
    plain = tmp_path / "list.json"
    plain.write_text(json.dumps([_entity()]))
    pose, _ = _sources([str(plain)]).pose("123.jpg", 100, 80)
    assert (pose.lat, pose.lon, pose.heading, pose.hfov) == (35.6, 139.7, 90.0, None)
    assert _sources([str(plain)]).pose("124.jpg", 100, 80) == (None, "list.json: not listed")


@pytest.mark.parametrize("kind", ["spherical", "equirectangular", "fisheye"])
def test_mapillary_non_pinhole_photos_are_skipped(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps([_entity(camera_type=kind)]))
    with pytest.raises(NotPinhole, match=f"image 123 \\(entry 0\\): camera_type {kind} is no pinhole camera"):
        _sources([str(path)]).pose("123.jpg", 100, 80)


def test_mapillary_messages(tmp_path: Path) -> None:
    path = tmp_path / "m.json"

    def message(data) -> str:
        path.write_text(json.dumps(data))
        with pytest.raises(UserError) as e:
            _sources([str(path)]).pose("123.jpg", 100, 80)
        return str(e.value)

    assert message({"images": []}) == f'{path}: not Mapillary image entities (expected a list, or {{"data": [...]}})'
    assert message([{"geometry": None}]) == f"{path}: entry 0: not a Mapillary image entity (no 'id')"
    assert message([_entity(), _entity()]) == f"{path}: entry 1: image 123 already given in entry 0"
    assert message([_entity(geometry={"type": "Point"})]).endswith("is not a GeoJSON point with coordinates [lon, lat]")
    assert (
        message([_entity(compass_angle="east")]) == f"{path}: image 123 (entry 0): compass angle 'east' is not a number"
    )
    assert message([_entity(camera_parameters=[0])]).endswith(
        "camera_parameters [0]: the first is no positive focal length"
    )
    path.write_text(json.dumps([{"id": "123"}]))
    assert _sources([str(path)]).pose("123.jpg", 100, 80) == (None, "m.json: no geometry or compass angle")


# --------------------------------------------------------------------------- EXIF and the order of sources


def test_exif_pose_and_focal_length(tmp_path: Path) -> None:
    _photo(tmp_path, "a.jpg", pose_exif(35.6, 139.7, 123.4, f35=28), (640, 480))
    _photo(tmp_path, "b.jpg", pose_exif(-33.9, -70.6, 359.9))
    _photo(tmp_path, "c.jpg")
    poses = _sources(["exif"], tmp_path)
    a, _ = poses.pose("a.jpg", 640, 480)
    assert (round(a.lat, 9), round(a.lon, 9), a.heading, a.source) == (35.6, 139.7, 123.4, "exif")
    assert a.hfov == pytest.approx(hfov_from_f35(28, 640, 480))
    b, _ = poses.pose("b.jpg", 64, 48)
    assert b.lat < 0 and b.lon < 0 and b.hfov is None
    assert poses.pose("c.jpg", 64, 48) == (None, "exif: no GPS position in its EXIF")
    with pytest.raises(UserError, match="photo not found"):
        poses.pose("d.jpg", 64, 48)


def _magnetic(folder: Path) -> None:
    exif = pose_exif(35.6, 139.7, 100.0)
    gps = dict(exif[GPS_IFD])
    gps[GPS_IMG_DIRECTION_REF] = "M"
    exif[GPS_IFD] = gps
    _photo(folder, "m.jpg", exif)


def test_magnetic_heading_needs_a_declination(tmp_path: Path) -> None:
    _magnetic(tmp_path)
    with pytest.raises(UserError) as e:
        _sources(["exif"], tmp_path).pose("m.jpg", 64, 48)
    assert str(e.value) == (
        f"{tmp_path / 'm.jpg'}: the EXIF heading is magnetic (GPSImgDirectionRef M); give the magnetic declination "
        "there with --declination DEGREES (east positive)"
    )
    pose, _ = _sources(["exif"], tmp_path, declination=-7.5).pose("m.jpg", 64, 48)
    assert pose.heading == pytest.approx(92.5)


def test_first_source_with_the_photo_wins(tmp_path: Path) -> None:
    _photo(tmp_path, "a.jpg", pose_exif(35.6, 139.7, 10.0))
    _photo(tmp_path, "b.jpg")
    table = _csv(tmp_path / "p.csv", "file_name,lat,lon,heading\nb.jpg,1,2,3\na.jpg,4,5,6\n")
    first_exif = _sources(["exif", str(table)], tmp_path)
    assert first_exif.pose("a.jpg", 64, 48)[0].heading == 10.0
    assert first_exif.pose("b.jpg", 64, 48)[0].heading == 3.0  # no GPS in b's EXIF: the table's
    assert _sources([str(table), "exif"], tmp_path).pose("a.jpg", 64, 48)[0].heading == 6.0
    both_missing = _sources(["exif", str(table)], tmp_path)
    _photo(tmp_path, "c.jpg")
    assert both_missing.pose("c.jpg", 64, 48) == (None, "exif: no GPS position in its EXIF; p.csv: not listed")


def test_source_messages(tmp_path: Path) -> None:
    with pytest.raises(UserError) as e:
        _sources(["exif"])
    assert str(e.value) == "--poses exif reads each photo's EXIF: give the photo folder with --photos DIR"
    with pytest.raises(UserError) as e:
        _sources([str(tmp_path / "poses.txt")])
    assert str(e.value) == (
        f"--poses {tmp_path / 'poses.txt'}: unknown kind of pose source (give exif, a .csv or .parquet table, "
        "or a Mapillary .json file)"
    )


def test_exif_heading_as_written_by_other_tools(tmp_path: Path) -> None:
    """A rational heading with another denominator, and no GPSImgDirectionRef at all, reads as true north."""
    exif = pose_exif(35.6, 139.7, 0.0)
    gps = dict(exif[GPS_IFD])
    gps[0x11] = IFDRational(2683, 10)
    del gps[GPS_IMG_DIRECTION_REF]
    exif[GPS_IFD] = gps
    _photo(tmp_path, "x.jpg", exif)
    assert _sources(["exif"], tmp_path).pose("x.jpg", 64, 48)[0].heading == pytest.approx(268.3)


@pytest.mark.realdata
def test_every_real_val_photo_has_an_exif_pose(real_data: Path) -> None:
    photos = sorted((real_data / "val").glob("*.jpg"))
    assert len(photos) == 49
    poses = _sources(["exif"], real_data / "val")
    for photo in photos:
        with Image.open(photo) as im:
            size = im.size
        pose, why = poses.pose(photo.name, *size)
        assert pose is not None, f"{photo.name}: {why}"
        assert 35.5 < pose.lat < 35.7 and 139.6 < pose.lon < 139.8 and 0 <= pose.heading < 360
        assert np.isfinite([pose.lat, pose.lon, pose.heading]).all()


def test_unreadable_table_and_unknown_direction_ref(tmp_path: Path) -> None:
    broken = tmp_path / "poses.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(UserError, match=f"^{broken}: cannot read the pose table \\("):
        read_table(str(broken), Warnings(quiet=True))
    exif = pose_exif(35.6, 139.7, 10.0)
    gps = dict(exif[GPS_IFD])
    gps[GPS_IMG_DIRECTION_REF] = "X"
    exif[GPS_IFD] = gps
    _photo(tmp_path, "x.jpg", exif)
    with pytest.raises(UserError) as e:
        _sources(["exif"], tmp_path).pose("x.jpg", 64, 48)
    assert str(e.value) == f"{tmp_path / 'x.jpg'}: unknown GPSImgDirectionRef 'X' (expected T or M)"
