"""The ``geo.*`` settings of linking photos to footprints: defaults, meanings and checks, in one place.

Every field of :class:`GeoSettings` is also an option of ``facade-wwr link`` (``id_column`` is
``--id-column``), and the workflow config has the same names under ``geo:`` (``workflow/rules/common.smk``
checks them with :meth:`GeoSettings.check`; a test keeps the schema's defaults equal to these).
The README's table of ``link`` options is written from these docstrings' words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from facade_wwr.errors import UserError

#: Where the workflow writes the link table (the command itself takes ``--out``).
DEFAULT_LINKS_PATH = "results/links.parquet"


def _setting(default, help: str, unit: str = "", low: float | None = None, high: float | None = None):
    return field(default=default, metadata={"help": help, "unit": unit, "low": low, "high": high})


@dataclass(frozen=True)
class GeoSettings:
    """Defaults of pose linking; numbers in metres and degrees."""

    id_column: str = _setting("id", "footprint attribute holding the building ID")
    height_column: str = _setting("height", "footprint attribute holding the height (metres to the top)")
    default_height: float = _setting(10.0, "height of a footprint whose height is missing", "m", 0.5, 1000.0)
    max_distance: float = _setting(150.0, "footprints farther from the camera are not rendered", "m", 5.0, 5000.0)
    gps_error: float = _setting(
        8.0, "the camera position is searched within this distance of the given one (0: kept)", "m", 0.0, 50.0
    )
    heading_error: float = _setting(
        15.0, "the heading is searched within this angle of the given one", "deg", 0.0, 45.0
    )
    hfov: float = _setting(60.0, "horizontal field of view where the pose source gives none", "deg", 20.0, 120.0)
    hfov_min: float = _setting(50.0, "smallest hfov searched where the pose source gives none", "deg", 20.0, 120.0)
    hfov_max: float = _setting(90.0, "largest hfov searched where the pose source gives none", "deg", 20.0, 120.0)
    camera_height: float = _setting(
        2.0, "camera height above the ground where the pose source gives none", "m", 0.1, 300.0
    )
    max_camera_height: float = _setting(
        25.0, "highest camera searched where the pose source gives no height", "m", 0.5, 300.0
    )
    pitch: float = _setting(0.0, "pitch (up positive) where the pose source gives none", "deg", -45.0, 45.0)
    pitch_error: float = _setting(
        12.0, "the pitch is searched within this angle of geo.pitch where the pose source gives none", "deg", 0.0, 30.0
    )
    declination: float | None = _setting(
        None, "magnetic declination (east positive) turning magnetic EXIF headings true", "deg", -90.0, 90.0
    )
    min_alignment: float = _setting(
        0.3, "a photo whose best agreement (mean IoU of its buildings) stays below this is not linked", "", 0.0, 1.0
    )
    min_link_share: float = _setting(
        0.7, "a building covering its best footprint with a smaller share of its pixels is not linked", "", 0.0, 1.0
    )
    max_view_angle: float = _setting(
        75.0, "walls seen farther than this from their normal are flagged edge_on", "deg", 0.0, 90.0
    )
    merge_angle: float = _setting(
        10.0, "ring corners turning less than this are merged into one wall", "deg", 0.0, 45.0
    )
    merge_distance: float = _setting(
        0.5, "ring corners within this distance of the line past them are merged into one wall", "m", 0.0, 5.0
    )

    def check(self) -> GeoSettings:
        """Every number finite and within its range, the hfov search range in order; a UserError otherwise."""
        for f in fields(self):
            value = getattr(self, f.name)
            low, high = f.metadata["low"], f.metadata["high"]
            if low is None or value is None:
                continue
            if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
                unit = f" {f.metadata['unit']}" if f.metadata["unit"] else ""
                raise UserError(f"geo.{f.name} {value!r}: give a number from {low:g} to {high:g}{unit}")
        if self.hfov_min > self.hfov_max:
            raise UserError(f"geo.hfov_min {self.hfov_min:g} is above geo.hfov_max {self.hfov_max:g}")
        if self.camera_height > self.max_camera_height:
            raise UserError(
                f"geo.camera_height {self.camera_height:g} is above geo.max_camera_height {self.max_camera_height:g}"
            )
        for name in ("id_column", "height_column"):
            if not str(getattr(self, name)).strip():
                raise UserError(f"geo.{name}: give a column name")
        return self


def option_name(name: str) -> str:
    """``--id-column`` for ``id_column``."""
    return "--" + name.replace("_", "-")
