"""Pose refinement: the camera pose under which the rendered footprints agree best with the building masks.

**Agreement** of a pose: the mean, over a photo's kept buildings, of the IoU between the building's mask
and the rendered region of its footprints (``facade_wwr.prisms``), on a grid of sample pixels. A
building's footprints are the one its mask overlaps most and every other one whose rendered region lies
at least :data:`INSIDE` within the mask: a trained model often draws one mask over two attached
buildings, and matched to one footprint alone such a mask pulls the pose towards a narrower hfov (the
footprint zoomed to fill it). Scoring building by building, rather than the union of all buildings
against all footprints, keeps an attached row from matching one building off: a shifted row still covers
the union well, but no building its own footprints. Buildings under :data:`MIN_SHARE` of the photo are
left out of the mean (a speck of a mask says little about the pose); they are still linked.

The search maximises the agreement minus a weak pull towards the given pose (:data:`PRIOR_WEIGHT` times
the sum of squared deviations in units of :func:`sigmas`), so that among poses the masks cannot tell
apart (one building filling the photo fits many headings) the one nearest the sensors wins. The
agreement reported is the plain one.

**Search** (speed: ``benchmarks/bench_link.py``). Heading, hfov and pitch only turn or zoom the camera
about its centre, so for one camera position and height the footprints are rendered once into a raster
of azimuth columns and slope rows wide enough for every such view (``prisms.Raster``), and each view is a
lookup of its sample pixels' rays there. Only a new position or height renders again; poses are scored
in batches (new positions rendered in one call, all counts in one ``bincount``). Sample pixels lie at
random in their cells (:func:`sample_grid`), so that the agreement changes smoothly with the pose.

1. *Starts* (:func:`starts`), on the start grid (about :data:`START_SAMPLES` samples), for each start
   height (the given one; when unknown also :data:`UPPER_HEIGHTS`): every heading within
   ``geo.heading_error`` in steps of :data:`START_HEADING_STEP`, for each start hfov (the given one, or
   :data:`START_HFOVS` over the range) and pitch (:data:`START_PITCHES`, :data:`UPPER_PITCHES` from upper
   floors) at the given position. Then from positions on rings every :data:`START_SPACING` metres within
   ``geo.gps_error``: every such heading and hfov again at the pitch of the best pose so far (a camera that
   stood far from the given position sees its scene under an orientation that need not be near any found
   there), and the best :data:`START_ORIENTATIONS` of the given position looking at the same scene
   (:func:`moved`) with the heading scanned :data:`START_NUDGE` around. The best
   :data:`STARTS_PER_HEIGHT` distinct poses of each height (distinct: in position, heading, hfov or height;
   a pitch alone makes no other start, so that near copies of one start do not crowd out another basin,
   such as an attached row's true alignment beside one a building off), and of those the best
   :data:`CLIMBED`, go on.
2. *Climbs* (:func:`climb`) on the start grid: every parameter moved by its step both ways, a position step
   keeping the scene in view, the best neighbour taken when it gains (then once more the same move); the
   steps halve after a round without gain.
3. The best :data:`KEPT` climb on again on the coarse grid (:data:`COARSE_SAMPLES`), and the best of those
   is polished on the fine grid (:data:`FINE_SAMPLES`). If the given pose agrees better on the fine grid,
   it is kept.

A value the pose source gives is searched only within :data:`KNOWN_SPREAD` of it; an unknown one over its
whole ``geo.*`` range.

**Missing heights** (:func:`fit_heights`). A footprint the file gives no height is drawn at
``geo.default_height``; one drawn far taller than it is hides the buildings behind it (a one-storey shed
drawn at 10 m in front of a row of houses), and one drawn too low leaves its upper floors unmatched. So at
the pose found (or the pose as given, without the search), each such footprint in view takes the height of
:data:`HEIGHT_CANDIDATES` under which the masks agree best (fine grid, one footprint after the other,
nearest first), and where a height changed, the pose climbs once more on the coarse and fine grids.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np

from facade_wwr import prisms
from facade_wwr.camera import Camera

START_SAMPLES = 3_000
COARSE_SAMPLES = 12_000
FINE_SAMPLES = 40_000
#: Buildings covering less of the photo than this are left out of the agreement.
MIN_SHARE = 0.002
#: A footprint whose rendered samples lie at least this much within a building's mask counts in its IoU.
INSIDE = 0.5
START_HEADING_STEP = 2.0
START_HFOVS = 4
#: Camera heights (metres) also started from when the height is unknown (upper floors).
UPPER_HEIGHTS = (10.0, 18.0)
#: Pitch offsets (degrees) started from when the pitch is unknown: at street height, and higher up.
START_PITCHES = (0.0, 4.0, 8.0)
UPPER_PITCHES = (-12.0, -8.0, -4.0)
#: Orientations per start height also tried from the start positions (rings every START_SPACING metres,
#: twice that from upper floors, whose views change less with a step) looking at the same scene.
START_ORIENTATIONS = 1
START_SPACING = 3.0
#: Degrees the heading is scanned around a start position's look-at heading.
START_NUDGE = 14.0
STARTS_PER_HEIGHT = 6
#: Starts climbed on the start grid (the best of all heights).
CLIMBED = 6
#: Starts that go on to the coarse grid after the search on the start grid.
KEPT = 2
PRIOR_WEIGHT = 0.005
#: Search half-widths around values a pose source gives (degrees, metres).
KNOWN_SPREAD = {"hfov": 2.0, "pitch": 2.0, "up": 0.5}
#: First and last coordinate-search steps per grid (degrees or metres).
START_STEPS = (
    {"heading": 2.0, "hfov": 5.0, "pitch": 2.0, "up": 1.0, "east": 2.0, "north": 2.0},
    {"heading": 0.5, "hfov": 1.25, "pitch": 0.5, "up": 0.25, "east": 0.5, "north": 0.5},
)
COARSE_STEPS = (
    {"heading": 0.5, "hfov": 1.25, "pitch": 0.5, "up": 0.25, "east": 0.5, "north": 0.5},
    {"heading": 0.2, "hfov": 0.5, "pitch": 0.2, "up": 0.1, "east": 0.2, "north": 0.2},
)
FINE_STEPS = (
    {"heading": 0.2, "hfov": 0.5, "pitch": 0.2, "up": 0.1, "east": 0.2, "north": 0.2},
    {"heading": 0.1, "hfov": 0.25, "pitch": 0.1, "up": 0.1, "east": 0.1, "north": 0.1},
)
ROUNDS = (10, 6, 3)
#: Heights (metres) tried for a footprint without one (about one to fifteen storeys).
HEIGHT_CANDIDATES = (3.0, 4.5, 6.0, 7.5, 9.0, 10.5, 12.0, 14.0, 16.0, 18.0, 21.0, 24.0, 28.0, 33.0, 40.0, 50.0)
#: Raster cells per sample spacing (at the narrowest hfov searched).
RASTER_PER_SAMPLE = 1
#: Degrees the dolly zoom of a position move rounds the hfov to.
HFOV_QUANTUM = 0.25
#: Renders kept per grid (one per camera position and height).
RENDER_CACHE = 96
TURNING = ("heading", "hfov", "pitch", "up")
MOVING = ("east", "north")


@dataclass(frozen=True)
class Params:
    """The searched pose: heading, hfov and pitch in degrees, camera height and position offset in metres."""

    heading: float
    hfov: float
    pitch: float
    up: float
    east: float = 0.0
    north: float = 0.0

    def camera(self, width: int, height: int) -> Camera:
        return Camera(self.east, self.north, self.up, self.heading, self.pitch, self.hfov, width, height)


@dataclass(frozen=True)
class Bounds:
    """Search ranges: ``(low, high)`` per angle or height, and the radius of the position search."""

    heading: tuple[float, float]
    hfov: tuple[float, float]
    pitch: tuple[float, float]
    up: tuple[float, float]
    radius: float

    def clip(self, p: Params) -> Params | None:
        """``p`` if it is within the bounds, else None."""
        for name in ("heading", "hfov", "pitch", "up"):
            low, high = getattr(self, name)
            if not low - 1e-9 <= getattr(p, name) <= high + 1e-9:
                return None
        if math.hypot(p.east, p.north) > self.radius + 1e-9:
            return None
        return p


@dataclass(frozen=True)
class Grid:
    """Sample pixels, one per ``stride`` x ``stride`` cell: their centres ``(u, v)`` and the building each one
    shows (-1: none)."""

    stride: int
    u: np.ndarray
    v: np.ndarray
    building: np.ndarray


def grid_stride(width: int, height: int, samples: int) -> int:
    """The sampling stride (pixels) that leaves about ``samples`` sample pixels in a photo."""
    return max(1, int(round(math.sqrt(width * height / samples))))


def sample_grid(width: int, height: int, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns (flat arrays) of one full-resolution pixel in each :func:`grid_stride`-sized cell,
    placed at random in its cell (the same for the same photo size): the agreement then changes smoothly
    with the pose, not in steps as whole rows and columns of a regular grid cross an edge at once."""
    stride = grid_stride(width, height, samples)
    r0, c0 = np.meshgrid(np.arange(0, height, stride), np.arange(0, width, stride), indexing="ij")
    rng = np.random.default_rng([width, height, stride])
    rows = np.minimum(r0 + rng.integers(0, stride, r0.shape), height - 1).ravel()
    cols = np.minimum(c0 + rng.integers(0, stride, c0.shape), width - 1).ravel()
    return rows, cols


def agreement(building: np.ndarray, footprint: np.ndarray, n_buildings: int, n_footprints: int, eligible) -> np.ndarray:
    """Mean over the ``eligible`` buildings of the IoU of each building's samples with the samples of its
    footprints (the one that overlaps it most, and any lying :data:`INSIDE` within it), for each row of
    ``footprint`` (``(k, n)``: footprint + 1 seen by each sample under k poses, 0 for none); 0 without
    buildings."""
    k = footprint.shape[0]
    if not eligible.any() or n_footprints == 0:
        return np.zeros(k)
    size = (n_buildings + 1) * (n_footprints + 1)
    codes = footprint + ((building + 1) * (n_footprints + 1))[None, :] + (np.arange(k) * size)[:, None]
    counts = np.bincount(codes.ravel(), minlength=k * size).reshape(k, n_buildings + 1, n_footprints + 1)
    per_building = counts[:, 1:].sum(axis=2)
    per_footprint = counts[:, :, 1:].sum(axis=1)
    inter = counts[:, 1:, 1:]
    rendered = per_footprint[:, None, :]
    mine = (inter >= INSIDE * rendered) & (rendered > 0)
    np.put_along_axis(mine, np.argmax(inter, axis=2)[:, :, None], True, axis=2)
    shared = (inter * mine).sum(axis=2)
    union = per_building + (rendered * mine).sum(axis=2) - shared  # footprints' samples never overlap
    iou = shared / np.maximum(union, 1)
    return iou[:, eligible].mean(axis=1)


class Scorer:
    """Agreement of poses with a photo's building masks on one sample grid; renders and rays are cached,
    and poses are scored in batches (one render call for the new camera positions, one count)."""

    def __init__(
        self, scene: prisms.Scene, grid: Grid, eligible: np.ndarray, width: int, height: int, bounds: Bounds
    ) -> None:
        self.scene, self.grid, self.eligible = scene, grid, eligible
        self.width, self.height, self.bounds = width, height, bounds
        self.n_buildings = len(eligible)
        self.surface_footprint = scene.surface_footprint()
        # renders label the footprints they show 1..n_seen in the order first seen (0: none), so that the
        # counts of the agreement span the footprints in view, not every footprint in range
        self.number = np.full(scene.n_footprints, -1, dtype=np.int64)
        self.n_seen = 0
        # one raster cell per sample pixel at the narrowest hfov searched
        self.step = max(bounds.hfov[0] / width * grid.stride / RASTER_PER_SAMPLE, 0.01)
        half = 0.0
        low, high = math.inf, -math.inf
        for hfov in bounds.hfov:
            for pitch in bounds.pitch:
                half = max(half, prisms.azimuth_half_width(width, height, hfov, pitch))
                lo, hi = prisms.slope_range(width, height, hfov, pitch)
                low, high = min(low, lo), max(high, hi)
        centre = (bounds.heading[0] + bounds.heading[1]) / 2.0
        reach = (bounds.heading[1] - bounds.heading[0]) / 2.0 + half + 2.0
        self.window = prisms.Window.around(centre, reach, self.step)
        self.slope_step = math.radians(self.step)
        self.top = high + 2 * self.slope_step
        self.rows = int(math.ceil((self.top - low) / self.slope_step)) + 2
        self.renders: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.rays: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.evaluations = 0
        self.render_count = 0

    @staticmethod
    def key(p: Params) -> tuple[float, float, float]:
        return (round(p.east, 4), round(p.north, 4), round(p.up, 4))

    def render(self, keys: list[tuple[float, float, float]]) -> None:
        """Render the camera positions not yet cached, all in one call."""
        missing = list(dict.fromkeys(k for k in keys if k not in self.renders))
        if not missing:
            for k in keys:
                self.renders.move_to_end(k)
            return
        e, n, z = (np.array(x) for x in zip(*missing))
        intervals = prisms.visible(self.scene, e, n, z, self.window)
        footprint = self.surface_footprint[intervals.surface]
        new = np.unique(footprint[self.number[footprint] < 0])
        self.number[new] = self.n_seen + np.arange(len(new))
        self.n_seen += len(new)
        raster = prisms.rasterise(intervals, self.number[footprint], self.top, self.slope_step, self.rows)
        size = self.window.count * self.rows
        flat = raster.labels.reshape(-1)
        for v, k in enumerate(missing):
            self.renders[k] = flat[v * size : (v + 1) * size]
        self.render_count += len(missing)
        for k in keys:
            self.renders.move_to_end(k)
        while len(self.renders) > max(RENDER_CACHE, len(keys)):
            self.renders.popitem(last=False)

    def relative_rays(self, hfov: float, pitch: float) -> tuple[np.ndarray, np.ndarray]:
        """Per sample pixel: its raster column offset from the heading's (fractional) and its raster row
        times the column stride (the flat index part that the heading leaves alone)."""
        key = (round(hfov, 6), round(pitch, 6))
        if key not in self.rays:
            camera = Camera(0.0, 0.0, 0.0, 0.0, pitch, hfov, self.width, self.height)
            azimuth, slope = prisms.rays(camera, self.grid.u, self.grid.v)
            row = np.clip(np.floor((self.top - slope) / self.slope_step), 0, self.rows - 1).astype(np.int64)
            self.rays[key] = ((azimuth - self.window.start) / self.window.step, row)
            if len(self.rays) > 512:
                self.rays.popitem(last=False)
        return self.rays[key]

    def seen(self, p: Params, headings: np.ndarray) -> np.ndarray:
        """The number + 1 of the footprint (as the renders number them, 0: none) that each sample sees under
        pose ``p`` turned to each of ``headings``."""
        labels = self.renders[self.key(p)]
        column, row = self.relative_rays(p.hfov, p.pitch)
        col = np.floor(column[None, :] + (headings[:, None] / self.window.step))
        col = np.clip(col, 0, self.window.count - 1).astype(np.int64)
        return labels[row[None, :] + col * self.rows]

    def score(self, p: Params) -> float:
        return float(self.scores([p])[0])

    def scores(self, poses: list[Params]) -> np.ndarray:
        """Agreement of each pose (poses differing only in heading share one lookup)."""
        if not poses:
            return np.zeros(0)
        self.render([self.key(p) for p in poses])
        groups: dict[tuple, list[int]] = {}
        for i, p in enumerate(poses):
            groups.setdefault((self.key(p), p.hfov, p.pitch), []).append(i)
        seen = np.empty((len(poses), len(self.grid.u)), dtype=np.int64)
        for members in groups.values():
            headings = np.array([poses[i].heading for i in members])
            seen[members] = self.seen(poses[members[0]], headings)
        self.evaluations += len(poses)
        out = np.empty(len(poses))
        chunk = max(1, 4_000_000 // max((self.n_buildings + 1) * (self.n_seen + 1), 1))
        for start in range(0, len(poses), chunk):
            out[start : start + chunk] = agreement(
                self.grid.building, seen[start : start + chunk], self.n_buildings, self.n_seen, self.eligible
            )
        return out


def sigmas(bounds: Bounds) -> dict[str, float]:
    """Scales of the pull towards the given pose: a third of the heading and position search ranges (which
    are 3-sigma ranges of the sensors). The hfov, pitch and height are searched evenly over their ranges."""
    out = {"heading": max((bounds.heading[1] - bounds.heading[0]) / 6.0, 1e-3)}
    if bounds.radius > 0:
        out["east"] = out["north"] = bounds.radius / 3.0
    return out


class Objective:
    """Agreement minus the pull towards the prior, in batches; remembers the plain agreement of every pose."""

    def __init__(self, scorer: Scorer, prior: Params) -> None:
        self.scorer, self.prior = scorer, prior
        self.sigma = sigmas(scorer.bounds)
        self.plain: dict[Params, float] = {}

    def pull(self, p: Params) -> float:
        return PRIOR_WEIGHT * sum(((getattr(p, k) - getattr(self.prior, k)) / self.sigma[k]) ** 2 for k in self.sigma)

    def batch(self, poses: list[Params]) -> list[tuple[float, Params]]:
        new = [p for p in dict.fromkeys(poses) if p not in self.plain]
        for p, a in zip(new, self.scorer.scores(new)):
            self.plain[p] = float(a)
        return [(self.plain[p] - self.pull(p), p) for p in poses]

    def __call__(self, p: Params) -> float:
        return self.batch([p])[0][0]


def _spread(value: float, bounds: tuple[float, float], count: int) -> list[float]:
    low, high = bounds
    if count <= 1 or high - low < 1e-9:
        return [value]
    return [float(x) for x in np.linspace(low, high, count)]


def start_heights(prior: Params, known: dict[str, bool], bounds: Bounds) -> list[float]:
    """Camera heights to start from: the given one, and when unknown also :data:`UPPER_HEIGHTS` in range."""
    if known["up"]:
        return [prior.up]
    return [prior.up] + [h for h in UPPER_HEIGHTS if bounds.up[0] <= h <= bounds.up[1] and abs(h - prior.up) > 1.0]


def start_pitches(prior: Params, known: dict[str, bool], bounds: Bounds, up: float) -> list[float]:
    """Pitches to start from at camera height ``up``: the given one, or when unknown a spread over the range
    (looking up from the street, down from an upper floor)."""
    if known["pitch"]:
        return [prior.pitch]
    offsets = START_PITCHES if up <= prior.up + 1.0 else UPPER_PITCHES
    return sorted({min(max(prior.pitch + d, bounds.pitch[0]), bounds.pitch[1]) for d in offsets})


def _distinct(found: list[tuple[float, Params]], count: int) -> list[tuple[float, Params]]:
    """The first ``count`` poses of ``found`` (best first) that differ from each other in position, heading,
    hfov or height (poses differing in pitch only climb to the same place)."""
    out: list[tuple[float, Params]] = []
    for score, p in found:
        if all(
            abs(p.heading - q.heading) > 3.0
            or abs(p.hfov - q.hfov) > 10.0
            or abs(p.up - q.up) > 1.0
            or math.hypot(p.east - q.east, p.north - q.north) > 1.0
            for _, q in out
        ):
            out.append((score, p))
        if len(out) == count:
            break
    return out


def fixation(scorer: Scorer, p: Params) -> float:
    """The depth that moves of the camera keep in view: the median over the photo's buildings of the median
    horizontal distance (metres) of the footprint surfaces each building's samples see under pose ``p`` (each
    building one vote, as in the agreement), within 5-200 m; 30 m when none."""
    camera = p.camera(scorer.width, scorer.height)
    inside = np.flatnonzero(scorer.grid.building >= 0)
    if not inside.size:
        return 30.0
    azimuth, slope = prisms.rays(camera, scorer.grid.u[inside], scorer.grid.v[inside])
    window = prisms.Window.around(p.heading, float(np.abs(azimuth - p.heading).max()) + 1.0, scorer.step)
    intervals = prisms.visible(scorer.scene, p.east, p.north, p.up, window)
    _, idx = prisms.Lookup.of(intervals).surfaces(azimuth, slope)
    hit = idx >= 0
    if not hit.any():
        return 30.0
    building, depth = scorer.grid.building[inside][hit], intervals.distance[idx[hit]]
    medians = [float(np.median(depth[building == b])) for b in np.unique(building)]
    return float(min(max(np.median(medians), 5.0), 200.0))


def moved(p: Params, east: float, north: float, distance: float) -> Params:
    """Pose ``p`` moved to ``(east, north)`` still looking at the point ``distance`` metres ahead of it, with
    the hfov scaled to keep that point's surroundings the same size (a dolly zoom): a move then changes only
    the parallax, which the agreement can tell."""
    h = math.radians(p.heading)
    fx, fy = p.east + distance * math.sin(h), p.north + distance * math.cos(h)
    dx, dy = fx - east, fy - north
    reach = math.hypot(dx, dy)
    if reach < 1.0:
        return replace(p, east=east, north=north)
    heading = math.degrees(math.atan2(dx, dy))
    heading = p.heading + ((heading - p.heading + 180.0) % 360.0 - 180.0)
    hfov = math.degrees(2.0 * math.atan(math.tan(math.radians(p.hfov) / 2.0) * distance / reach))
    hfov = round(hfov / HFOV_QUANTUM) * HFOV_QUANTUM  # so that nearby moves share their rays
    return replace(p, east=east, north=north, heading=heading, hfov=hfov)


def _in(bounds: Bounds, p: Params, keep_hfov: float) -> Params | None:
    """``p`` within bounds, trying it with ``keep_hfov`` when only its hfov left the range."""
    q = bounds.clip(p)
    if q is None and not bounds.hfov[0] <= p.hfov <= bounds.hfov[1]:
        q = bounds.clip(replace(p, hfov=keep_hfov))
    return q


def start_positions(radius: float, spacing: float) -> list[tuple[float, float]]:
    """Offsets (east, north) of a hexagonal grid of ``spacing`` metres within ``radius`` of the given position,
    the given one left out (it is scanned first)."""
    if radius <= 0:
        return []
    out = []
    rings = int(radius // spacing + 1e-9)
    for k in range(1, rings + 1):
        for i in range(6 * k):
            a = math.radians(i * 60.0 / k)
            out.append((k * spacing * math.sin(a), k * spacing * math.cos(a)))
    return out


def starts(objective: Objective, prior: Params, known: dict[str, bool]) -> list[tuple[float, Params]]:
    """Stage 1, for each start height: every heading in range (steps of :data:`START_HEADING_STEP`) for
    every start hfov and pitch at the given position; then from each start position around it, every
    heading and hfov at the best pitch, and the best :data:`START_ORIENTATIONS` of the given position
    looking at the same scene (the heading scanned by :data:`START_NUDGE` around). The best
    :data:`STARTS_PER_HEIGHT` distinct poses of each height."""
    b = objective.scorer.bounds
    hfovs = [prior.hfov] if known["hfov"] else _spread(prior.hfov, b.hfov, START_HFOVS)
    n = max(1, int(round((b.heading[1] - b.heading[0]) / START_HEADING_STEP)))
    headings = np.linspace(b.heading[0], b.heading[1], n + 1) if n > 1 else np.array([prior.heading])
    street = start_positions(b.radius, START_SPACING)
    upper = start_positions(b.radius, 2.0 * START_SPACING)
    nudges = np.arange(-START_NUDGE, START_NUDGE + 1e-9, START_HEADING_STEP)
    chosen: list[tuple[float, Params]] = []
    for up in start_heights(prior, known, b):
        poses = [
            Params(float(h), hfov, pitch, up)
            for pitch in start_pitches(prior, known, b, up)
            for hfov in hfovs
            for h in headings
        ]
        found = objective.batch(poses)
        found.sort(key=lambda item: -item[0])
        positions = street if up <= prior.up + 1.0 else upper
        # every heading and hfov again from each start position, at the best pitch: where the camera stood
        # far from the given position, no orientation found there need be near the true one
        pitch = found[0][1].pitch
        scan = [q for q in poses if q.pitch == pitch]
        moves = [Params(q.heading, q.hfov, q.pitch, q.up, east, north) for east, north in positions for q in scan]
        for _, p in _distinct(found, START_ORIENTATIONS):
            ahead = fixation(objective.scorer, p)
            for east, north in positions:
                q = _in(b, moved(p, east, north, ahead), p.hfov) or replace(p, east=east, north=north)
                moves += [x for x in (b.clip(replace(q, heading=q.heading + d)) for d in nudges) if x is not None]
        found += objective.batch(moves)
        found.sort(key=lambda item: -item[0])
        chosen += _distinct(found, STARTS_PER_HEIGHT)
    return chosen


def neighbours(best: Params, free: list[str], steps: dict[str, float], ahead: float, bounds: Bounds) -> list[Params]:
    """One round's candidates: each free parameter moved by its step both ways; a position step keeps the
    scene ``ahead`` metres away in view (:func:`moved`) and also tries the heading a step either side
    (position and heading are tightly coupled: a sideways step turns the view)."""
    out = []
    for name in free:
        for sign in (1.0, -1.0):
            if name not in MOVING:
                out.append(replace(best, **{name: getattr(best, name) + sign * steps[name]}))
                continue
            east = best.east + (sign * steps[name] if name == "east" else 0.0)
            north = best.north + (sign * steps[name] if name == "north" else 0.0)
            centre = _in(bounds, moved(best, east, north, ahead), best.hfov) or replace(best, east=east, north=north)
            turn = steps.get("heading", 0.25)
            out += [replace(centre, heading=centre.heading + k * turn) for k in (0.0, -1.0, 1.0)]
    return [p for p in (bounds.clip(q) for q in out) if p is not None]


def climb(
    objective: Objective,
    start: Params,
    score: float,
    free: list[str],
    steps: tuple[dict[str, float], dict[str, float]],
    rounds: int,
) -> tuple[float, Params]:
    """Stages 2 to 4: each round scores every neighbour (:func:`neighbours`) in one batch and moves to the
    best if it gains, then tries the same move once more (a pattern move); after a round without gain all
    steps halve, down to their final values; at most ``rounds`` rounds of gain."""
    step, final = {k: steps[0][k] for k in free}, steps[1]
    best, best_score = start, score
    bounds = objective.scorer.bounds
    moving = any(k in MOVING for k in free)
    ahead = fixation(objective.scorer, best) if moving else 0.0
    gains = 0
    while gains < rounds:
        scored = objective.batch(neighbours(best, free, step, ahead, bounds))
        top_score, top = max(scored, key=lambda item: item[0], default=(-math.inf, best))
        if top_score > best_score + 1e-9:
            pattern = bounds.clip(Params(*(2 * getattr(top, k) - getattr(best, k) for k in (*TURNING, *MOVING))))
            best, best_score = top, top_score
            if pattern is not None:
                s = objective(pattern)
                if s > best_score + 1e-9:
                    best, best_score = pattern, s
            gains += 1
            continue
        if all(step[k] <= final[k] + 1e-12 for k in free):
            break
        step = {k: max(v / 2.0, final[k]) for k, v in step.items()}
    return best_score, best


@dataclass(frozen=True)
class Refined:
    """The outcome of a search: the pose found, the agreement before and after (fine grid), the work done."""

    params: Params
    before: float
    after: float
    evaluations: int
    renders: int
    stages: tuple[tuple[str, int, int, float], ...] = ()  # (stage, evaluations, renders, seconds)
    heights: np.ndarray | None = None  # every footprint's height as used (missing ones fitted); None: unchanged


def fit_heights(
    scene: prisms.Scene,
    grid: Grid,
    eligible: np.ndarray,
    width: int,
    height: int,
    bounds: Bounds,
    p: Params,
    unknown: np.ndarray,
) -> np.ndarray | None:
    """Every footprint's height, those flagged ``unknown`` fitted to the masks under pose ``p`` (module
    docstring): each one that some candidate height brings into view, nearest first, takes the candidate
    under which the agreement is best (its drawn height where none does better). None where no height
    changes."""
    heights = scene.heights.copy()
    tallest = np.where(unknown, max(HEIGHT_CANDIDATES), heights)
    probe = Scorer(scene.with_heights(tallest), grid, eligible, width, height, bounds)
    probe.render([probe.key(p)])
    shown = np.unique(probe.seen(p, np.array([p.heading]))) - 1
    numbered = np.flatnonzero(probe.number >= 0)
    in_view = numbered[np.isin(probe.number[numbered], shown[shown >= 0])]
    todo = [int(f) for f in in_view if unknown[f]]
    if not todo:
        return None
    ends = (scene.starts + scene.ends) / 2.0
    reach = np.hypot(ends[:, 0] - p.east, ends[:, 1] - p.north)
    todo.sort(key=lambda f: float(reach[scene.footprint == f].min()))

    def score(h: np.ndarray) -> float:
        return Scorer(scene.with_heights(h), grid, eligible, width, height, bounds).score(p)

    best_score = score(heights)
    for f in todo:
        for candidate in HEIGHT_CANDIDATES:
            trial = heights.copy()
            trial[f] = candidate
            s = score(trial)
            if s > best_score + 1e-9:
                best_score, heights = s, trial
    return None if np.array_equal(heights, scene.heights) else heights


def grids_of(width: int, height: int, sampler) -> tuple[Grid, Grid, Grid]:
    """The start, coarse and fine sample grids; ``sampler(rows, cols)`` gives the building each sample
    pixel shows."""
    out = []
    for samples in (START_SAMPLES, COARSE_SAMPLES, FINE_SAMPLES):
        rows, cols = sample_grid(width, height, samples)
        out.append(Grid(grid_stride(width, height, samples), cols + 0.5, rows + 0.5, sampler(rows, cols)))
    return out[0], out[1], out[2]


def refine(
    scene: prisms.Scene,
    grids: tuple[Grid, Grid, Grid],
    eligible: np.ndarray,
    width: int,
    height: int,
    prior: Params,
    known: dict[str, bool],
    bounds: Bounds,
    search: bool = True,
    unknown: np.ndarray | None = None,
) -> Refined:
    """Search the pose (module docstring) on the ``(start, coarse, fine)`` sample grids, then fit the heights
    of the footprints flagged ``unknown`` (:func:`fit_heights`); without ``search`` only the heights are
    fitted, at the prior pose, and the agreement measured."""
    import time

    missing = unknown is not None and bool(unknown.any())
    scorers = [Scorer(scene, g, eligible, width, height, bounds) for g in grids]
    objectives = [Objective(x, prior) for x in scorers]
    before = objectives[2].batch([prior])[0][0] + objectives[2].pull(prior)
    if not eligible.any():
        return Refined(prior, before, before, scorers[2].evaluations, scorers[2].render_count)
    if not search:
        heights = fit_heights(scene, grids[2], eligible, width, height, bounds, prior, unknown) if missing else None
        if heights is None:
            return Refined(prior, before, before, scorers[2].evaluations, scorers[2].render_count)
        after = Scorer(scene.with_heights(heights), grids[2], eligible, width, height, bounds).score(prior)
        return Refined(prior, before, after, scorers[2].evaluations, scorers[2].render_count, heights=heights)
    log: list[tuple[str, int, int, float]] = []
    clock = [time.process_time(), 0, 0]

    def note(stage: str) -> None:
        e, r, now = sum(x.evaluations for x in scorers), sum(x.render_count for x in scorers), time.process_time()
        log.append((stage, e - clock[1], r - clock[2], now - clock[0]))
        clock[:] = [now, e, r]

    free = [k for k in TURNING if getattr(bounds, k)[1] > getattr(bounds, k)[0]]
    free += list(MOVING) if bounds.radius > 0 else []
    found = sorted(starts(objectives[0], prior, known), key=lambda x: -x[0])[:CLIMBED]
    note("starts")
    climbed = sorted((climb(objectives[0], p, s, free, START_STEPS, ROUNDS[0]) for s, p in found), key=lambda x: -x[0])
    note("start grid")
    best_score, best = -math.inf, prior
    for _, p in climbed[:KEPT]:
        s, q = climb(objectives[1], p, objectives[1](p), free, COARSE_STEPS, ROUNDS[1])
        if s > best_score:
            best_score, best = s, q
    note("coarse grid")
    _, best = climb(objectives[2], best, objectives[2](best), free, FINE_STEPS, ROUNDS[2])
    note("fine grid")
    final, given = objectives[2], before
    heights = fit_heights(scene, grids[2], eligible, width, height, bounds, best, unknown) if missing else None
    if heights is not None:  # the pose climbs once more among the fitted heights
        again = [Scorer(scene.with_heights(heights), g, eligible, width, height, bounds) for g in grids[1:]]
        scorers += again
        coarse, final = (Objective(x, prior) for x in again)
        _, best = climb(coarse, best, coarse(best), free, COARSE_STEPS, ROUNDS[1])
        _, best = climb(final, best, final(best), free, FINE_STEPS, ROUNDS[2])
        final.batch([prior])
        given = final.plain[prior]
        note("heights")
    after = final.plain[best]
    if after < given:  # the given pose agrees better on the fine grid after all
        best, after = prior, given
    return Refined(
        best,
        before,
        after,
        sum(x.evaluations for x in scorers),
        sum(x.render_count for x in scorers),
        tuple(log),
        heights,
    )
