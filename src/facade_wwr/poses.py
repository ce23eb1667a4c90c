"""Camera poses of photos from several sources; for each photo the first source that has it wins.

Sources (``facade-wwr link --poses``, repeatable, default ``exif``):

* a **table**, CSV or Parquet: ``file_name, lat, lon, heading`` and optionally ``pitch, hfov,
  camera_height`` (empty cells are unknown; other columns are ignored); matched by ``file_name``;
* **Mapillary API v4 image entities** in JSON (a list, or ``{"data": [...]}`` as the API pages them),
  matched by ``id`` = photo stem: ``computed_geometry`` before ``geometry`` (GeoJSON points),
  ``computed_compass_angle`` before ``compass_angle``, ``camera_parameters[0]`` the focal length as a
  fraction of the larger image side; a ``camera_type`` of ``spherical``, ``equirectangular`` or
  ``fisheye`` is no pinhole camera: the photo is skipped with a warning;
* **exif**: the photo's GPS position and GPSImgDirection (``facade_wwr.exif``); FocalLengthIn35mmFilm gives
  the hfov. A magnetic heading (Ref ``M``) is turned true with ``geo.declination``, or refused.

Headings are degrees clockwise from true north, pitch degrees up, hfov degrees; values a source does not
give stay None here and take the ``geo.*`` defaults when linking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from facade_wwr.camera import hfov_from_f35
from facade_wwr.errors import UserError, Warnings, first_line

EXIF = "exif"
TABLE_SUFFIXES = (".csv", ".parquet")
REQUIRED = ("file_name", "lat", "lon", "heading")
OPTIONAL = ("pitch", "hfov", "camera_height")
#: Mapillary camera types that are no pinhole camera.
NOT_PINHOLE = ("spherical", "equirectangular", "fisheye")


@dataclass(frozen=True)
class Pose:
    """A photo's pose as a source states it; None where the source says nothing."""

    lat: float
    lon: float
    heading: float
    pitch: float | None = None
    hfov: float | None = None
    camera_height: float | None = None
    source: str = ""


def _check(where: str, name: str, value: float, low: float, high: float) -> float:
    if not (math.isfinite(value) and low <= value <= high):
        raise UserError(f"{where}: {name} {value!r} is not a number from {low:g} to {high:g}")
    return value


def checked_pose(where: str, lat, lon, heading, pitch=None, hfov=None, camera_height=None, source="") -> Pose:
    """A Pose with every value checked (a one-line UserError naming ``where`` otherwise); heading in [0, 360)."""
    _check(where, "lat", lat, -90.0, 90.0)
    _check(where, "lon", lon, -180.0, 180.0)
    _check(where, "heading", heading, -360.0, 360.0)
    if pitch is not None:
        _check(where, "pitch", pitch, -90.0, 90.0)
    if hfov is not None:
        _check(where, "hfov", hfov, 1.0, 179.0)
    if camera_height is not None:
        _check(where, "camera_height", camera_height, 0.01, 10000.0)
    return Pose(float(lat), float(lon), float(heading) % 360.0, pitch, hfov, camera_height, source)


# --------------------------------------------------------------------------- tables


def _number(path: str, row: int, column: str, text: Any) -> float | None:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    if isinstance(text, str):
        if not text.strip():
            return None
        try:
            return float(text)
        except ValueError:
            raise UserError(f"{path}: row {row}: {column} {text!r} is not a number") from None
    try:
        return float(text)
    except (TypeError, ValueError):
        raise UserError(f"{path}: row {row}: {column} {text!r} is not a number") from None


def read_table(path: str, warnings: Warnings) -> dict[str, Pose]:
    """Poses of a CSV or Parquet table by ``file_name``. A row with an empty lat, lon or heading gives no pose
    (warned: the next source may have it); a value that is no number or out of range is an error naming the
    row (rows count from 0, the header not counted); a file name twice is an error."""
    try:
        if path.lower().endswith(".parquet"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: pose table not found") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise UserError(f"{path}: cannot read the pose table ({first_line(e)})") from None
    except Exception as e:  # pyarrow's own errors
        raise UserError(f"{path}: cannot read the pose table ({first_line(e)})") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise UserError(
            f"{path}: pose table without column(s) {', '.join(missing)} "
            f"(needs {', '.join(REQUIRED)}; optional {', '.join(OPTIONAL)})"
        )
    poses: dict[str, Pose] = {}
    first: dict[str, int] = {}
    empty: list[str] = []
    for row, record in enumerate(df.to_dict("records")):
        name = str(record["file_name"]).strip()
        if not name:
            raise UserError(f"{path}: row {row}: file_name is empty")
        if name in first:
            raise UserError(f"{path}: row {row}: {name} already has a pose in row {first[name]}")
        first[name] = row
        values = {c: _number(path, row, c, record.get(c)) for c in (*REQUIRED[1:], *OPTIONAL) if c in record}
        if any(values.get(c) is None for c in REQUIRED[1:]):
            empty.append(name)
            continue
        poses[name] = checked_pose(f"{path}: row {row}", **values, source=Path(path).name)
    if empty:
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        warnings.warn(f"{path}: {len(empty)} photos with an empty lat, lon or heading, no pose from here ({shown})")
    return poses


# --------------------------------------------------------------------------- Mapillary


class NotPinhole(Exception):
    """A photo that is no pinhole camera's (a Mapillary spherical, equirectangular or fisheye image)."""


@dataclass(frozen=True)
class MapillaryEntry:
    """A Mapillary image entity, kept until the photo's size is known (the focal length is relative)."""

    index: int
    entity: dict


def read_mapillary(path: str) -> dict[str, MapillaryEntry]:
    """Image entities by ``id`` from a Mapillary API v4 JSON file (a list, or ``{"data": [...]}``)."""
    from facade_wwr.fileio import read_json

    data = read_json(path)
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise UserError(f'{path}: not Mapillary image entities (expected a list, or {{"data": [...]}})')
    out: dict[str, MapillaryEntry] = {}
    for k, entity in enumerate(data):
        if not isinstance(entity, dict) or "id" not in entity:
            raise UserError(f"{path}: entry {k}: not a Mapillary image entity (no 'id')")
        key = str(entity["id"])
        if key in out:
            raise UserError(f"{path}: entry {k}: image {key} already given in entry {out[key].index}")
        out[key] = MapillaryEntry(k, entity)
    return out


def _point(where: str, value: Any) -> tuple[float, float] | None:
    """``(lat, lon)`` of a GeoJSON point, None if absent."""
    if value is None:
        return None
    coords = value.get("coordinates") if isinstance(value, dict) else None
    if not (
        isinstance(coords, list)
        and len(coords) >= 2
        and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coords[:2])
    ):
        raise UserError(f"{where}: geometry {value!r} is not a GeoJSON point with coordinates [lon, lat]")
    return float(coords[1]), float(coords[0])


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def mapillary_pose(path: str, entry: MapillaryEntry, width: int, height: int) -> tuple[Pose | None, str]:
    """The pose of one entity for a ``width`` x ``height`` photo, or None and why; raises NotPinhole for a
    spherical, equirectangular or fisheye image."""
    e = entry.entity
    where = f"{path}: image {e['id']} (entry {entry.index})"
    kind = str(e.get("camera_type") or "perspective").lower()
    if kind in NOT_PINHOLE:
        raise NotPinhole(f"{where}: camera_type {kind} is no pinhole camera")
    position = _point(where, e.get("computed_geometry")) or _point(where, e.get("geometry"))
    heading = e.get("computed_compass_angle")
    if heading is None:
        heading = e.get("compass_angle")
    if position is None or heading is None:
        return None, "no geometry or compass angle"
    if not _finite_number(heading):
        raise UserError(f"{where}: compass angle {heading!r} is not a number")
    hfov = None
    params = e.get("camera_parameters")
    if params is not None:
        focal = params[0] if isinstance(params, list) and params else None
        if not (_finite_number(focal) and focal > 0):
            raise UserError(f"{where}: camera_parameters {params!r}: the first is no positive focal length")
        hfov = math.degrees(2.0 * math.atan(width / (2.0 * focal * max(width, height))))
    return checked_pose(where, position[0], position[1], float(heading), hfov=hfov, source=Path(path).name), ""


# --------------------------------------------------------------------------- EXIF


def exif_pose(photo: Path, width: int, height: int, declination: float | None) -> tuple[Pose | None, str]:
    """The EXIF pose of a photo, or None and why (no GPS, no GPSImgDirection). A magnetic heading is turned
    true by ``declination`` (east positive), and is an error without it."""
    from facade_wwr.exif import read_pose

    pose = read_pose(photo)
    if pose is None:
        return None, "no GPS position in its EXIF"
    if pose.heading is None:
        return None, "EXIF GPS position without GPSImgDirection"
    heading = pose.heading
    if pose.heading_ref == "M":
        if declination is None:
            raise UserError(
                f"{photo}: the EXIF heading is magnetic (GPSImgDirectionRef M); give the magnetic declination "
                "there with --declination DEGREES (east positive)"
            )
        heading += declination
    elif pose.heading_ref not in (None, "T"):
        raise UserError(f"{photo}: unknown GPSImgDirectionRef {pose.heading_ref!r} (expected T or M)")
    hfov = hfov_from_f35(pose.f35, width, height) if pose.f35 else None
    return checked_pose(f"{photo}: EXIF", pose.lat, pose.lon, heading, hfov=hfov, source=EXIF), ""


# --------------------------------------------------------------------------- sources in order


@dataclass
class PoseSources:
    """The ``--poses`` sources in order, each read once."""

    names: list[str]
    tables: dict[str, dict[str, Pose]]
    mapillary: dict[str, dict[str, MapillaryEntry]]
    photos: str | None
    declination: float | None

    @classmethod
    def of(cls, names: list[str], photos: str | None, declination: float | None, warnings: Warnings) -> PoseSources:
        tables: dict[str, dict[str, Pose]] = {}
        mapillary: dict[str, dict[str, MapillaryEntry]] = {}
        for name in names:
            if name == EXIF:
                if photos is None:
                    raise UserError("--poses exif reads each photo's EXIF: give the photo folder with --photos DIR")
                continue
            suffix = Path(name).suffix.lower()
            if suffix in TABLE_SUFFIXES:
                tables[name] = read_table(name, warnings)
            elif suffix == ".json":
                mapillary[name] = read_mapillary(name)
            else:
                raise UserError(
                    f"--poses {name}: unknown kind of pose source (give exif, a .csv or .parquet table, or a "
                    "Mapillary .json file)"
                )
        return cls(list(names), tables, mapillary, photos, declination)

    def pose(self, image: str, width: int, height: int) -> tuple[Pose | None, str]:
        """The pose of photo ``image`` (its plain file name) from the first source that has one, or None and
        why each source had none. Raises NotPinhole where a source says the photo is no pinhole camera's."""
        from facade_wwr.images import safe_image_path

        reasons = []
        for name in self.names:
            if name == EXIF:
                assert self.photos is not None
                photo = safe_image_path(self.photos, image, f"--photos {self.photos}")
                if not photo.is_file():
                    raise UserError(f"{photo}: photo not found (its EXIF pose is needed)")
                pose, why = exif_pose(photo, width, height, self.declination)
            elif name in self.tables:
                pose = self.tables[name].get(image)
                why = "not listed"
            else:
                entry = self.mapillary[name].get(Path(image).stem)
                pose, why = mapillary_pose(name, entry, width, height) if entry else (None, "not listed")
            if pose is not None:
                return pose, ""
            reasons.append(f"{Path(name).name if name != EXIF else EXIF}: {why}")
        return None, "; ".join(reasons)
