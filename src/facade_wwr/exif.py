"""Camera pose in JPEG EXIF, written and read the way Mapillary photos carry it.

Tags (GPS IFD 0x8825): GPSVersionID 2.3.0.0, GPSLatitudeRef ``N``/``S`` and GPSLatitude, GPSLongitudeRef
``E``/``W`` and GPSLongitude (each as degrees, minutes, seconds rationals), GPSImgDirectionRef ``T`` (true
north; ``M`` would be magnetic) and GPSImgDirection (degrees clockwise, a rational in thousandths). Optional,
in the Exif IFD 0x8769: FocalLengthIn35mmFilm (an integer, millimetres; diagonal-equivalent, see
``facade_wwr.camera.hfov_from_f35``). No altitude: a GPS altitude is not a camera height.

Written seconds are multiples of 1e-6 arc seconds (3e-10 degrees), headings of 0.001 degrees.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from PIL import Image, UnidentifiedImageError
from PIL.TiffImagePlugin import IFDRational

from facade_wwr.errors import UserError

GPS_IFD = 0x8825
EXIF_IFD = 0x8769
GPS_VERSION_ID = 0x0000
GPS_LATITUDE_REF = 0x0001
GPS_LATITUDE = 0x0002
GPS_LONGITUDE_REF = 0x0003
GPS_LONGITUDE = 0x0004
GPS_IMG_DIRECTION_REF = 0x0010
GPS_IMG_DIRECTION = 0x0011
FOCAL_LENGTH_35MM = 0xA405
#: Denominators of the written seconds and heading.
SECONDS_SCALE = 1_000_000
HEADING_SCALE = 1000


class ExifPose(NamedTuple):
    """A photo's pose as its EXIF states it; ``heading``/``heading_ref``/``f35`` are None where absent."""

    lat: float
    lon: float
    heading: float | None
    heading_ref: str | None
    f35: int | None


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Degrees, minutes and seconds of ``|value|`` degrees (integer arithmetic: no 60-second carry slips)."""
    micro = round(abs(value) * 3600 * SECONDS_SCALE)
    degrees, rest = divmod(micro, 3600 * SECONDS_SCALE)
    minutes, seconds = divmod(rest, 60 * SECONDS_SCALE)
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(seconds, SECONDS_SCALE)


def pose_exif(lat: float, lon: float, heading: float, f35: int | None = None) -> Image.Exif:
    """EXIF with the GPS position, true heading and, if given, FocalLengthIn35mmFilm; for ``Image.save(exif=)``."""
    exif = Image.Exif()
    direction = round((heading % 360.0) * HEADING_SCALE) % (360 * HEADING_SCALE)
    exif[GPS_IFD] = {
        GPS_VERSION_ID: b"\x02\x03\x00\x00",
        GPS_LATITUDE_REF: "N" if lat >= 0 else "S",
        GPS_LATITUDE: _dms(lat),
        GPS_LONGITUDE_REF: "E" if lon >= 0 else "W",
        GPS_LONGITUDE: _dms(lon),
        GPS_IMG_DIRECTION_REF: "T",
        GPS_IMG_DIRECTION: IFDRational(direction, HEADING_SCALE),
    }
    if f35 is not None:
        exif[EXIF_IFD] = {FOCAL_LENGTH_35MM: int(f35)}
    return exif


def _degrees(value: object) -> float:
    """Degrees from EXIF (degrees, minutes, seconds) rationals; fewer parts are read as leading ones."""
    parts = value if isinstance(value, tuple) else (value,)
    return sum(float(p) / 60.0**i for i, p in enumerate(parts[:3]))  # type: ignore[arg-type]


def read_pose(path: str | os.PathLike[str]) -> ExifPose | None:
    """The EXIF pose of a JPEG, or None if it has no GPS latitude and longitude.

    South and west are negative. A file that cannot be read as an image is a one-line UserError.
    """
    try:
        with Image.open(path) as image:
            exif = image.getexif()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError) as e:
        raise UserError(f"{path}: cannot read the photo ({e})") from None
    gps = exif.get_ifd(GPS_IFD)
    if GPS_LATITUDE not in gps or GPS_LONGITUDE not in gps:
        return None
    try:
        lat = _degrees(gps[GPS_LATITUDE]) * (-1.0 if str(gps.get(GPS_LATITUDE_REF, "N")).upper() == "S" else 1.0)
        lon = _degrees(gps[GPS_LONGITUDE]) * (-1.0 if str(gps.get(GPS_LONGITUDE_REF, "E")).upper() == "W" else 1.0)
        heading = float(gps[GPS_IMG_DIRECTION]) if GPS_IMG_DIRECTION in gps else None
    except (TypeError, ValueError, ZeroDivisionError) as e:
        raise UserError(f"{path}: unreadable EXIF GPS position or direction ({e})") from None
    raw_ref = gps.get(GPS_IMG_DIRECTION_REF)
    ref = (str(raw_ref).strip("\x00 ").upper() or None) if raw_ref is not None else None
    f35 = exif.get_ifd(EXIF_IFD).get(FOCAL_LENGTH_35MM)
    f35 = int(f35) if isinstance(f35, int) and f35 > 0 else None  # 0 means "unknown" in EXIF
    return ExifPose(lat, lon, heading, ref, f35)
