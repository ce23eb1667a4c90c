"""Linking a photo's buildings to footprints by the camera pose, and measuring each wall on its own plane.

Per photo (``facade-wwr link``):

1. the pose comes from the first ``--poses`` source that has it (``facade_wwr.poses``); unknown values take
   the ``geo.*`` defaults (``facade_wwr.geo_settings``);
2. footprints within ``geo.max_distance`` (plus ``geo.gps_error``) of the camera are put into the photo's
   local frame (``facade_wwr.geo.LocalFrame``) and the pose is refined against the kept building masks
   (``facade_wwr.refine``; footprints without a height in view take the height that agrees best with the
   masks); a photo whose agreement stays under ``geo.min_alignment`` is not linked;
3. at full resolution and the final pose (``facade_wwr.prisms``, every ray exact in slope, azimuth sampled at
   :data:`OVERSAMPLE` per pixel), each kept building gets the footprint its mask overlaps most, with the share
   of its pixels there; under ``geo.min_link_share`` it stays unlinked;
4. the building's pixels on each wall of that footprint are measured on the wall's plane: a pixel centre
   covers ``|det H^-1| / |w'|^3`` m^2 (``facade_wwr.camera``). Pixels of the mask where the render shows no
   nearer surface and whose ray meets a wall of the footprint above its recorded height count on that wall
   (a height that is missing or too low takes nothing away); pixels on the roof count in neither area. A
   window's pixels all count on the wall most of them fall on (:func:`snap_windows`: a window never turns a
   corner).
   Wall-plane WWR = window m^2 / wall m^2; the pixel WWR stays beside it; a wall seen farther than
   ``geo.max_view_angle`` from its normal is flagged ``edge_on``.

Rows of the link table: one per (photo, kept building, wall seen) for linked buildings, and one per kept
building that is not linked (``status`` says why, wall columns empty). Building ids ``b_k`` are those of
the building table (``facade_wwr.analysis``: the k-th kept building in score order).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from facade_wwr import masks, prisms, refine
from facade_wwr.analysis import KeptInstances, select_instances
from facade_wwr.camera import Camera, pixel_plane_area, plane_points, wall_homography
from facade_wwr.errors import Warnings
from facade_wwr.footprints import FootprintSet
from facade_wwr.geo import LocalFrame, normal_azimuth, orientation
from facade_wwr.geo_settings import GeoSettings
from facade_wwr.link_tables import (
    LINKED,
    LINKED_NO_WALL,
    LOW_SHARE,
    NO_FOOTPRINT,
    NO_POSE,
    NOT_ALIGNED,
    NOT_PINHOLE,
)
from facade_wwr.poses import Pose
from facade_wwr.predictions import Predictions

#: Azimuth samples per pixel in the final, full-resolution render.
OVERSAMPLE = 2
#: Height given to the linked footprint's walls when looking for mask pixels above its recorded top.
UNBOUNDED = 1.0e4
#: Rounds of giving a footprint claimed by several buildings to the best match (see link_buildings).
PEEL_ROUNDS = 3
#: A building whose footprint has this share of its pixels (or geo.min_link_share, if lower) takes part in
#: that contest, whether or not the share will do for a link: a prism drawn in front of the building
#: may hold half its pixels until the contest moves the building to the footprint behind.
CONTEST_SHARE = 0.5
#: At most about this many pixels of a mask are looked at to decide its link (the share is a ratio).
CLAIM_PIXELS = 20_000


# --------------------------------------------------------------------------- the photo's scene


@dataclass(frozen=True)
class PhotoScene:
    """Footprints near one camera in its local frame: ``members[f]`` is footprint ``f``'s index in the set."""

    frame: LocalFrame
    members: list[int]
    ids: list[str]
    known: np.ndarray  # whether each footprint's height was given
    scene: prisms.Scene


def photo_scene(footprints: FootprintSet, lat: float, lon: float, radius: float) -> PhotoScene:
    """The footprints whose outline comes within ``radius`` metres of ``(lat, lon)``, in the frame there."""
    frame = LocalFrame(lat, lon)
    candidates = footprints.near(lat, lon, radius)
    rings: list[list[np.ndarray]] = []
    members: list[int] = []
    if candidates:
        parts = [(k, r) for k in candidates for r in footprints.footprints[k].rings]
        lon_all = np.concatenate([r[:, 0] for _, r in parts])
        lat_all = np.concatenate([r[:, 1] for _, r in parts])
        east, north = frame.to_local(lon_all, lat_all)
        xy = np.stack([east, north], axis=1)
        local: dict[int, list[np.ndarray]] = {}
        at = 0
        for k, r in parts:
            local.setdefault(k, []).append(xy[at : at + len(r)])
            at += len(r)
        shapes = [shapely.MultiPolygon([shapely.Polygon(r) for r in local[k]]) for k in candidates]
        near = shapely.distance(shapes, shapely.Point(0.0, 0.0)) <= radius
        for k, keep in zip(candidates, near):
            if keep:
                members.append(k)
                rings.append(local[k])
    heights = [footprints.footprints[k].height for k in members]
    ids = [footprints.footprints[k].id for k in members]
    known = np.array([footprints.footprints[k].height_known for k in members], dtype=bool)
    return PhotoScene(frame, members, ids, known, prisms.Scene.of(rings, heights))


# --------------------------------------------------------------------------- masks


def building_samples(rles: list[dict], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The building (index into ``rles``, -1 none) each sample pixel ``(rows[i], cols[i])`` shows; where
    masks overlap the higher-scoring (earlier) one wins, as in analysis."""
    out = np.full(len(rows), -1, dtype=np.int64)
    for b in reversed(range(len(rles))):
        crop = masks.crop(rles[b])
        if crop is None:
            continue
        x0, y0, x1, y1 = crop.box
        inside = np.flatnonzero((rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1))
        hit = crop.mask[rows[inside] - y0, cols[inside] - x0]
        out[inside[hit]] = b
    return out


def window_labels(rles: list[dict], width: int, height: int) -> np.ndarray:
    """The kept window each pixel shows (index into ``rles``, -1 none), a ``(height, width)`` array; where
    window masks overlap the higher-scoring (earlier) one wins."""
    labels = np.full((height, width), -1, dtype=np.int32)
    for k in reversed(range(len(rles))):
        crop = masks.crop(rles[k])
        if crop is not None:
            x0, y0, x1, y1 = crop.box
            labels[y0:y1, x0:x1][crop.mask] = k
    return labels


# --------------------------------------------------------------------------- pose


@dataclass(frozen=True)
class Prior:
    """The pose to start from, which values its source gave, and the search bounds."""

    params: refine.Params
    known: dict[str, bool]
    bounds: refine.Bounds


def prior_of(pose: Pose, settings: GeoSettings) -> Prior:
    known = {"hfov": pose.hfov is not None, "pitch": pose.pitch is not None, "up": pose.camera_height is not None}
    hfov = pose.hfov if pose.hfov is not None else settings.hfov
    pitch = pose.pitch if pose.pitch is not None else settings.pitch
    up = pose.camera_height if pose.camera_height is not None else settings.camera_height
    spread = refine.KNOWN_SPREAD
    hfov_range = (
        (max(1.0, hfov - spread["hfov"]), min(150.0, hfov + spread["hfov"]))
        if known["hfov"]
        else (min(settings.hfov_min, hfov), max(settings.hfov_max, hfov))
    )
    pitch_range = (
        (pitch - spread["pitch"], pitch + spread["pitch"])
        if known["pitch"]
        else (pitch - settings.pitch_error, pitch + settings.pitch_error)
    )
    up_range = (
        (max(0.1, up - spread["up"]), up + spread["up"])
        if known["up"]
        else (min(1.0, up), max(settings.max_camera_height, up))
    )
    heading = pose.heading
    bounds = refine.Bounds(
        (heading - settings.heading_error, heading + settings.heading_error),
        hfov_range,
        (max(-60.0, pitch_range[0]), min(60.0, pitch_range[1])),
        up_range,
        settings.gps_error,
    )
    return Prior(refine.Params(heading, hfov, pitch, up), known, bounds)


# --------------------------------------------------------------------------- measuring


@dataclass
class WallMeasure:
    """One wall of a linked footprint as a building's mask shows it."""

    wall: int
    edge: int
    pixels: int
    window_pixels: int
    m2: float
    window_m2: float
    view_angle: float
    distance: float
    azimuth: float


@dataclass
class BuildingLink:
    """A kept building's link: footprint (index in the scene, -1 none), share of its pixels there, walls."""

    index: int
    pixels: int
    footprint: int
    share: float
    walls: list[WallMeasure] = field(default_factory=list)


class FinalView:
    """The footprints as the final camera sees them, at full resolution, over ``window`` (by default every
    azimuth the photo shows)."""

    def __init__(self, scene: prisms.Scene, camera: Camera, window: prisms.Window | None = None) -> None:
        self.scene, self.camera = scene, camera
        self.window = window or photo_window(camera)
        self.intervals = prisms.visible(scene, camera.east, camera.north, camera.up, self.window)
        self.lookup = prisms.Lookup.of(self.intervals)
        self.surface_footprint = scene.surface_footprint()

    def without(self, footprint: int, window: prisms.Window) -> FinalView:
        """The view over ``window`` with one footprint taken away (what it hides shows)."""
        s = self.scene
        keep = s.footprint != footprint
        scene = prisms.Scene(s.starts[keep], s.ends[keep], s.footprint[keep], s.wall[keep], s.heights)
        return FinalView(scene, self.camera, window)

    def surfaces(self, azimuth: np.ndarray, slope: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per ray: surface label (-1 none), footprint (-1 none), horizontal hit distance (inf none)."""
        surface, idx = self.lookup.surfaces(azimuth, slope)
        footprint = np.where(surface >= 0, self.surface_footprint[np.maximum(surface, 0)], -1)
        distance = _take(self.intervals.distance, idx, np.inf)
        roof = surface >= self.scene.n_edges
        if roof.any():
            h = self.scene.heights[footprint[roof]]
            with np.errstate(divide="ignore", invalid="ignore"):
                distance[roof] = np.where(slope[roof] < 0, (h - self.camera.up) / slope[roof], distance[roof])
        return surface, footprint, distance

    def _alone(self, f: int, height: float, walls_only: bool, window: prisms.Window):
        scene = self.scene
        edges = np.flatnonzero(scene.footprint == f)
        if edges.size == 0:
            return None
        alone = prisms.Scene(
            scene.starts[edges], scene.ends[edges], np.zeros(len(edges), int), scene.wall[edges], np.array([height])
        )
        iv = prisms.visible(alone, self.camera.east, self.camera.north, self.camera.up, window)
        if walls_only:
            w = iv.surface < alone.n_edges
            iv = prisms.Intervals(iv.window, iv.col[w], iv.lo[w], iv.hi[w], iv.surface[w], iv.distance[w])
        return edges, prisms.Lookup.of(iv)

    def raised_walls(
        self, f: int, azimuth: np.ndarray, slope: np.ndarray, window: prisms.Window
    ) -> tuple[np.ndarray, np.ndarray]:
        """Edge (-1 none) and distance of footprint ``f``'s walls raised to :data:`UNBOUNDED` along rays."""
        alone = self._alone(f, UNBOUNDED, True, window)
        if alone is None:
            return np.full(len(azimuth), -1), np.full(len(azimuth), np.inf)
        edges, lookup = alone
        surface, idx = lookup.surfaces(azimuth, slope)
        edge = np.where(surface >= 0, edges[np.maximum(surface, 0)], -1)
        return edge, _take(lookup.intervals.distance, idx, np.inf)

    def walls_of(self, f: int, azimuth: np.ndarray, slope: np.ndarray, window: prisms.Window) -> np.ndarray:
        """The edge of footprint ``f`` each ray meets when ``f`` stands alone (-1: its roof, or nothing);
        a ray passing above it meets its walls raised to :data:`UNBOUNDED`."""
        alone = self._alone(f, float(self.scene.heights[f]), False, window)
        if alone is None:
            return np.full(len(azimuth), -1)
        edges, lookup = alone
        surface, _ = lookup.surfaces(azimuth, slope)
        wall = (surface >= 0) & (surface < len(edges))
        edge = np.where(wall, edges[np.clip(surface, 0, len(edges) - 1)], -1)
        miss = np.flatnonzero(surface < 0)
        if miss.size:
            edge[miss], _ = self.raised_walls(f, azimuth[miss], slope[miss], window)
        return edge


def _take(values: np.ndarray, index: np.ndarray, fill: float) -> np.ndarray:
    """``values[index]`` where ``index >= 0``, else ``fill`` (also when ``values`` is empty)."""
    if len(values) == 0:
        return np.full(np.shape(index), fill)
    return np.where(index >= 0, values[np.maximum(index, 0)], fill)


def photo_window(camera: Camera) -> prisms.Window:
    """Azimuth samples (:data:`OVERSAMPLE` per pixel) covering every ray of the photo."""
    half = prisms.azimuth_half_width(camera.width, camera.height, camera.hfov, camera.pitch) + 0.5
    return prisms.Window.around(camera.heading, half, camera.hfov / camera.width / OVERSAMPLE)


def measure_wall(camera: Camera, scene: prisms.Scene, edge: int, u: np.ndarray, v: np.ndarray, window: np.ndarray):
    """Pixels, window pixels, m^2, window m^2, view angle (degrees) and distance (metres) of one wall's pixels."""
    start, end = scene.starts[edge], scene.ends[edge]
    along = (end - start) / np.linalg.norm(end - start)
    inverse = np.linalg.inv(wall_homography(camera, start, along))
    s, z, w = plane_points(inverse, u, v)
    area = pixel_plane_area(inverse, w)
    m2 = float(area.sum())
    window_m2 = float(area[window].sum())
    centre_s = float((area * s).sum() / m2) if m2 > 0 else 0.0
    centre_z = float((area * z).sum() / m2) if m2 > 0 else 0.0
    centre = np.array([start[0] + centre_s * along[0], start[1] + centre_s * along[1], centre_z])
    to_camera = camera.centre - centre
    distance = float(np.linalg.norm(to_camera))
    normal = np.array([along[1], -along[0], 0.0])
    cosine = float(normal @ to_camera) / max(distance, 1e-12)
    angle = math.degrees(math.acos(max(-1.0, min(1.0, cosine))))
    return len(u), int(window.sum()), m2, window_m2, angle, distance


@dataclass
class Pixels:
    """A kept building's mask pixels: rows, columns, the kept window each shows, the rays through their
    centres (azimuth, slope), and the pixels sampled to decide its link (every ``stride``-th row and column
    of a large mask)."""

    ys: np.ndarray
    xs: np.ndarray
    window_id: np.ndarray  # the kept window each pixel shows, -1 none
    azimuth: np.ndarray
    slope: np.ndarray
    sampled: np.ndarray

    @property
    def u(self) -> np.ndarray:
        return self.xs + 0.5

    @property
    def v(self) -> np.ndarray:
        return self.ys + 0.5

    def azimuths(self, camera: Camera) -> prisms.Window:
        """Azimuth samples of the final view's spacing covering this mask's rays."""
        step = camera.hfov / camera.width / OVERSAMPLE
        low = float(self.azimuth.min()) - 2 * step
        count = int(math.ceil((float(self.azimuth.max()) + 2 * step - low) / step))
        return prisms.Window(low, step, max(count, 1))


def mask_pixels(instances: KeptInstances, camera: Camera) -> list[Pixels]:
    windows = window_labels(instances.window_rles, camera.width, camera.height)
    out = []
    for rle in instances.building_rles:
        crop = masks.crop(rle)
        ys, xs = np.nonzero(crop.mask)
        ys, xs = ys + crop.y0, xs + crop.x0
        azimuth, slope = prisms.rays(camera, xs + 0.5, ys + 0.5)
        stride = max(1, int(math.ceil(math.sqrt(len(ys) / CLAIM_PIXELS))))
        sampled = np.flatnonzero((ys % stride == 0) & (xs % stride == 0)) if stride > 1 else np.arange(len(ys))
        out.append(Pixels(ys, xs, windows[ys, xs], azimuth, slope, sampled))
    return out


@dataclass
class Claim:
    """What a building's sampled pixels show in one view: the footprint they overlap most and the share of
    them there."""

    view: FinalView
    footprint: int
    share: float
    overlap: float  # pixels, scaled from the samples


def claim(view: FinalView, px: Pixels, raise_unknown: np.ndarray, window: prisms.Window) -> Claim:
    """The footprint a building's mask overlaps most in ``view``. A footprint whose height is unknown
    (``raise_unknown``) also counts the pixels where its raised walls are nearer than what the view shows
    there: its default height may be too low."""
    azimuth, slope = px.azimuth[px.sampled], px.slope[px.sampled]
    _, footprint, distance = view.surfaces(azimuth, slope)
    counts = np.bincount(footprint[footprint >= 0], minlength=view.scene.n_footprints)
    for f in np.flatnonzero((counts > 0) & raise_unknown):
        other = np.flatnonzero(footprint != f)
        e, reach = view.raised_walls(int(f), azimuth[other], slope[other], window)
        counts[f] += int(((e >= 0) & (reach < distance[other])).sum())
    if counts.sum() == 0:
        return Claim(view, -1, 0.0, 0.0)
    f = int(np.argmax(counts))
    share = float(counts[f]) / len(px.sampled)
    return Claim(view, f, share, share * len(px.ys))


def link_buildings(
    view: FinalView,
    instances: KeptInstances,
    width: int,
    height: int,
    known: np.ndarray,
    areas: np.ndarray,
    min_share: float,
) -> list[BuildingLink]:
    """Each kept building's footprint, share and measured walls at the final pose.

    A pixel is measured once, where masks overlap (a model's duplicates, a piece of a building beside the
    whole, a mask spilling over a neighbour): for the best-scoring building linked to the footprint the
    pixel shows, or, where none of those covers it, for the best-scoring one on whose footprint's walls
    (raised, see :meth:`FinalView.walls_of`) it falls.

    A footprint claimed by several buildings goes to the one whose mask matches its rendered region best
    (IoU, with ``areas`` the footprints' rendered pixel counts); each other claimant is looked at again
    with that footprint taken away, and moves to what it hid if its mask matches that better (a prism
    drawn taller than the building, a pitched roof, hides what shows above the real roof)."""
    pixels = mask_pixels(instances, view.camera)
    windows = [px.azimuths(view.camera) for px in pixels]
    raise_unknown = ~known
    claims = [claim(view, px, raise_unknown, w) for px, w in zip(pixels, windows)]

    def iou(c: Claim, b: int, area_of: np.ndarray) -> float:
        if c.footprint < 0:
            return 0.0
        return c.overlap / max(len(pixels[b].ys) + area_of[c.footprint] - c.overlap, 1)

    contest = min(CONTEST_SHARE, min_share)
    for _ in range(PEEL_ROUNDS):
        by_footprint: dict[int, list[int]] = {}
        for b, c in enumerate(claims):
            if c.footprint >= 0 and c.share >= contest:
                by_footprint.setdefault(c.footprint, []).append(b)
        moved = False
        for f, claimants in by_footprint.items():
            if len(claimants) < 2:
                continue
            claimants.sort(key=lambda b: -iou(claims[b], b, areas))
            for b in claimants[1:]:
                behind = claim(claims[b].view.without(f, windows[b]), pixels[b], raise_unknown, windows[b])
                if (
                    behind.footprint >= 0
                    and behind.share >= contest
                    and iou(behind, b, areas) > iou(claims[b], b, areas)
                ):
                    claims[b] = behind
                    moved = True
        if not moved:
            break
    # which linked building measures each pixel: first one linked to the footprint the pixel shows, then
    # (for what none of those covers) the first whose footprint's walls the pixel meets; first = best score
    linked = [b for b, c in enumerate(claims) if c.footprint >= 0 and c.share >= min_share]
    flats = {b: pixels[b].ys * width + pixels[b].xs for b in linked}
    cover = np.zeros(height * width, np.int32)
    for flat in flats.values():
        cover[flat] += 1
    owner = np.full(height * width, -1)
    candidates = {}
    for b in linked:
        c, px, flat = claims[b], pixels[b], flats[b]
        edge = c.view.walls_of(c.footprint, px.azimuth, px.slope, windows[b])
        shows = np.ones(len(flat), bool)  # what a pixel shows matters only where masks overlap
        shared = np.flatnonzero(cover[flat] > 1)
        if shared.size:
            shows[shared] = c.view.surfaces(px.azimuth[shared], px.slope[shared])[1] == c.footprint
        candidates[b] = (edge, flat, shows)
    for own in (True, False):
        for b in linked:
            edge, flat, shows = candidates[b]
            take = (edge >= 0) & (shows == own) & (owner[flat] < 0)
            owner[flat[take]] = b
    out = []
    for b, (c, px) in enumerate(zip(claims, pixels)):
        link = BuildingLink(b, len(px.ys), c.footprint, c.share)
        out.append(link)
        if b not in candidates:
            continue
        scene = c.view.scene
        edge, flat, _ = candidates[b]
        edge = snap_windows(np.where(owner[flat] == b, edge, -1), px.window_id)
        order = np.argsort(edge, kind="stable")
        sorted_edges = edge[order]
        present = np.flatnonzero(np.bincount(edge[edge >= 0], minlength=scene.n_edges))
        bounds = np.searchsorted(sorted_edges, np.stack([present, present + 1]))
        for e, lo, hi in zip(present, bounds[0], bounds[1]):
            on = order[lo:hi]  # the pixels on wall e
            window = px.window_id[on] >= 0
            n, wn, m2, wm2, angle, dist = measure_wall(view.camera, scene, int(e), px.u[on], px.v[on], window)
            d = scene.ends[e] - scene.starts[e]
            azimuth = normal_azimuth(float(d[0]), float(d[1]))
            link.walls.append(WallMeasure(int(scene.wall[e]), int(e), n, wn, m2, wm2, angle, dist, azimuth))
    return out


def snap_windows(edge: np.ndarray, window_id: np.ndarray) -> np.ndarray:
    """``edge`` (each pixel's wall, -1 none) with every window's measured pixels on the one wall most of them
    fall on: a window never turns a corner, so a window mask that the corner of a slightly wrong pose cuts
    counts on its wall, not a little on the blank one beside it."""
    on = np.flatnonzero((window_id >= 0) & (edge >= 0))
    if not on.size:
        return edge
    ids, walls = window_id[on].astype(np.int64), edge[on]
    n_walls = int(walls.max()) + 1
    counts = np.bincount(ids * n_walls + walls, minlength=(int(ids.max()) + 1) * n_walls).reshape(-1, n_walls)
    out = edge.copy()
    out[on] = counts.argmax(axis=1)[ids]  # each window's most frequent wall
    return out


def footprint_areas(view: FinalView, width: int, height: int, stride: int) -> np.ndarray:
    """Rendered pixel count of every footprint in ``view`` (sampled every ``stride`` pixels)."""
    rows, cols = refine.sample_grid(width, height, width * height // (stride * stride))
    _, footprint, _ = view.surfaces(*prisms.rays(view.camera, cols + 0.5, rows + 0.5))
    counts = np.bincount(footprint[footprint >= 0], minlength=view.scene.n_footprints)
    return counts * (width * height / max(len(rows), 1))


# --------------------------------------------------------------------------- one photo


@dataclass
class PhotoLinks:
    """One photo's outcome: its rows, the final camera and scene (for overlays), and what to report."""

    rows: list[dict[str, Any]]
    image: str
    camera: Camera | None = None
    scene: PhotoScene | None = None
    links: list[BuildingLink] = field(default_factory=list)
    instances: KeptInstances | None = None
    before: float | None = None
    after: float | None = None
    status: str = ""
    timings: list[tuple[str, float]] = field(default_factory=list)  # (stage, CPU seconds), for benchmarks
    work: tuple[int, int] = (0, 0)  # poses scored and camera positions rendered by the refinement


def _pose_columns(frame: LocalFrame | None, params: refine.Params | None, pose: Pose | None, refined: bool) -> dict:
    if params is None or frame is None or pose is None:
        return {k: None for k in ("lat", "lon", "heading", "pitch", "hfov", "camera_height")} | {
            "pose_source": pose.source if pose else None,
            "refined": None,
        }
    lon, lat = frame.to_lonlat(params.east, params.north)
    return {
        "lat": float(lat),
        "lon": float(lon),
        "heading": params.heading % 360.0,
        "pitch": params.pitch,
        "hfov": params.hfov,
        "camera_height": params.up,
        "pose_source": pose.source,
        "refined": refined,
    }


def _base_row(pred: Predictions, instances: KeptInstances, b: int, status: str) -> dict[str, Any]:
    return {
        "file_name": pred.image,
        "id": f"b_{b}",
        "instance": int(instances.buildings["instance"].iloc[b]),
        "status": status,
        "building_pixels": int(masks.area(instances.building_rles[b])),
    }


def unlinked_rows(pred: Predictions, instances: KeptInstances, status: str, extra: dict) -> list[dict[str, Any]]:
    return [_base_row(pred, instances, b, status) | extra for b in range(len(instances.building_rles))]


def link_photo(
    pred: Predictions,
    source: str | Path,
    pose: Pose | None,
    footprints: FootprintSet,
    settings: GeoSettings,
    threshold: float,
    warnings: Warnings,
    search: bool = True,
    why_no_pose: str = "",
) -> PhotoLinks:
    """Link one photo's kept buildings (module docstring); warnings name the photo and building."""
    instances = select_instances(pred, threshold, source, warnings)
    n = len(instances.building_rles)
    if pose is None:
        status = NOT_PINHOLE if why_no_pose.startswith("not pinhole") else NO_POSE
        if n:
            warnings.warn(
                f"{source}: photo {pred.image}: no camera pose ({why_no_pose}); its {n} buildings stay unlinked"
            )
        return PhotoLinks(unlinked_rows(pred, instances, status, _pose_columns(None, None, None, False)), pred.image)
    if n == 0:  # nothing to link; the footprints at the pose as given still make an overlay to check by eye
        scene = photo_scene(footprints, pose.lat, pose.lon, settings.max_distance + settings.gps_error)
        camera = prior_of(pose, settings).params.camera(pred.width, pred.height)
        return PhotoLinks([], pred.image, camera, scene, instances=instances)
    clock = [time.process_time()]
    timings: list[tuple[str, float]] = []

    def note(stage: str) -> None:
        now = time.process_time()
        timings.append((stage, now - clock[0]))
        clock[0] = now

    scene = photo_scene(footprints, pose.lat, pose.lon, settings.max_distance + settings.gps_error)
    note("footprints in range")
    prior = prior_of(pose, settings)
    width, height = pred.width, pred.height
    grids = refine.grids_of(width, height, lambda rows, cols: building_samples(instances.building_rles, rows, cols))
    areas = masks.areas(instances.building_rles)
    eligible = areas >= refine.MIN_SHARE * width * height
    note("sample grids")
    result = refine.refine(
        scene.scene, grids, eligible, width, height, prior.params, prior.known, prior.bounds, search, ~scene.known
    )
    if result.heights is not None:  # missing heights fitted to the masks
        scene = replace(scene, scene=scene.scene.with_heights(result.heights))
    timings += [(f"refine: {stage}", seconds) for stage, _, _, seconds in result.stages]
    work = (result.evaluations, result.renders)
    clock[0] = time.process_time()
    refined = result.params != prior.params
    pose_columns = _pose_columns(scene.frame, result.params, pose, refined)
    alignment = {"alignment_before": result.before, "alignment": result.after}
    camera = result.params.camera(width, height)
    out = PhotoLinks(
        [],
        pred.image,
        camera,
        scene,
        instances=instances,
        before=result.before,
        after=result.after,
        timings=timings,
        work=work,
    )
    if result.after < settings.min_alignment:
        warnings.warn(
            f"{source}: photo {pred.image}: the footprints agree with its buildings at {result.after:.2f} at best "
            f"(geo.min_alignment {settings.min_alignment:g}); its {n} buildings stay unlinked"
        )
        out.rows = unlinked_rows(pred, instances, NOT_ALIGNED, alignment | pose_columns)
        out.status = NOT_ALIGNED
        return out
    view = FinalView(scene.scene, camera)
    areas = footprint_areas(view, width, height, 4)
    out.links = link_buildings(view, instances, width, height, scene.known, areas, settings.min_link_share)
    note("link and measure")
    for link in out.links:
        base = _base_row(pred, instances, link.index, LINKED) | alignment | pose_columns
        base["link_share"] = link.share
        if link.footprint < 0 or not scene.ids[link.footprint]:
            base["status"] = NO_FOOTPRINT
            what = "no footprint" if link.footprint < 0 else "a footprint without an id"
            warnings.warn(f"{source}: photo {pred.image}: building b_{link.index} lies on {what}, not linked")
            out.rows.append(base)
            continue
        fid = scene.ids[link.footprint]
        if link.share < settings.min_link_share:
            base["status"] = LOW_SHARE
            warnings.warn(
                f"{source}: photo {pred.image}: building b_{link.index} has only {100 * link.share:.0f}% of its "
                f"pixels on footprint {fid} (geo.min_link_share {settings.min_link_share:g}), not linked"
            )
            out.rows.append(base)
            continue
        base["footprint_id"] = fid
        if not link.walls:
            base["status"] = LINKED_NO_WALL
            out.rows.append(base)
            continue
        for w in link.walls:
            azimuth = w.azimuth
            out.rows.append(
                base
                | {
                    "wall": w.wall,
                    "wall_azimuth": azimuth,
                    "orientation": orientation(azimuth),
                    "view_angle": w.view_angle,
                    "edge_on": w.view_angle > settings.max_view_angle,
                    "distance_m": w.distance,
                    "wall_pixels": w.pixels,
                    "window_pixels": w.window_pixels,
                    "wall_m2": w.m2,
                    "window_m2": w.window_m2,
                    "pixel_wwr": w.window_pixels / w.pixels if w.pixels else None,
                    "plane_wwr": w.window_m2 / w.m2 if w.m2 > 0 else None,
                }
            )
    out.status = LINKED
    return out


def overlay_labels(result: PhotoLinks) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of the photo at its final pose: footprint (index in the scene, -1 none) and wall (-1 none,
    or on a roof), for drawing."""
    camera, scene = result.camera, result.scene
    assert camera is not None and scene is not None
    view = FinalView(scene.scene, camera)
    u, v = np.meshgrid(np.arange(camera.width) + 0.5, np.arange(camera.height) + 0.5)
    surface, footprint, _ = view.surfaces(*prisms.rays(camera, u.ravel(), v.ravel()))
    wall = np.where(
        (surface >= 0) & (surface < scene.scene.n_edges),
        scene.scene.wall[np.maximum(surface, 0) % max(scene.scene.n_edges, 1)],
        -1,
    )
    shape = (camera.height, camera.width)
    return footprint.reshape(shape), wall.reshape(shape)


def building_labels(result: PhotoLinks) -> list[str]:
    """What an overlay writes under each kept building: ``b_k -> footprint id (share)`` or why not."""
    by_id: dict[str, dict[str, Any]] = {}
    for row in result.rows:
        by_id.setdefault(row["id"], row)
    out = []
    for b in range(len(result.instances.building_rles) if result.instances else 0):
        row = by_id.get(f"b_{b}", {})
        if row.get("footprint_id"):
            out.append(f"b_{b} -> {row['footprint_id']} ({100 * row['link_share']:.0f}%)")
        else:
            out.append(f"b_{b}: {row.get('status', '')}")
    return out


def caption(result: PhotoLinks, pose: Pose) -> str:
    """The overlay's caption: agreement before and after refinement, and the final pose."""
    c = result.camera
    assert c is not None
    agreement = (
        f"agreement {result.before:.2f} -> {result.after:.2f}"
        if result.before is not None and result.after is not None
        else "no building kept (pose as given)"
    )
    return (
        f"{result.image}: {agreement}\n"
        f"heading {c.heading % 360:.1f} deg, hfov {c.hfov:.1f} deg, pitch {c.pitch:.1f} deg, "
        f"camera {c.up:.1f} m, moved {math.hypot(c.east, c.north):.1f} m ({pose.source})"
    )
