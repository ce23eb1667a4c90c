"""Geography conventions shared by the synthetic city and the pose-linking stage.

* Local frame: metres east, north, up from a centre point, by pyproj's azimuthal equidistant projection
  ``+proj=aeqd +lat_0=<lat> +lon_0=<lon>`` on WGS84, so that grid north is true north at the centre.
* Heading and azimuth: degrees clockwise from (true) north, in [0, 360).
* Rings: a footprint's exterior ring is oriented counter-clockwise first (shapely ``orient(polygon, 1.0)``,
  which keeps the start vertex); wall ``i`` is the edge from vertex ``i`` to vertex ``i + 1`` of that ring,
  and its outward normal is ``(dy, -dx)`` for the edge ``(dx, dy)``.
* Orientation sectors by outward-normal azimuth: N [315, 45), E [45, 135), S [135, 225), W [225, 315).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pyproj import CRS, Transformer
from shapely.geometry import Polygon
from shapely.geometry.polygon import orient

#: Orientation names in the order of their sectors, each 90 degrees wide and centred on its compass point.
ORIENTATIONS = ("north", "east", "south", "west")


@dataclass(frozen=True)
class LocalFrame:
    """East/north metres around ``(lat0, lon0)`` by the azimuthal equidistant projection centred there."""

    lat0: float
    lon0: float
    crs: CRS = field(init=False, repr=False, compare=False)
    _forward: Transformer = field(init=False, repr=False, compare=False)
    _inverse: Transformer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        crs = CRS.from_proj4(f"+proj=aeqd +lat_0={self.lat0!r} +lon_0={self.lon0!r} +datum=WGS84 +units=m +no_defs")
        object.__setattr__(self, "crs", crs)
        object.__setattr__(self, "_forward", Transformer.from_crs("EPSG:4326", crs, always_xy=True))
        object.__setattr__(self, "_inverse", Transformer.from_crs(crs, "EPSG:4326", always_xy=True))

    def to_local(self, lon: float | np.ndarray, lat: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(east, north)`` metres of WGS84 ``lon``/``lat`` degrees."""
        east, north = self._forward.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
        return np.asarray(east), np.asarray(north)

    def to_lonlat(self, east: float | np.ndarray, north: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 ``(lon, lat)`` degrees of local ``east``/``north`` metres."""
        lon, lat = self._inverse.transform(np.asarray(east, dtype=np.float64), np.asarray(north, dtype=np.float64))
        return np.asarray(lon), np.asarray(lat)

    def grid_convergence(self, east: float, north: float) -> float:
        """Degrees to add to a grid heading at ``(east, north)`` to get the true heading there.

        Grid north equals true north only at the centre; a few hundred metres away the two differ by
        thousandths of a degree, which the EXIF headings of the synthetic photos still take into account.
        """
        lon, lat = self.to_lonlat(east, north)
        e1, n1 = self.to_local(float(lon), float(lat) + 1e-5)
        grid_azimuth_of_true_north = math.degrees(math.atan2(float(e1) - east, float(n1) - north))
        return -grid_azimuth_of_true_north


def ccw_ring(coords: Sequence[Sequence[float]]) -> np.ndarray:
    """The exterior ring ``(n, 2)`` oriented counter-clockwise, without the closing vertex.

    Uses shapely ``orient(polygon, 1.0)``: a clockwise ring is reversed and keeps its start vertex, so the
    wall numbering of a ring does not depend on which way it was written.
    """
    ring = orient(Polygon(coords), 1.0).exterior.coords
    return np.asarray(ring, dtype=np.float64)[:-1, :2]


def normal_azimuth(dx: float, dy: float) -> float:
    """Azimuth (degrees clockwise from north, [0, 360)) of the outward normal ``(dy, -dx)`` of a
    counter-clockwise edge ``(dx, dy)`` in east/north coordinates."""
    return math.degrees(math.atan2(dy, -dx)) % 360.0


def orientation(azimuth: float) -> str:
    """``north`` [315, 45), ``east`` [45, 135), ``south`` [135, 225) or ``west`` [225, 315)."""
    return ORIENTATIONS[int(((azimuth % 360.0) + 45.0) // 90.0) % 4]


@dataclass(frozen=True)
class Edge:
    """Wall ``index`` of a counter-clockwise ring: from ``start`` to ``end`` (east/north metres)."""

    index: int
    start: tuple[float, float]
    end: tuple[float, float]

    @property
    def length(self) -> float:
        return math.hypot(self.end[0] - self.start[0], self.end[1] - self.start[1])

    @property
    def azimuth(self) -> float:
        """Azimuth of the outward normal, degrees clockwise from north."""
        return normal_azimuth(self.end[0] - self.start[0], self.end[1] - self.start[1])


def ring_edges(coords: Sequence[Sequence[float]]) -> list[Edge]:
    """The walls of a footprint ring given in either orientation: edges of its counter-clockwise ring."""
    ring = ccw_ring(coords)
    n = len(ring)
    return [
        Edge(i, (float(ring[i, 0]), float(ring[i, 1])), (float(ring[(i + 1) % n, 0]), float(ring[(i + 1) % n, 1])))
        for i in range(n)
    ]
