"""Rendering a view of the synthetic city: per-pixel labels by ray casting with a z-buffer, then painting.

Every surface is planar (walls, roof pieces, the faces of box occluders) except tree crowns (spheres). A
planar surface is drawn through its homography (``facade_wwr.camera``): for the pixels of its projected
bounding box, ``H^-1`` gives the plane coordinates ``(s, t)`` each pixel centre sees and its depth, an
inside test on the surface's convex pieces decides coverage, and the z-buffer keeps the nearest surface.
Back faces are culled (every solid is closed, so a back face is always hidden by a front face).

Per pixel the result holds: ``kind`` (sky, ground, wall, roof, occluder, frame), ``owner`` (footprint
index, or occluder index), ``wall`` (wall index of a wall pixel; part index of an occluder pixel),
``opening`` (city-wide id of the window or door a wall pixel shows), ``depth`` (metres along the optical
axis), ``s``/``t`` (plane coordinates, for painting) and ``area`` (m^2 of wall plane a wall pixel covers:
``|det H^-1| / |w'|^3``).

Row 0 and column 0 are a 1-pixel *frame* that belongs to no building, window or occluder: a VIA polygon
reaching the left or top edge of those pixels would need a negative coordinate, which via2coco clips
with a warning. The photo still shows the scene there.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np

from facade_wwr.camera import Camera, pixel_centres, pixel_plane_area, plane_homography, plane_points
from facade_wwr.city import ROOF_GABLE, WINDOW, City, Opening

SKY, GROUND, WALL, ROOF, OCCLUDER, FRAME = range(6)
KIND_NAMES = ("sky", "ground", "wall", "roof", "occluder", "frame")
#: Surfaces nearer than this (metres) are clipped away: no pixel sees them sharply anyway.
NEAR = 0.05
#: Tolerance of the inside test in plane metres, so that seams between surfaces leave no pixel unhit.
SEAM = 1e-9
#: Paved sidewalk around every block, metres.
SIDEWALK = 2.5


@dataclass(frozen=True)
class Band:
    """Openings of one wall that share a height interval ``[z0, z1)``, sorted by ``s0``; lookup by bisection."""

    z0: float
    z1: float
    s0: np.ndarray
    s1: np.ndarray
    ids: np.ndarray


def opening_bands(openings: tuple[Opening, ...]) -> tuple[Band, ...]:
    """Group a wall's openings (disjoint rectangles) into bands of equal height interval."""
    groups: dict[tuple[float, float], list[Opening]] = {}
    for o in openings:
        groups.setdefault((o.z0, o.z1), []).append(o)
    bands = []
    for (z0, z1), items in sorted(groups.items()):
        items.sort(key=lambda o: o.s0)
        bands.append(
            Band(
                z0,
                z1,
                np.array([o.s0 for o in items]),
                np.array([o.s1 for o in items]),
                np.array([o.id for o in items], dtype=np.int32),
            )
        )
    return tuple(bands)


def lookup_openings(bands: tuple[Band, ...], s: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The opening id at each wall point ``(s, z)``, -1 where there is none."""
    out = np.full(s.shape, -1, dtype=np.int32)
    for band in bands:
        rows = np.flatnonzero((z >= band.z0) & (z < band.z1))
        if rows.size == 0:
            continue
        ss = s[rows]
        k = np.searchsorted(band.s0, ss, side="right") - 1
        kk = np.clip(k, 0, len(band.s0) - 1)
        hit = (k >= 0) & (ss < band.s1[kk])
        out[rows[hit]] = band.ids[kk[hit]]
    return out


@dataclass(frozen=True)
class Surface:
    """A planar polygon ``origin + s a + t b``, ``(s, t)`` inside one of the convex ``pieces`` (counter-clockwise).

    ``a x b`` points to the outside. ``kind`` is WALL, ROOF or OCCLUDER; ``owner`` the footprint or occluder
    index; ``wall`` the wall index (or an occluder's part index), -1 for roofs.
    """

    kind: int
    owner: int
    wall: int
    origin: np.ndarray
    a: np.ndarray
    b: np.ndarray
    pieces: tuple[np.ndarray, ...]
    bands: tuple[Band, ...] = ()

    @property
    def normal(self) -> np.ndarray:
        a, b = self.a, self.b
        return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])

    def corners(self) -> np.ndarray:
        """World corners ``(k, 3)`` of all pieces."""
        points = np.concatenate(self.pieces)
        return self.origin + points[:, :1] * self.a + points[:, 1:2] * self.b


@dataclass(frozen=True)
class SurfaceSet:
    """Surfaces with their normals and bounding spheres as arrays, to cull a view's back faces and the
    surfaces outside its field of view in one step."""

    surfaces: tuple[Surface, ...]
    normals: np.ndarray
    origins: np.ndarray
    centres: np.ndarray
    radii: np.ndarray

    @classmethod
    def of(cls, surfaces: list[Surface]) -> SurfaceSet:
        centres, radii = [], []
        for surface in surfaces:
            corners = surface.corners()
            centre = (corners.min(axis=0) + corners.max(axis=0)) / 2.0
            centres.append(centre)
            radii.append(float(np.linalg.norm(corners - centre, axis=1).max()))
        return cls(
            tuple(surfaces),
            np.array([x.normal for x in surfaces]).reshape(-1, 3),
            np.array([x.origin for x in surfaces]).reshape(-1, 3),
            np.array(centres).reshape(-1, 3),
            np.array(radii),
        )

    def facing(self, camera: Camera) -> list[Surface]:
        """Front faces whose bounding sphere meets the camera's view frustum, in their original order."""
        c = camera.centre
        front = np.einsum("ij,ij->i", self.normals, c - self.origins) > 1e-9
        cam = (self.centres - c) @ camera.R.T
        tx = (camera.width / 2.0) / camera.focal
        ty = (camera.height / 2.0) / camera.focal
        r = self.radii
        inside = cam[:, 2] > NEAR - r
        for axis, tan in ((0, tx), (1, ty)):
            norm = math.sqrt(1.0 + tan * tan)
            inside &= (cam[:, 2] * tan - cam[:, axis]) / norm >= -r
            inside &= (cam[:, 2] * tan + cam[:, axis]) / norm >= -r
        return [self.surfaces[i] for i in np.flatnonzero(front & inside)]


@dataclass(frozen=True)
class Sphere:
    """A sphere (a tree crown) of occluder ``owner``, part ``part``."""

    owner: int
    part: int
    centre: np.ndarray
    radius: float


def city_surfaces(city: City) -> SurfaceSet:
    """Walls and roof pieces of every footprint (computed once per city, used by every view)."""
    up = np.array([0.0, 0.0, 1.0])
    out = []
    for fp in city.footprints:
        for w in fp.walls:
            origin = np.array([w.start[0], w.start[1], 0.0])
            along = np.append(w.along, 0.0)
            out.append(Surface(WALL, fp.index, w.index, origin, along, up, (w.outline,), opening_bands(w.openings)))
        for piece in fp.roof_pieces:
            out.append(Surface(ROOF, fp.index, -1, piece.origin, piece.a, piece.b, (piece.polygon,)))
    return SurfaceSet.of(out)


def prism_surfaces(kind: int, owner: int, part: int, ring: np.ndarray, z0: float, z1: float) -> list[Surface]:
    """The side faces and the top of an upright prism over a convex counter-clockwise ``ring`` (east, north)."""
    up = np.array([0.0, 0.0, 1.0])
    out = []
    for i in range(len(ring)):
        start, end = ring[i], ring[(i + 1) % len(ring)]
        length = float(np.linalg.norm(end - start))
        along = np.append((end - start) / length, 0.0)
        rect = np.array([[0.0, 0.0], [length, 0.0], [length, z1 - z0], [0.0, z1 - z0]])
        out.append(Surface(kind, owner, part, np.array([start[0], start[1], z0]), along, up, (rect,)))
    top = Surface(
        kind, owner, part, np.array([0.0, 0.0, z1]), np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), (ring,)
    )
    return out + [top]


# --------------------------------------------------------------------------- buffers and rasterisation


@dataclass
class Buffers:
    """Per-pixel labels of one view (see the module docstring)."""

    depth: np.ndarray
    kind: np.ndarray
    owner: np.ndarray
    wall: np.ndarray
    opening: np.ndarray
    s: np.ndarray
    t: np.ndarray
    area: np.ndarray

    @classmethod
    def empty(cls, height: int, width: int) -> Buffers:
        shape = (height, width)
        return cls(
            depth=np.full(shape, np.inf),
            kind=np.full(shape, SKY, dtype=np.uint8),
            owner=np.full(shape, -1, dtype=np.int32),
            wall=np.full(shape, -1, dtype=np.int32),
            opening=np.full(shape, -1, dtype=np.int32),
            s=np.zeros(shape, dtype=np.float32),
            t=np.zeros(shape, dtype=np.float32),
            area=np.zeros(shape),
        )


def _clip_near(points: np.ndarray) -> np.ndarray:
    """The part of a convex polygon (camera coordinates, ``(k, 3)``) with depth >= NEAR."""
    out = []
    for i in range(len(points)):
        p, q = points[i - 1], points[i]
        if (p[2] >= NEAR) != (q[2] >= NEAR):
            out.append(p + (NEAR - p[2]) / (q[2] - p[2]) * (q - p))
        if q[2] >= NEAR:
            out.append(q)
    return np.array(out).reshape(-1, 3)


def image_box(camera: Camera, corners: np.ndarray) -> tuple[int, int, int, int] | None:
    """Pixel box ``(x0, y0, x1, y1)`` (exclusive ends) whose centres may see the convex polygon ``corners``
    (world, ``(k, 3)``), or None if it lies behind the camera or off the image."""
    cam = _clip_near((corners - camera.centre) @ camera.R.T)
    if len(cam) == 0:
        return None
    proj = cam @ camera.K.T
    uv = proj[:, :2] / proj[:, 2:]
    x0 = max(int(math.floor(uv[:, 0].min() - 0.5)), 0)
    x1 = min(int(math.ceil(uv[:, 0].max() + 0.5)), camera.width)
    y0 = max(int(math.floor(uv[:, 1].min() - 0.5)), 0)
    y1 = min(int(math.ceil(uv[:, 1].max() + 0.5)), camera.height)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1, y1


def _union(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _inside(piece: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points ``(s, t)`` inside (or on) the convex counter-clockwise polygon ``piece``."""
    inside = np.ones(s.shape, dtype=bool)
    for i in range(len(piece)):
        p, q = piece[i - 1], piece[i]
        inside &= (q[0] - p[0]) * (t - p[1]) - (q[1] - p[1]) * (s - p[0]) >= -SEAM
    return inside


@dataclass
class Hit:
    """What one surface or sphere would draw: a box of the image, the pixels it covers nearer than the
    z-buffer, and their values."""

    box: tuple[int, int, int, int]
    mask: np.ndarray
    depth: np.ndarray
    s: np.ndarray
    t: np.ndarray
    area: np.ndarray | None = None
    opening: np.ndarray | None = None


def surface_hit(camera: Camera, surface: Surface, depth: np.ndarray) -> Hit | None:
    """The pixels where ``surface`` is the nearest so far (``depth`` is the z-buffer), or None."""
    c = camera.centre
    if float(surface.normal @ (c - surface.origin)) <= 1e-9:  # a back face, or seen exactly edge-on
        return None
    boxes = []
    for piece in surface.pieces:
        corners = surface.origin + piece[:, :1] * surface.a + piece[:, 1:2] * surface.b
        box = image_box(camera, corners)
        if box is not None:
            boxes.append(box)
    if not boxes:
        return None
    x0, y0, x1, y1 = _union(boxes)
    inverse = np.linalg.inv(plane_homography(camera, surface.origin, surface.a, surface.b))
    u, v = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
    s, t, w = plane_points(inverse, u, v)
    inside = np.zeros(s.shape, dtype=bool)
    for piece in surface.pieces:
        inside |= _inside(piece, s, t)
    with np.errstate(divide="ignore"):
        z = 1.0 / w
    mask = inside & (w > 0) & (z < depth[y0:y1, x0:x1])
    if not mask.any():
        return None
    hit = Hit((x0, y0, x1, y1), mask, z[mask], s[mask], t[mask])
    if surface.kind == WALL:
        hit.area = pixel_plane_area(inverse, w[mask])
        hit.opening = lookup_openings(surface.bands, hit.s, hit.t) if surface.bands else None
    return hit


def sphere_hit(camera: Camera, sphere: Sphere, depth: np.ndarray) -> Hit | None:
    """The pixels where ``sphere`` is the nearest so far, or None."""
    r = sphere.radius
    corners = sphere.centre + r * np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
    cam = (corners - camera.centre) @ camera.R.T
    if (cam[:, 2] <= NEAR).all():
        return None
    if (cam[:, 2] > NEAR).all():
        proj = cam @ camera.K.T
        uv = proj[:, :2] / proj[:, 2:]
        x0, x1 = max(int(uv[:, 0].min()) - 1, 0), min(int(uv[:, 0].max()) + 2, camera.width)
        y0, y1 = max(int(uv[:, 1].min()) - 1, 0), min(int(uv[:, 1].max()) + 2, camera.height)
    else:
        x0, y0, x1, y1 = 0, 0, camera.width, camera.height
    if x0 >= x1 or y0 >= y1:
        return None
    u, v = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
    d = camera.rays(u, v)  # forward component 1: the ray parameter is the depth
    oc = camera.centre - sphere.centre
    a = np.einsum("...i,...i", d, d)
    b = 2.0 * (d @ oc)
    disc = b * b - 4.0 * a * (float(oc @ oc) - r * r)
    with np.errstate(invalid="ignore"):
        z = (-b - np.sqrt(disc)) / (2.0 * a)
    mask = (disc > 0) & (z > NEAR) & (z < depth[y0:y1, x0:x1])
    if not mask.any():
        return None
    return Hit((x0, y0, x1, y1), mask, z[mask], np.zeros(int(mask.sum())), np.zeros(int(mask.sum())))


def apply_hit(buffers: Buffers, hit: Hit, kind: int, owner: int, wall: int) -> None:
    """Write a hit into the buffers (it is nearer than what they hold, by construction)."""
    x0, y0, x1, y1 = hit.box
    sl = (slice(y0, y1), slice(x0, x1))
    m = hit.mask
    buffers.depth[sl][m] = hit.depth
    buffers.kind[sl][m] = kind
    buffers.owner[sl][m] = owner
    buffers.wall[sl][m] = wall
    buffers.s[sl][m] = hit.s
    buffers.t[sl][m] = hit.t
    buffers.area[sl][m] = hit.area if hit.area is not None else 0.0
    buffers.opening[sl][m] = hit.opening if hit.opening is not None else -1


def render_buildings(camera: Camera, surfaces: SurfaceSet) -> Buffers:
    """Labels of the buildings, the ground and the sky, and the frame (no occluders yet)."""
    buffers = Buffers.empty(camera.height, camera.width)
    for surface in surfaces.facing(camera):
        hit = surface_hit(camera, surface, buffers.depth)
        if hit is not None:
            apply_hit(buffers, hit, surface.kind, surface.owner, surface.wall)
    _fill_ground(camera, buffers)
    mark_frame(buffers)
    return buffers


def _fill_ground(camera: Camera, buffers: Buffers) -> None:
    """Pixels that see nothing and look down see the street (z = 0), at its depth."""
    u, v = pixel_centres(camera.width, camera.height)
    d = camera.rays(u, v)
    ground = (buffers.kind == SKY) & (d[..., 2] < 0)
    buffers.kind[ground] = GROUND
    buffers.depth[ground] = -camera.up / d[..., 2][ground]


def mark_frame(buffers: Buffers) -> None:
    """Row 0 and column 0 belong to nothing (see the module docstring); their depth stays, for painting."""
    for sl in ((0, slice(None)), (slice(None), 0)):
        buffers.kind[sl] = FRAME
        buffers.owner[sl] = -1
        buffers.wall[sl] = -1
        buffers.opening[sl] = -1
        buffers.area[sl] = 0.0


def occluder_hits(
    camera: Camera, surfaces: list[Surface], spheres: list[Sphere], buffers: Buffers
) -> list[tuple[Hit, int]]:
    """Hits of one occluder's parts against the current z-buffer (its own parts z-buffered among themselves),
    each with its part index; frame pixels are left out."""
    depth = buffers.depth.copy()
    hits: list[tuple[Hit, int]] = []
    for surface in surfaces:
        hit = surface_hit(camera, surface, depth)
        if hit is not None:
            _keep(hit, depth, buffers)
            hits.append((hit, surface.wall))
    for sphere in spheres:
        hit = sphere_hit(camera, sphere, depth)
        if hit is not None:
            _keep(hit, depth, buffers)
            hits.append((hit, sphere.part))
    return [(h, p) for h, p in hits if h.mask.any()]


def _keep(hit: Hit, depth: np.ndarray, buffers: Buffers) -> None:
    """Drop frame pixels from a hit, then record it in the scratch z-buffer ``depth``."""
    x0, y0, x1, y1 = hit.box
    frame = buffers.kind[y0:y1, x0:x1] == FRAME
    keep = ~frame[hit.mask]
    hit.mask = hit.mask & ~frame
    hit.depth, hit.s, hit.t = hit.depth[keep], hit.s[keep], hit.t[keep]
    depth[y0:y1, x0:x1][hit.mask] = hit.depth


# --------------------------------------------------------------------------- painting


def hsv(h: float, s: float, v: float) -> np.ndarray:
    """RGB 0..255 of hue (degrees), saturation and value (0..1)."""
    return np.array(colorsys.hsv_to_rgb((h % 360.0) / 360.0, s, v)) * 255.0


def _luma(rgb: np.ndarray) -> float:
    return float(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


@dataclass(frozen=True)
class Palette:
    """Colours of every footprint (rows by footprint index) and where its openings are (rows by opening id)."""

    wall: np.ndarray
    roof: np.ndarray
    glass: np.ndarray
    frame: np.ndarray
    frame_width: np.ndarray  # metres
    mullion: np.ndarray
    door: np.ndarray
    floor_height: np.ndarray
    gabled: np.ndarray
    wall_offset: np.ndarray  # index of a footprint's wall 0 in wall_azimuth
    wall_azimuth: np.ndarray  # outward normal azimuth of every wall, footprint by footprint
    block_bounds: np.ndarray  # (n, 4): x0, y0, x1, y1 of every block in the street grid's frame
    grid_angle: float
    openings: np.ndarray  # (n, 4): s0, s1, z0, z1
    opening_footprint: np.ndarray  # footprint index of every opening
    is_window: np.ndarray


def city_palette(seed: int, city: City) -> Palette:
    """Colours per footprint, each drawn from its own stream ``(seed, 3, index)``: the same in every view."""
    n = len(city.footprints)
    wall, roof, glass, frame, door = (np.zeros((n, 3)) for _ in range(5))
    frame_width, mullion = np.zeros(n), np.zeros(n, dtype=bool)
    for fp in city.footprints:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 3, fp.index]))
        i = fp.index
        wall[i] = hsv(rng.uniform(0, 360), rng.uniform(0.05, 0.45), rng.uniform(0.5, 0.92))
        roof[i] = hsv(float(rng.choice([5.0, 15.0, 25.0, 210.0, 0.0])), rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.45))
        if _luma(wall[i]) > 110 or rng.random() < 0.7:
            glass[i] = hsv(rng.uniform(190, 230), rng.uniform(0.2, 0.6), rng.uniform(0.1, 0.3))
        else:
            glass[i] = hsv(rng.uniform(190, 210), rng.uniform(0.1, 0.3), rng.uniform(0.8, 0.95))
        if abs(_luma(glass[i]) - _luma(wall[i])) < 60:
            glass[i] = hsv(210.0, 0.4, 0.12)
        frame[i] = [np.array([235.0, 235.0, 230.0]), np.array([70.0, 50.0, 35.0]), np.array([120.0, 120.0, 125.0])][
            int(rng.integers(0, 3))
        ]
        frame_width[i] = rng.uniform(0.05, 0.12)
        mullion[i] = rng.random() < 0.4
        door[i] = wall[i] * rng.uniform(0.3, 0.45)
    openings = [o for fp in city.footprints for w in fp.walls for o in w.openings]
    opening_footprint = np.array(
        [fp.index for fp in city.footprints for w in fp.walls for _ in w.openings], dtype=np.int64
    )
    table = np.array([[o.s0, o.s1, o.z0, o.z1] for o in openings]).reshape(-1, 4)
    assert all(o.id == k for k, o in enumerate(openings)), "openings must be numbered in order"
    return Palette(
        wall=wall,
        roof=roof,
        glass=glass,
        frame=frame,
        frame_width=frame_width,
        mullion=mullion,
        door=door,
        floor_height=np.array([fp.floor_height for fp in city.footprints]),
        gabled=np.array([fp.roof == ROOF_GABLE for fp in city.footprints]),
        wall_offset=np.cumsum([0] + [len(fp.walls) for fp in city.footprints])[:-1],
        wall_azimuth=np.array([w.azimuth for fp in city.footprints for w in fp.walls]),
        block_bounds=_block_bounds(city),
        grid_angle=city.grid_angle,
        openings=table,
        opening_footprint=opening_footprint,
        is_window=np.array([o.kind == WINDOW for o in openings], dtype=bool),
    )


def _block_bounds(city: City) -> np.ndarray:
    c, s = math.cos(math.radians(city.grid_angle)), math.sin(math.radians(city.grid_angle))
    out = []
    for ring in city.blocks:
        x, y = ring[:, 0] * c + ring[:, 1] * s, -ring[:, 0] * s + ring[:, 1] * c
        out.append([x.min(), y.min(), x.max(), y.max()])
    return np.array(out).reshape(-1, 4)


@dataclass(frozen=True)
class Look:
    """Per-view lighting and colours that are not the buildings': sun, sky, street, occluder colours."""

    sun_azimuth: float
    sky_top: np.ndarray
    sky_horizon: np.ndarray
    street: float
    noise: float
    occluder_colours: tuple[np.ndarray, ...] = ()


def random_look(rng: np.random.Generator, occluder_colours: tuple[np.ndarray, ...] = ()) -> Look:
    if rng.random() < 0.25:  # overcast
        grey = rng.uniform(150, 215)
        top, horizon = np.full(3, grey - 25.0), np.full(3, grey + 20.0)
    else:
        top = hsv(rng.uniform(200, 225), rng.uniform(0.3, 0.7), rng.uniform(0.55, 0.8))
        horizon = hsv(rng.uniform(190, 215), rng.uniform(0.05, 0.3), rng.uniform(0.85, 1.0))
    return Look(
        float(rng.uniform(0, 360)),
        top,
        horizon,
        float(rng.uniform(70, 120)),
        float(rng.uniform(2.0, 5.0)),
        occluder_colours,
    )


def paint(rng: np.random.Generator, camera: Camera, buffers: Buffers, palette: Palette, look: Look) -> np.ndarray:
    """The photo (``(H, W, 3)`` uint8) of labelled buffers: sky, street with sidewalks, shaded walls and roofs,
    framed windows, doors and occluders, then sensor noise. Row 0 and column 0 repeat their neighbours."""
    h, w = camera.height, camera.width
    img = np.zeros((h, w, 3), dtype=np.float32)
    kind = buffers.kind
    u, v = pixel_centres(w, h)
    sky = np.flatnonzero(kind == SKY)
    if sky.size:
        rays = camera.rays(u.ravel()[sky], v.ravel()[sky])
        mix = np.clip(rays[:, 2] / np.linalg.norm(rays, axis=1) / 0.6, 0.0, 1.0)[:, None]
        img.reshape(-1, 3)[sky] = look.sky_horizon * (1 - mix) + look.sky_top * mix
    ground = np.flatnonzero(kind == GROUND)
    if ground.size:
        img.reshape(-1, 3)[ground] = _street(camera, u.ravel()[ground], v.ravel()[ground], palette, look)
    _paint_buildings(img, buffers, palette, look)
    _paint_occluders(img, buffers, look)
    img[0, :], img[:, 0] = img[1, :], img[:, 1]
    img += rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(look.noise)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _street(camera: Camera, u: np.ndarray, v: np.ndarray, palette: Palette, look: Look) -> np.ndarray:
    """Asphalt, and paving within SIDEWALK metres of a block (a kerb line at its edge), hazier far away."""
    rays = camera.rays(u, v)
    depth = -camera.up / rays[:, 2]
    east, north = camera.east + depth * rays[:, 0], camera.north + depth * rays[:, 1]
    c, s = math.cos(math.radians(palette.grid_angle)), math.sin(math.radians(palette.grid_angle))
    x, y = east * c + north * s, -east * s + north * c  # into the street grid's frame
    margin = np.full(u.shape, np.inf)
    for x0, y0, x1, y1 in palette.block_bounds:
        margin = np.minimum(margin, np.maximum.reduce([x0 - x, x - x1, y0 - y, y - y1]))
    colour = np.empty((u.size, 3))
    colour[:] = look.street
    colour[margin < SIDEWALK] = look.street + 45.0
    colour[(margin >= SIDEWALK) & (margin < SIDEWALK + 0.18)] = look.street + 85.0
    haze = np.clip(depth / 250.0, 0.0, 0.6)[:, None]
    return colour * (1 - haze) + look.sky_horizon * haze


def _paint_buildings(img: np.ndarray, buffers: Buffers, palette: Palette, look: Look) -> None:
    kind, owner = buffers.kind, buffers.owner
    walls = kind == WALL
    if walls.any():
        o = owner[walls]
        by_wall = 0.72 + 0.28 * np.clip(np.cos(np.radians(palette.wall_azimuth - look.sun_azimuth)), 0.0, 1.0)
        shade = by_wall[palette.wall_offset[o] + buffers.wall[walls]]
        colour = palette.wall[o] * shade[:, None]
        z = buffers.t[walls]
        slab = np.mod(z, palette.floor_height[o]) < 0.12  # a faint line at every floor slab
        colour[slab] *= 0.93
        colour = _paint_openings(colour, buffers, walls, palette, shade)
        img[walls] = colour
    roofs = kind == ROOF
    if roofs.any():
        o = owner[roofs]
        img[roofs] = palette.roof[o] * np.where(palette.gabled[o], 1.0, 1.25)[:, None]


def _paint_openings(
    colour: np.ndarray, buffers: Buffers, walls: np.ndarray, palette: Palette, shade: np.ndarray
) -> np.ndarray:
    """Glass with a frame and an upper-half reflection in windows, a flat dark colour in doors."""
    ids = buffers.opening[walls]
    has = ids >= 0
    if not has.any():
        return colour
    o = buffers.owner[walls][has]
    s, z = buffers.s[walls][has], buffers.t[walls][has]
    box = palette.openings[ids[has]]
    window = palette.is_window[ids[has]]
    inner = np.minimum.reduce([s - box[:, 0], box[:, 1] - s, z - box[:, 2], box[:, 3] - z])
    upper = z > (box[:, 2] + box[:, 3]) / 2
    glass = palette.glass[o] * np.where(upper, 0.85, 1.0)[:, None] + np.where(upper, 255.0 * 0.15, 0.0)[:, None]
    framed = inner < palette.frame_width[o]
    mid_s = np.abs(s - (box[:, 0] + box[:, 1]) / 2) < palette.frame_width[o] / 2
    mid_z = np.abs(z - (box[:, 2] + box[:, 3]) / 2) < palette.frame_width[o] / 2
    framed |= palette.mullion[o] & (mid_s | mid_z) & (box[:, 1] - box[:, 0] > 1.0)
    pane = np.where(framed[:, None], palette.frame[o], glass) * shade[has][:, None]
    out = colour.copy()
    out[has] = np.where(window[:, None], pane, palette.door[o] * shade[has][:, None])
    return out


def _paint_occluders(img: np.ndarray, buffers: Buffers, look: Look) -> None:
    occ = buffers.kind == OCCLUDER
    if not occ.any() or not look.occluder_colours:
        return
    owner, part = buffers.owner[occ], buffers.wall[occ]
    colours = np.stack(look.occluder_colours)  # (n_occluders * 2, 3): a main and a second colour each
    img[occ] = colours[owner * 2 + np.minimum(part, 1)]
