"""Views of the synthetic city: camera poses on the streets, occluders, traced VIA instances, per-view truth.

A view is a pure function of ``(seed, split, index)`` and the city: its own random stream picks a target
wall, a camera standing on a street (or, now and then, at an upper floor across it) that looks at the
wall head-on or up to 60 degrees off its normal, a few cars, hedges and trees on the ground in front of
the wall, and the lighting. Instances are traced by :mod:`facade_wwr.outline` (exact, checked by its
round trip); a building or window whose visible part is not one hole-free 4-connected region is
left out of the VIA file (and counted), never drawn wrongly. Occluders are kept only if they leave every
traceable building and window traceable and hide at most half of any building they touch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon

from facade_wwr.camera import Camera, f35_from_hfov, hfov_from_f35
from facade_wwr.city import City, Wall, ratio_text
from facade_wwr.city_render import (
    FRAME,
    GROUND,
    OCCLUDER,
    ROOF,
    SKY,
    WALL,
    Buffers,
    Hit,
    Palette,
    Sphere,
    Surface,
    SurfaceSet,
    apply_hit,
    hsv,
    occluder_hits,
    paint,
    prism_surfaces,
    random_look,
    render_buildings,
)
from facade_wwr.geo import orientation
from facade_wwr.outline import trace_polygon

#: Split name -> stream id in the seeds of its views.
SPLITS: dict[str, int] = {"train": 0, "val": 1, "photos": 2}
HFOV = (50.0, 90.0)
STREET_CAMERA_HEIGHT = (1.5, 2.5)
UPPER_CAMERA_HEIGHT = (10.0, 20.0)
UPPER_SHARE = 0.1
#: Metres from the aimed-at point of the target wall to the camera (street level, upper floor).
STREET_DISTANCE = (6.0, 14.0)
UPPER_DISTANCE = (10.0, 25.0)
#: Share of views up to MAX_OFF_NORMAL degrees off the target wall's normal; the others are within 8 degrees.
OBLIQUE_SHARE = 0.6
MAX_OFF_NORMAL = 60.0
F35_SHARE = 0.5
POSE_TRIES = 8
#: A view is redrawn (up to POSE_TRIES times) unless its target building covers this share of the image
#: and the buildings left out of the VIA file (not one hole-free region) cover less than DROPPED_SHARE.
MIN_TARGET_SHARE = 0.04
DROPPED_SHARE = 0.02


@dataclass(frozen=True)
class Pose:
    """A camera and how it was chosen: target footprint and wall, angle off the wall normal, written f35."""

    camera: Camera
    target: int
    wall: int
    off_normal: float
    f35: int | None


@dataclass(frozen=True)
class Streets:
    """Shapely geometry of the city, for placing cameras and occluders."""

    footprints: list[Polygon]
    blocks: list[Polygon]

    @classmethod
    def of(cls, city: City) -> Streets:
        return cls([Polygon(fp.ring) for fp in city.footprints], [Polygon(b) for b in city.blocks])

    def on_street(self, point: np.ndarray, clearance: float) -> bool:
        """Outside every block, at least ``clearance`` metres from its edge."""
        p = Point(point)
        return bool(min(shapely.distance(self.blocks, p)) >= clearance)

    def clear_sight(self, a: np.ndarray, b: np.ndarray) -> bool:
        """No footprint crosses the ground segment from ``a`` to ``b``."""
        return not bool(shapely.intersects(self.footprints, LineString([a, b])).any())


def _target_walls(city: City) -> list[Wall]:
    return [w for fp in city.footprints for w in fp.exterior_walls() if w.length >= 4.0]


def sample_pose(rng: np.random.Generator, city: City, streets: Streets, width: int, height: int) -> Pose:
    """A camera on a street looking at a random wall; redrawn until it stands in the open with a clear view."""
    walls = _target_walls(city)
    weights = np.array([w.length * (1.0 if w.openings else 0.3) for w in walls])  # blank walls less often
    for _ in range(200):
        wall = walls[int(rng.choice(len(walls), p=weights / weights.sum()))]
        upper = rng.random() < UPPER_SHARE
        oblique = rng.random() < OBLIQUE_SHARE
        off = float(rng.uniform(-MAX_OFF_NORMAL, MAX_OFF_NORMAL) if oblique else rng.uniform(-8.0, 8.0))
        aim = np.array(wall.start) + float(rng.uniform(0.25, 0.75)) * wall.length * wall.along
        distance = float(rng.uniform(*(UPPER_DISTANCE if upper else STREET_DISTANCE)))
        direction = math.cos(math.radians(off)) * wall.normal + math.sin(math.radians(off)) * wall.along
        ground = aim + distance * direction
        if not streets.on_street(ground, 0.5) or not streets.clear_sight(ground, aim + 0.05 * wall.normal):
            continue
        to_aim = aim - ground
        heading = (math.degrees(math.atan2(to_aim[0], to_aim[1])) + float(rng.uniform(-10.0, 10.0))) % 360.0
        up = float(rng.uniform(*(UPPER_CAMERA_HEIGHT if upper else STREET_CAMERA_HEIGHT)))
        pitch = float(rng.uniform(-10.0, 0.0) if upper else rng.uniform(-3.0, 10.0))
        hfov = float(rng.uniform(*HFOV))
        f35 = None
        if rng.random() < F35_SHARE:  # EXIF stores an integer: render with the hfov it gives back
            f35 = int(round(f35_from_hfov(hfov, width, height)))
            hfov = hfov_from_f35(f35, width, height)
        camera = Camera(float(ground[0]), float(ground[1]), up, heading, pitch, hfov, width, height)
        return Pose(camera, wall.footprint, wall.index, off, f35)
    raise RuntimeError("no camera position found on the streets")  # pragma: no cover - the grid has streets


# --------------------------------------------------------------------------- occluders


@dataclass(frozen=True)
class Occluder:
    """Parts of a car, hedge or tree standing on the ground; colours of part 0 and part 1."""

    kind: str
    ring: np.ndarray  # its ground outline
    surfaces: tuple[Surface, ...]
    spheres: tuple[Sphere, ...]
    colours: tuple[np.ndarray, np.ndarray]


def _box_ring(centre: np.ndarray, along: np.ndarray, length: float, width: float) -> np.ndarray:
    across = np.array([-along[1], along[0]])
    hl, hw = along * length / 2, across * width / 2
    return np.array([centre - hl - hw, centre + hl - hw, centre + hl + hw, centre - hl + hw])


def make_occluder(rng: np.random.Generator, owner: int, wall: Wall) -> Occluder:
    """A car, hedge or tree in front of ``wall``, parallel to it (its placement is checked by the caller)."""
    kind = str(rng.choice(["car", "hedge", "tree"], p=[0.5, 0.25, 0.25]))
    along, normal = wall.along, wall.normal
    s = float(rng.uniform(-2.0, wall.length + 2.0))
    foot = np.array(wall.start) + s * along
    if kind == "car":
        length, width = float(rng.uniform(4.2, 4.8)), float(rng.uniform(1.7, 1.85))
        centre = foot + normal * float(rng.uniform(1.5, 3.5) + width / 2)
        ring = _box_ring(centre, along, length, width)
        cabin = _box_ring(
            centre + along * float(rng.uniform(-0.4, 0.2)), along, float(rng.uniform(2.2, 2.7)), width - 0.3
        )
        body_top = float(rng.uniform(0.9, 1.1))
        surfaces = prism_surfaces(OCCLUDER, owner, 0, ring, 0.0, body_top)
        surfaces += prism_surfaces(OCCLUDER, owner, 1, cabin, body_top, body_top + float(rng.uniform(0.45, 0.6)))
        colours = (
            hsv(float(rng.uniform(0, 360)), float(rng.uniform(0, 0.8)), float(rng.uniform(0.2, 0.95))),
            hsv(210, 0.3, 0.15),
        )
        return Occluder(kind, ring, tuple(surfaces), (), colours)
    if kind == "hedge":
        length, depth = float(rng.uniform(1.5, 6.0)), float(rng.uniform(0.5, 1.0))
        ring = _box_ring(foot + normal * float(rng.uniform(0.4, 1.0) + depth / 2), along, length, depth)
        surfaces = prism_surfaces(OCCLUDER, owner, 0, ring, 0.0, float(rng.uniform(0.7, 1.4)))
        green = hsv(float(rng.uniform(90, 140)), float(rng.uniform(0.4, 0.7)), float(rng.uniform(0.25, 0.5)))
        return Occluder(kind, ring, tuple(surfaces), (), (green, green))
    trunk_height, radius = float(rng.uniform(2.2, 3.2)), float(rng.uniform(1.2, 2.2))
    centre = foot + normal * float(rng.uniform(1.0, 3.0) + radius)
    ring = _box_ring(centre, along, 0.3, 0.3)
    surfaces = prism_surfaces(OCCLUDER, owner, 1, ring, 0.0, trunk_height + 0.2 * radius)
    crown = Sphere(owner, 0, np.array([centre[0], centre[1], trunk_height + 0.6 * radius]), radius)
    green = hsv(float(rng.uniform(80, 140)), float(rng.uniform(0.4, 0.8)), float(rng.uniform(0.25, 0.55)))
    return Occluder(kind, ring, tuple(surfaces), (crown,), (green, hsv(25, 0.5, 0.3)))


def _placeable(occluder: Occluder, streets: Streets, camera: Camera) -> bool:
    """Clear of every footprint (0.2 m) and of the camera (2.5 m), a tree with its crown."""
    reach = Polygon(occluder.ring)
    if occluder.spheres:  # a crown reaches out over its trunk
        reach = reach.buffer(occluder.spheres[0].radius)
    if min(shapely.distance(streets.footprints, reach)) < 0.2:
        return False
    return bool(reach.distance(Point(camera.east, camera.north)) >= 2.5)


# --------------------------------------------------------------------------- instances


def building_mask(buffers: Buffers) -> np.ndarray:
    return (buffers.kind == WALL) | (buffers.kind == ROOF)


def window_mask(buffers: Buffers, palette: Palette) -> np.ndarray:
    ids = buffers.opening
    return (buffers.kind == WALL) & (ids >= 0) & palette.is_window[np.maximum(ids, 0)]


def _boxes(labels: np.ndarray, selected: np.ndarray) -> dict[int, tuple[int, int, int, int]]:
    """Bounding box ``(x0, y0, x1, y1)`` (exclusive ends) of every label among the ``selected`` pixels."""
    ys, xs = np.nonzero(selected)
    if ys.size == 0:
        return {}
    ids = labels[ys, xs]
    order = np.argsort(ids, kind="stable")
    ids, ys, xs = ids[order], ys[order], xs[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    x0, x1 = np.minimum.reduceat(xs, starts), np.maximum.reduceat(xs, starts) + 1
    y0, y1 = np.minimum.reduceat(ys, starts), np.maximum.reduceat(ys, starts) + 1
    return {int(ids[i]): (int(x0[k]), int(y0[k]), int(x1[k]), int(y1[k])) for k, i in enumerate(starts)}


def _trace(labels: np.ndarray, selected: np.ndarray, label: int, box: tuple[int, int, int, int]):
    """The VIA polygon of the pixels with ``labels == label`` among ``selected`` in ``box``, or None."""
    x0, y0, x1, y1 = box
    crop = (labels[y0:y1, x0:x1] == label) & selected[y0:y1, x0:x1]
    return trace_polygon(crop, (x0, y0))


@dataclass
class BuildingInstance:
    """A footprint's visible part in a view: pixel count, box, VIA polygon (None if left out) and its windows."""

    footprint: int
    pixels: int
    box: tuple[int, int, int, int]
    polygon: tuple[list[float], list[float]] | None
    windows: list[tuple[int, tuple[list[float], list[float]]]] = field(default_factory=list)  # (opening id, polygon)
    windows_dropped: int = 0


def extract_instances(buffers: Buffers, palette: Palette) -> list[BuildingInstance]:
    """Every visible building with its traced polygon and traced windows.

    Order (the VIA order): buildings with a polygon, largest first (ties by footprint index), then those
    left out. A window is kept even if its building is left out (a window is a window); one whose visible
    part cannot be traced is counted in ``windows_dropped``.
    """
    bmask = building_mask(buffers)
    wmask = window_mask(buffers, palette)
    counts = np.bincount(buffers.owner[bmask], minlength=len(palette.wall))
    out = [
        BuildingInstance(f, int(counts[f]), box, _trace(buffers.owner, bmask, f, box))
        for f, box in _boxes(buffers.owner, bmask).items()
    ]
    by_footprint = {b.footprint: b for b in out}
    for k, box in sorted(_boxes(buffers.opening, wmask).items()):
        b = by_footprint[int(palette.opening_footprint[k])]
        polygon = _trace(buffers.opening, wmask, k, box)
        if polygon is None:
            b.windows_dropped += 1
        else:
            b.windows.append((k, polygon))
    out.sort(key=lambda b: (b.polygon is None, -b.pixels, b.footprint))
    return out


#: An occluder may hide at most this share of any building it stands in front of.
MAX_HIDDEN = 0.5


def _still_fine(labels: np.ndarray, old: np.ndarray, covered: np.ndarray, label: int, box, max_hidden: float) -> bool:
    """Whether instance ``label`` (pixels ``labels == label`` among ``old``) keeps at least ``1 - max_hidden``
    of its pixels once ``covered`` is hidden, and stays one hole-free polygon if it was one."""
    x0, y0, x1, y1 = box
    before = (labels[y0:y1, x0:x1] == label) & old[y0:y1, x0:x1]
    after = before & ~covered[y0:y1, x0:x1]
    if after.sum() < (1.0 - max_hidden) * before.sum():
        return False
    return trace_polygon(before, (x0, y0)) is None or trace_polygon(after, (x0, y0)) is not None


def _occluder_keeps_instances(buffers: Buffers, hits: list[tuple[Hit, int]], palette: Palette) -> bool:
    """True if the occluder hides at most MAX_HIDDEN of each building it covers and leaves every traceable
    building and window it covers traceable."""
    covered = np.zeros(buffers.kind.shape, dtype=bool)
    for hit, _ in hits:
        x0, y0, x1, y1 = hit.box
        covered[y0:y1, x0:x1] |= hit.mask
    for labels, old, max_hidden in (
        (buffers.owner, building_mask(buffers), MAX_HIDDEN),
        (buffers.opening, window_mask(buffers, palette), 1.0),
    ):
        touched = np.unique(labels[covered & old]).tolist()
        if not touched:
            continue
        boxes = _boxes(labels, old)
        if not all(_still_fine(labels, old, covered, label, boxes[label], max_hidden) for label in touched):
            return False
    return True


def add_occluders(
    rng: np.random.Generator, pose: Pose, city: City, streets: Streets, buffers: Buffers, palette: Palette
) -> list[Occluder]:
    """Place 0-3 occluders in front of the target wall; keep those that break no instance."""
    wall = city.footprints[pose.target].walls[pose.wall]
    kept: list[Occluder] = []
    for _ in range(int(rng.choice(4, p=[0.3, 0.35, 0.25, 0.1]))):
        occluder = make_occluder(rng, len(kept), wall)
        if not _placeable(occluder, streets, pose.camera):
            continue
        hits = occluder_hits(pose.camera, list(occluder.surfaces), list(occluder.spheres), buffers)
        if not hits or not _occluder_keeps_instances(buffers, hits, palette):
            continue
        for hit, part in hits:
            apply_hit(buffers, hit, OCCLUDER, len(kept), part)
        kept.append(occluder)
    return kept


# --------------------------------------------------------------------------- one view


@dataclass
class View:
    """A rendered view: pose, labels, photo, instances (VIA order) and occluders."""

    split: str
    index: int
    pose: Pose
    buffers: Buffers
    image: np.ndarray
    instances: list[BuildingInstance]
    occluders: list[Occluder]


def _acceptable(buffers: Buffers, instances: list[BuildingInstance], target: int) -> bool:
    pixels = buffers.kind.size
    target_pixels = sum(b.pixels for b in instances if b.footprint == target)
    dropped = sum(b.pixels for b in instances if b.polygon is None)
    return target_pixels >= MIN_TARGET_SHARE * pixels and dropped < DROPPED_SHARE * pixels


def make_view(
    seed: int,
    split: str,
    index: int,
    city: City,
    streets: Streets,
    surfaces: SurfaceSet,
    palette: Palette,
    size: tuple[int, int],
) -> View:
    """One view of the city: a pure function of its arguments."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, SPLITS[split], index]))
    width, height = size
    for _ in range(POSE_TRIES):
        pose = sample_pose(rng, city, streets, width, height)
        buffers = render_buildings(pose.camera, surfaces)
        instances = extract_instances(buffers, palette)
        if _acceptable(buffers, instances, pose.target):
            break
    occluders = add_occluders(rng, pose, city, streets, buffers, palette)
    if occluders:
        instances = extract_instances(buffers, palette)
    colours = tuple(c for o in occluders for c in o.colours)
    image = paint(rng, pose.camera, buffers, palette, random_look(rng, colours))
    return View(split, index, pose, buffers, image, instances, occluders)


# --------------------------------------------------------------------------- truth of a view

VIEW_COLUMNS = [
    "split",
    "file_name",
    "footprint_id",
    "wall",
    "azimuth",
    "orientation",
    "party_wall",
    "view_angle",
    "distance_m",
    "wall_pixels",
    "window_pixels",
    "wall_m2",
    "window_m2",
    "pixel_wwr",
    "plane_wwr",
    "whole_wall_wwr",
]
VIEW_BUILDING_COLUMNS = [
    "split",
    "file_name",
    "building",
    "via_region",
    "footprint_id",
    "pixel_area",
    "wall_pixels",
    "roof_pixels",
    "window_pixels",
    "window_count",
    "windows_dropped",
    "window_percentage",
    "pixel_wwr",
    "wall_m2",
    "window_m2",
    "plane_wwr",
    "x0",
    "y0",
    "x1",
    "y1",
]
PHOTO_COLUMNS = [
    "split",
    "file_name",
    "width",
    "height",
    "sky_pixels",
    "ground_pixels",
    "wall_pixels",
    "roof_pixels",
    "occluder_pixels",
    "frame_pixels",
    "window_pixels",
    "buildings",
    "buildings_in_via",
    "windows_in_via",
    "windows_dropped",
    "occluders",
]


@dataclass(frozen=True)
class WallSums:
    """Per (footprint, wall) sums of one view's visible wall pixels."""

    keys: np.ndarray  # (k, 2): footprint index, wall index
    pixels: np.ndarray
    window_pixels: np.ndarray
    m2: np.ndarray
    window_m2: np.ndarray
    s_mean: np.ndarray  # area-weighted mean of the visible part's wall coordinates
    z_mean: np.ndarray


def wall_sums(buffers: Buffers, palette: Palette) -> WallSums:
    walls = buffers.kind == WALL
    windows = window_mask(buffers, palette)[walls]
    key = palette.wall_offset[buffers.owner[walls]] + buffers.wall[walls]
    n = len(palette.wall_azimuth)
    area = buffers.area[walls]
    pixels = np.bincount(key, minlength=n)
    m2 = np.bincount(key, weights=area, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        s_mean = np.bincount(key, weights=area * buffers.s[walls], minlength=n) / m2
        z_mean = np.bincount(key, weights=area * buffers.t[walls], minlength=n) / m2
    seen = np.flatnonzero(pixels)
    footprint = np.searchsorted(palette.wall_offset, seen, side="right") - 1
    return WallSums(
        keys=np.stack([footprint, seen - palette.wall_offset[footprint]], axis=1),
        pixels=pixels[seen],
        window_pixels=np.bincount(key, weights=windows, minlength=n)[seen].astype(np.int64),
        m2=m2[seen],
        window_m2=np.bincount(key, weights=area * windows, minlength=n)[seen],
        s_mean=s_mean[seen],
        z_mean=z_mean[seen],
    )


def view_rows(view: View, file_name: str, city: City, palette: Palette) -> list[dict]:
    """One row per (footprint, wall) seen: visible wall and window pixels and m^2, their two WWRs.

    ``wall_pixels`` counts every visible pixel of the wall, windows included; ``view_angle`` is the angle
    between the outward normal and the direction to the camera from the area-weighted centre of the
    visible part (beyond ~75 degrees a wall is seen nearly edge-on and its m^2 rest on few pixels).
    """
    sums = wall_sums(view.buffers, palette)
    camera = view.pose.camera
    rows = []
    for k, (f, w) in enumerate(sums.keys.tolist()):
        wall = city.footprints[f].walls[w]
        centre = np.array([*(np.array(wall.start) + sums.s_mean[k] * wall.along), sums.z_mean[k]])
        to_camera = camera.centre - centre
        distance = float(np.linalg.norm(to_camera))
        cosine = float(np.append(wall.normal, 0.0) @ to_camera) / distance
        rows.append(
            {
                "split": view.split,
                "file_name": file_name,
                "footprint_id": city.footprints[f].id,
                "wall": w,
                "azimuth": f"{wall.azimuth:.4f}",
                "orientation": orientation(wall.azimuth),
                "party_wall": int(wall.party),
                "view_angle": f"{math.degrees(math.acos(max(-1.0, min(1.0, cosine)))):.3f}",
                "distance_m": f"{distance:.3f}",
                "wall_pixels": int(sums.pixels[k]),
                "window_pixels": int(sums.window_pixels[k]),
                "wall_m2": f"{sums.m2[k]:.6f}",
                "window_m2": f"{sums.window_m2[k]:.6f}",
                "pixel_wwr": ratio_text(sums.window_pixels[k], sums.pixels[k]),
                "plane_wwr": ratio_text(sums.window_m2[k], sums.m2[k]),
                "whole_wall_wwr": ratio_text(wall.window_area, wall.area),
            }
        )
    return rows


def view_building_rows(
    view: View, file_name: str, city: City, palette: Palette, via_regions: list[int | None]
) -> list[dict]:
    """One row per visible building, in VIA order (``building`` k is the k-th building region; empty for a
    building left out of the VIA file, listed last)."""
    b = view.buffers
    bmask, wmask = building_mask(b), window_mask(b, palette)
    n = len(city.footprints)
    owner = np.where(bmask, b.owner, n)
    pixels = np.bincount(owner.ravel(), minlength=n + 1)
    walls = np.bincount(owner[b.kind == WALL], minlength=n + 1)
    windows = np.bincount(owner[wmask], minlength=n + 1)
    m2 = np.bincount(owner[b.kind == WALL], weights=b.area[b.kind == WALL], minlength=n + 1)
    window_m2 = np.bincount(owner[wmask], weights=b.area[wmask], minlength=n + 1)
    rows = []
    k = 0
    for inst, region in zip(view.instances, via_regions):
        f = inst.footprint
        x0, y0, x1, y1 = inst.box
        rows.append(
            {
                "split": view.split,
                "file_name": file_name,
                "building": k if region is not None else "",
                "via_region": region if region is not None else "",
                "footprint_id": city.footprints[f].id,
                "pixel_area": int(pixels[f]),
                "wall_pixels": int(walls[f]),
                "roof_pixels": int(pixels[f] - walls[f]),
                "window_pixels": int(windows[f]),
                "window_count": len(inst.windows),
                "windows_dropped": inst.windows_dropped,
                "window_percentage": ratio_text(windows[f], pixels[f]),
                "pixel_wwr": ratio_text(windows[f], walls[f]),
                "wall_m2": f"{m2[f]:.6f}",
                "window_m2": f"{window_m2[f]:.6f}",
                "plane_wwr": ratio_text(window_m2[f], m2[f]),
                "x0": x0,
                "y0": y0,
                "x1": x1,
                "y1": y1,
            }
        )
        k += region is not None
    return rows


def photo_row(view: View, file_name: str, palette: Palette) -> dict:
    """Pixel counts of one view by kind (they add up to width x height)."""
    b = view.buffers
    counts = np.bincount(b.kind.ravel(), minlength=6)
    return {
        "split": view.split,
        "file_name": file_name,
        "width": view.pose.camera.width,
        "height": view.pose.camera.height,
        "sky_pixels": int(counts[SKY]),
        "ground_pixels": int(counts[GROUND]),
        "wall_pixels": int(counts[WALL]),
        "roof_pixels": int(counts[ROOF]),
        "occluder_pixels": int(counts[OCCLUDER]),
        "frame_pixels": int(counts[FRAME]),
        "window_pixels": int(window_mask(b, palette).sum()),
        "buildings": len(view.instances),
        "buildings_in_via": sum(i.polygon is not None for i in view.instances),
        "windows_in_via": sum(len(i.windows) for i in view.instances),
        "windows_dropped": sum(i.windows_dropped for i in view.instances),
        "occluders": len(view.occluders),
    }
