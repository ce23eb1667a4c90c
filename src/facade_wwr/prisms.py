"""Extruded footprints seen from a camera, azimuth by azimuth: which footprint, wall or roof each ray meets.

The scene is a set of footprints in a local east/north frame (metres; ``facade_wwr.geo``), each with
counter-clockwise rings and a height ``H``: walls are the ring edges extruded from the ground to ``H``,
under a flat roof. (The synthetic city's own renderer, ``city_render``, draws any planar surface by its
homography and a z-buffer; prisms allow the much faster method below, which pose refinement needs.)

A camera without roll sees along rays described by their **azimuth** ``a`` (degrees clockwise from north)
and **slope** ``t`` (metres of rise per horizontal metre). The rays of one azimuth fill a vertical
half-plane through the camera. There, a footprint whose ground trace the ray enters at distance ``d1``
(through a wall facing the camera) and leaves at ``d2`` is the rectangle ``[d1, d2] x [0, H]``, seen from
height ``zc`` over the slopes ``[-zc / d1, top)`` with ``top = max((H - zc) / d1, (H - zc) / d2)``: wall up to
``(H - zc) / d1``, roof above it (only when the camera is higher than the roof). A nearer rectangle hides
every ray within its slopes and the ground below them, so a farther one shows only above the highest
``top`` of those in front of it: one running maximum per azimuth gives the visible intervals, exactly and
without a z-buffer. Ground and sky are no surface. A ray that starts inside a footprint (a photo taken from
a window) leaves it without entering: that footprint is not seen.

Surface labels: wall ``e`` (an index into the scene's edges) is ``e``; the roof of footprint ``f`` is
``n_edges + f``. Rasters hold label + 1, 0 for nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from facade_wwr.camera import Camera

#: Rays are cast from this distance (metres) on: a wall closer than that is not drawn.
NEAR = 0.05
#: Slopes are clipped to +-SLOPE_LIMIT (89.94 degrees) so that per-column offsets stay exact.
SLOPE_LIMIT = 1000.0


@dataclass(frozen=True)
class Scene:
    """Footprints as edges in a local frame: edge ``e`` runs from ``starts[e]`` to ``ends[e]`` (east, north) and
    is wall ``wall[e]`` of footprint ``footprint[e]``; ``heights[f]`` is footprint ``f``'s height."""

    starts: np.ndarray
    ends: np.ndarray
    footprint: np.ndarray
    wall: np.ndarray
    heights: np.ndarray

    @property
    def n_edges(self) -> int:
        return len(self.starts)

    @property
    def n_footprints(self) -> int:
        return len(self.heights)

    def with_heights(self, heights: np.ndarray) -> Scene:
        """The same footprints at other heights."""
        return replace(self, heights=np.asarray(heights, dtype=np.float64))

    def surface_footprint(self) -> np.ndarray:
        """Footprint of every surface label (walls, then roofs)."""
        return np.concatenate([self.footprint, np.arange(self.n_footprints)])

    @classmethod
    def of(cls, rings: list[list[np.ndarray]], heights: list[float]) -> Scene:
        """A scene of footprints given as lists of counter-clockwise rings ``(n, 2)`` (not closed) in metres."""
        starts, ends, footprint, wall = [], [], [], []
        for f, parts in enumerate(rings):
            w = 0
            for ring in parts:
                starts.append(ring)
                ends.append(np.roll(ring, -1, axis=0))
                footprint.append(np.full(len(ring), f))
                wall.append(np.arange(w, w + len(ring)))
                w += len(ring)
        if not starts:
            empty = np.zeros((0, 2))
            return cls(empty, empty, np.zeros(0, int), np.zeros(0, int), np.asarray(heights, dtype=np.float64))
        return cls(
            np.concatenate(starts).astype(np.float64),
            np.concatenate(ends).astype(np.float64),
            np.concatenate(footprint).astype(np.int64),
            np.concatenate(wall).astype(np.int64),
            np.asarray(heights, dtype=np.float64),
        )


@dataclass(frozen=True)
class Window:
    """Azimuth samples: column ``c`` is the azimuth ``start + (c + 0.5) * step`` degrees, for ``c < count``."""

    start: float
    step: float
    count: int

    @classmethod
    def around(cls, centre: float, half_width: float, step: float) -> Window:
        count = max(1, int(math.ceil(2.0 * half_width / step)))
        return cls(centre - count * step / 2.0, step, count)

    def azimuths(self) -> np.ndarray:
        return self.start + (np.arange(self.count) + 0.5) * self.step


@dataclass(frozen=True)
class Intervals:
    """What each azimuth column sees: slope intervals ``[lo, hi)`` with their surface labels and the distance
    at which the ray enters that footprint (disjoint within a column; sorted by column, then nearest first)."""

    window: Window
    col: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    surface: np.ndarray
    distance: np.ndarray
    views: int = 1


def _wrap(degrees: np.ndarray) -> np.ndarray:
    """Degrees into [-180, 180)."""
    return (degrees + 180.0) % 360.0 - 180.0


def _sort_by(group: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """The order sorting by integer ``group``, then ``distance`` (one integer sort; ``np.lexsort`` is ten
    times slower here)."""
    rank = np.empty(len(distance), dtype=np.int64)
    rank[np.argsort(distance)] = np.arange(len(distance))
    return np.argsort(group.astype(np.int64) * max(len(distance), 1) + rank)


def crossings(scene: Scene, east: np.ndarray, north: np.ndarray, up: np.ndarray, window: Window):
    """Every (column, edge) where the column's ray crosses the edge, for cameras at ``(east[v], north[v])``,
    ``up[v]`` metres high: column (``v * window.count + c``), edge, distance, and whether the edge faces the
    camera. An edge facing away matters only where the camera sees the roof it bounds (is above it)."""
    views = len(east)
    p = (scene.starts[None, :, :] - np.stack([east, north], axis=1)[:, None, :]).reshape(-1, 2)
    e = np.tile(scene.ends - scene.starts, (views, 1))
    along = p[:, 0] * e[:, 1] - p[:, 1] * e[:, 0]  # cross(P, E): < 0 when the edge faces the camera
    above = (up[:, None] > scene.heights[scene.footprint][None, :]).reshape(-1)
    along = np.where((along < 0) | above, along, 0.0)
    a_start = np.degrees(np.arctan2(p[:, 0], p[:, 1]))
    q = p + e
    span = _wrap(np.degrees(np.arctan2(q[:, 0], q[:, 1])) - a_start)
    centre = window.start + window.count * window.step / 2.0
    low = _wrap(a_start - centre) + np.minimum(span, 0.0) + window.count * window.step / 2.0
    high = low + np.abs(span)
    c0 = np.clip(np.ceil(low / window.step - 0.5), 0, window.count).astype(np.int64)
    c1 = np.clip(np.ceil(high / window.step - 0.5), 0, window.count).astype(np.int64)
    counts = np.where(np.abs(along) > 1e-9, np.maximum(c1 - c0, 0), 0)
    pair = np.repeat(np.arange(len(counts)), counts)  # index into (view, edge)
    col = np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts - c0, counts)
    azimuth = np.radians(window.azimuths())
    sin, cos = np.sin(azimuth)[col], np.cos(azimuth)[col]
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = along[pair] / (sin * e[pair, 1] - cos * e[pair, 0])
    ok = np.isfinite(distance) & (distance > NEAR)
    pair = pair[ok]
    view, edge = np.divmod(pair, scene.n_edges)
    return view * window.count + col[ok], edge, distance[ok], along[pair] < 0


def visible(scene: Scene, east, north, up, window: Window) -> Intervals:
    """The visible slope intervals of every column, from a camera at ``(east, north)``, ``up`` metres high;
    given arrays of positions and heights, for each of those cameras at once (column ``v * window.count +
    c`` of camera ``v``)."""
    east, north, up = (np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (east, north, up))
    views = len(east)
    if scene.n_edges == 0:
        empty = np.zeros(0)
        return Intervals(window, empty.astype(np.int64), empty, empty, empty.astype(np.int64), empty, views)
    col, edge, distance, front = crossings(scene, east, north, up, window)
    fp = scene.footprint[edge]
    order = _sort_by(col * scene.n_footprints + fp, distance)
    col, edge, distance, front, fp = col[order], edge[order], distance[order], front[order], fp[order]
    same_next = np.zeros(len(col), dtype=bool)
    same_next[:-1] = (col[1:] == col[:-1]) & (fp[1:] == fp[:-1]) & ~front[1:]
    entry = np.flatnonzero(front)
    leave = np.where(same_next[entry], distance[np.minimum(entry + 1, len(col) - 1)], distance[entry])
    col, edge, fp, d1 = col[entry], edge[entry], fp[entry], distance[entry]
    camera_up = up[col // window.count]
    height = scene.heights[fp]
    bottom = -camera_up / d1
    wall_top = np.clip((height - camera_up) / d1, -SLOPE_LIMIT, SLOPE_LIMIT)
    top = np.maximum(wall_top, np.clip((height - camera_up) / leave, -SLOPE_LIMIT, SLOPE_LIMIT))
    order = _sort_by(col, d1)
    col, edge, fp, d1 = col[order], edge[order], fp[order], d1[order]
    bottom, wall_top, top = bottom[order], wall_top[order], top[order]
    big = 4.0 * SLOPE_LIMIT + 1.0
    running = np.maximum.accumulate(top + col * big) - col * big if len(col) else top
    before = np.full(len(col), -np.inf)
    if len(col):
        before[1:] = running[:-1]
        before[np.r_[True, col[1:] != col[:-1]]] = -np.inf
    lo = np.maximum(bottom, before)
    wall_hi = np.minimum(top, wall_top)
    roof_lo = np.maximum(lo, wall_top)
    is_wall = lo < wall_hi
    is_roof = (camera_up[order] > height[order]) & (roof_lo < top)
    n = scene.n_edges
    return Intervals(
        window,
        np.concatenate([col[is_wall], col[is_roof]]),
        np.concatenate([lo[is_wall], roof_lo[is_roof]]),
        np.concatenate([wall_hi[is_wall], top[is_roof]]),
        np.concatenate([edge[is_wall], n + fp[is_roof]]),
        np.concatenate([d1[is_wall], d1[is_roof]]),
        views,
    )


@dataclass(frozen=True)
class Raster:
    """Labels on a grid of azimuth columns and slope rows: row ``r`` is the slope ``top - (r + 0.5) * step``.
    ``labels[c, r]`` is a value + 1, or 0 for nothing."""

    window: Window
    top: float
    step: float
    labels: np.ndarray

    def lookup(self, azimuth: np.ndarray, slope: np.ndarray) -> np.ndarray:
        """The label (value + 1, 0 outside or for nothing) of rays by azimuth (degrees) and slope."""
        c = np.floor((azimuth - self.window.start) / self.window.step).astype(np.int64)
        r = np.floor((self.top - slope) / self.step).astype(np.int64)
        ncols, nrows = self.labels.shape
        inside = (c >= 0) & (c < ncols) & (r >= 0) & (r < nrows)
        out = np.zeros(azimuth.shape, dtype=self.labels.dtype)
        out[inside] = self.labels[c[inside], r[inside]]
        return out


def rasterise(intervals: Intervals, values: np.ndarray, top: float, step: float, rows: int) -> Raster:
    """Paint the intervals (each its ``values`` entry) on a grid of ``rows`` slope rows below ``top`` (the
    columns of several cameras one after the other).

    A cell is painted where its centre's slope lies in ``[lo, hi)``; intervals are disjoint per column, so a
    difference array summed along each column paints them all at once."""
    ncols = intervals.window.count * intervals.views
    start = np.clip(np.floor((top - intervals.hi) / step - 0.5) + 1, 0, rows).astype(np.int64)
    end = np.clip(np.floor((top - intervals.lo) / step - 0.5) + 1, 0, rows).astype(np.int64)
    keep = end > start
    col, start, end, v = intervals.col[keep], start[keep], end[keep], values[keep].astype(np.int32) + 1
    stride = rows + 1
    diff = np.zeros(ncols * stride, dtype=np.int32)
    np.add.at(diff, col * stride + start, v)
    np.add.at(diff, col * stride + end, -v)
    labels = np.cumsum(diff.reshape(ncols, stride)[:, :rows], axis=1, dtype=np.int32)
    return Raster(intervals.window, top, step, labels)


def rays(camera: Camera, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth (degrees) and slope of the rays through image points ``(u, v)`` of a camera without roll.

    With ``x = (u - W/2) / f``, ``y = (v - H/2) / f`` and ``g = cos(pitch) + y sin(pitch)``: azimuth
    ``heading + atan2(x, g)`` and slope ``(sin(pitch) - y cos(pitch)) / hypot(x, g)``."""
    f = camera.focal
    x = (u - camera.width / 2.0) / f
    y = (v - camera.height / 2.0) / f
    p = math.radians(camera.pitch)
    g = math.cos(p) + y * math.sin(p)
    return camera.heading + np.degrees(np.arctan2(x, g)), (math.sin(p) - y * math.cos(p)) / np.hypot(x, g)


def slope_range(width: int, height: int, hfov: float, pitch: float) -> tuple[float, float]:
    """Lowest and highest slope any pixel of such a camera sees (the image corners and edge midpoints)."""
    camera = Camera(0.0, 0.0, 0.0, 0.0, pitch, hfov, width, height)
    u = np.array([0.0, width / 2.0, width, 0.0, width / 2.0, width])
    v = np.array([0.0, 0.0, 0.0, height, height, height])
    _, t = rays(camera, u, v)
    return float(t.min()), float(t.max())


def azimuth_half_width(width: int, height: int, hfov: float, pitch: float) -> float:
    """Largest angle (degrees) from the heading at which any pixel of such a camera looks."""
    camera = Camera(0.0, 0.0, 0.0, 0.0, pitch, hfov, width, height)
    a, _ = rays(camera, np.array([0.0, 0.0, 0.0]), np.array([0.0, height / 2.0, height]))
    return float(np.abs(a).max())


@dataclass(frozen=True)
class Lookup:
    """The intervals sorted for exact per-ray queries (column by nearest azimuth sample, slope exactly)."""

    intervals: Intervals
    keys: np.ndarray
    order: np.ndarray

    @classmethod
    def of(cls, intervals: Intervals) -> Lookup:
        big = 4.0 * SLOPE_LIMIT + 1.0
        keys = intervals.col * big + intervals.lo
        order = np.argsort(keys, kind="stable")
        return cls(intervals, keys[order], order)

    def surfaces(self, azimuth: np.ndarray, slope: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Surface label (-1: nothing) and the index of its interval (-1: none) for each ray."""
        w = self.intervals.window
        if len(self.keys) == 0:
            none = np.full(np.shape(azimuth), -1, dtype=np.int64)
            return none, none
        big = 4.0 * SLOPE_LIMIT + 1.0
        col = np.floor((azimuth - w.start) / w.step).astype(np.int64)
        t = np.clip(slope, -SLOPE_LIMIT, SLOPE_LIMIT)
        k = np.searchsorted(self.keys, col * big + t, side="right") - 1
        idx = self.order[np.maximum(k, 0)]
        iv = self.intervals
        hit = (k >= 0) & (col >= 0) & (col < w.count) & (iv.col[idx] == col) & (t < iv.hi[idx])
        return np.where(hit, iv.surface[idx], -1), np.where(hit, idx, -1)
