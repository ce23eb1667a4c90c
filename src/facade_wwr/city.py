"""The synthetic city's layout: footprints, walls, windows in wall coordinates, and their true WWR.

Conventions:

* coordinates are metres east/north/up in the local frame centred on the city's origin
  (``facade_wwr.geo.LocalFrame``);
* every footprint ring is stored counter-clockwise; **wall i is the edge from vertex i to vertex i + 1 of
  that ring**, which is also the ring shapely ``orient(polygon, 1.0)`` gives back from the GeoJSON (written
  clockwise or not, with the same start vertex); its outward normal is ``(dy, -dx)``;
* wall coordinates: ``s`` metres along the wall from its start vertex, ``z`` metres up from the ground;
  a wall is the rectangle ``[0, length] x [0, eaves]`` plus, on the gable ends of a gabled roof, the
  triangle up to ``eaves + gable`` at ``s = length / 2`` (a gable triangle is wall; a roof is not);
* an opening is an axis-aligned rectangle on a wall, a ``window`` or a ``door`` (doors are opaque: wall);
* a party wall (an edge shared exactly with an attached neighbour's edge) has no openings and counts in no
  footprint figure: energy models treat it as adiabatic. The exposed top of a taller neighbour's party
  wall still shows in photos, as blank wall;
* whole-wall WWR = window m^2 / wall m^2 of the full wall; a footprint's WWR sums over its walls that are
  not party walls, per orientation sector of the outward normal (``facade_wwr.geo.orientation``).

The layout: ``blocks`` city blocks on a street grid rotated off north by a random angle; along each long
side of a block, attached rows (same depth and front line, so that party walls coincide exactly), detached
houses (some rotated off the grid, some gabled) and L-shaped buildings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from facade_wwr.geo import ccw_ring, normal_azimuth, orientation

ROOF_FLAT = "flat"
ROOF_GABLE = "gable"
WINDOW = "window"
DOOR = "door"
#: Share of footprints written without a height (null), and of rings written clockwise (as PLATEAU's are).
NO_HEIGHT_SHARE = 0.06
CLOCKWISE_SHARE = 0.7
FLOOR_HEIGHT = (2.8, 3.5)
STREET_WIDTH = (8.0, 14.0)
BLOCK_WIDTH = (48.0, 70.0)
BLOCK_DEPTH = (34.0, 46.0)


@dataclass(frozen=True)
class Opening:
    """A window or door ``[s0, s1) x [z0, z1)`` in wall coordinates; ``id`` is unique in the city."""

    s0: float
    s1: float
    z0: float
    z1: float
    kind: str
    id: int = -1

    @property
    def area(self) -> float:
        return (self.s1 - self.s0) * (self.z1 - self.z0)


@dataclass(frozen=True)
class Wall:
    """Wall ``index`` of footprint ``footprint``: the edge ``start`` -> ``end`` of its counter-clockwise ring."""

    footprint: int
    index: int
    start: tuple[float, float]
    end: tuple[float, float]
    eaves: float
    gable: float = 0.0
    party: bool = False
    openings: tuple[Opening, ...] = ()

    @property
    def length(self) -> float:
        return math.hypot(self.end[0] - self.start[0], self.end[1] - self.start[1])

    @property
    def along(self) -> np.ndarray:
        """Unit vector (east, north) from start to end."""
        d = np.subtract(self.end, self.start)
        return d / np.linalg.norm(d)

    @property
    def normal(self) -> np.ndarray:
        """Outward unit normal (east, north): ``(dy, -dx)`` of the counter-clockwise edge."""
        a = self.along
        return np.array([a[1], -a[0]])

    @property
    def azimuth(self) -> float:
        """Outward normal's azimuth in degrees clockwise from north."""
        return normal_azimuth(self.end[0] - self.start[0], self.end[1] - self.start[1])

    @property
    def outline(self) -> np.ndarray:
        """The wall polygon in ``(s, z)``, counter-clockwise: a rectangle, or a pentagon with its gable."""
        length = self.length
        if self.gable > 0:
            return np.array(
                [[0, 0], [length, 0], [length, self.eaves], [length / 2, self.eaves + self.gable], [0, self.eaves]]
            )
        return np.array([[0.0, 0.0], [length, 0.0], [length, self.eaves], [0.0, self.eaves]])

    @property
    def area(self) -> float:
        return self.length * self.eaves + 0.5 * self.length * self.gable

    @property
    def window_area(self) -> float:
        return sum(o.area for o in self.openings if o.kind == WINDOW)

    @property
    def windows(self) -> list[Opening]:
        return [o for o in self.openings if o.kind == WINDOW]


@dataclass(frozen=True)
class RoofPiece:
    """A planar convex roof polygon: ``origin + s a + t b`` for ``(s, t)`` in ``polygon`` (counter-clockwise),
    ``a`` and ``b`` orthonormal with ``a x b`` pointing out of the building (upwards)."""

    origin: np.ndarray
    a: np.ndarray
    b: np.ndarray
    polygon: np.ndarray


@dataclass(frozen=True)
class Footprint:
    """One building: its counter-clockwise ring (metres), heights, roof and walls."""

    index: int
    id: str
    shape: str  # "rectangle" or "L"
    ring: np.ndarray  # (n, 2) counter-clockwise, no closing vertex
    floors: int
    floor_height: float
    eaves: float  # height of the flat roof or of the gabled roof's eaves
    roof: str
    top: float  # highest point: the flat roof or the ridge
    recorded_height: float | None  # the GeoJSON ``height``: the top, rounded to 0.1 m; None for a few
    written_clockwise: bool
    walls: tuple[Wall, ...]
    roof_pieces: tuple[RoofPiece, ...]
    pieces: tuple[np.ndarray, ...]  # convex parts of the ring (rectangles), for quick inside tests

    def exterior_walls(self) -> list[Wall]:
        return [w for w in self.walls if not w.party]


@dataclass(frozen=True)
class City:
    """Footprints and the blocks they stand in (rings of the block rectangles), in local metres."""

    footprints: tuple[Footprint, ...]
    blocks: tuple[np.ndarray, ...]
    grid_angle: float  # degrees counter-clockwise from east of the street grid's x axis


# --------------------------------------------------------------------------- facade style and openings


@dataclass(frozen=True)
class FacadeStyle:
    """Per-building window layout, in metres."""

    window_width: float
    window_height: float
    sill: float
    gap: float
    margin: float
    ground: str  # "shop", "door", "same" or "blank"
    column_keep: float  # chance that a window column of a side wall is kept


def facade_style(
    rng: np.random.Generator, floor_height: float, ground_choices: dict[str, float], office: float
) -> FacadeStyle:
    """A window size and spacing for one building, and its ground floor kind.

    With chance ``office`` the building gets wide windows close together (WWR up to about 0.6); otherwise
    house-like punched windows (WWR about 0.1 to 0.3).
    """
    names, weights = list(ground_choices), np.array(list(ground_choices.values()))
    ground = str(names[int(rng.choice(len(names), p=weights / weights.sum()))])
    if rng.random() < office:
        window_height = float(rng.uniform(1.5, floor_height - 0.7))
        width, gap = float(rng.uniform(1.6, 3.2)), float(rng.uniform(0.3, 0.9))
    else:
        window_height = float(rng.uniform(1.2, min(1.9, floor_height - 0.9)))
        width, gap = float(rng.uniform(1.0, 2.0)), float(rng.uniform(0.7, 2.0))
    sill = float(rng.uniform(0.5, max(0.51, min(1.0, floor_height - window_height - 0.25))))
    return FacadeStyle(
        window_width=width,
        window_height=window_height,
        sill=sill,
        gap=gap,
        margin=float(rng.uniform(0.4, 1.2)),
        ground=ground,
        column_keep=float(rng.uniform(0.6, 1.0)),
    )


def _columns(length: float, width: float, gap: float, margin: float) -> list[float]:
    """Left edges of a centred row of equal columns ``width`` wide, ``gap`` apart, ``margin`` from the ends."""
    n = int((length - 2 * margin + gap) // (width + gap))
    if n < 1:
        return []
    left = (length - (n * width + (n - 1) * gap)) / 2.0
    return [left + i * (width + gap) for i in range(n)]


def _shop_front(rng: np.random.Generator, length: float, floor_height: float) -> list[Opening]:
    """Large shop windows between piers, one bay holding a door beside a narrower window."""
    pier = float(rng.uniform(0.3, 0.6))
    usable = length - 0.8
    bays = max(1, int(round(usable / rng.uniform(2.5, 4.0))))
    bay = (usable - (bays + 1) * pier) / bays
    if bay < 1.2:
        return []
    z0 = float(rng.uniform(0.15, 0.4))
    z1 = min(floor_height - 0.35, z0 + float(rng.uniform(2.0, 2.6)))
    door_bay = int(rng.integers(0, bays))
    out = []
    for i in range(bays):
        s0 = 0.4 + pier + i * (bay + pier)
        if i != door_bay:
            out.append(Opening(s0, s0 + bay, z0, z1, WINDOW))
            continue
        door = min(bay, float(rng.uniform(1.0, 1.8)))
        door_top = min(2.3, floor_height - 0.3)
        if rng.random() < 0.5:
            out.append(Opening(s0, s0 + door, 0.0, door_top, DOOR))
            if bay - door - 0.3 >= 0.8:
                out.append(Opening(s0 + door + 0.3, s0 + bay, z0, z1, WINDOW))
        else:
            if bay - door - 0.3 >= 0.8:
                out.append(Opening(s0, s0 + bay - door - 0.3, z0, z1, WINDOW))
            out.append(Opening(s0 + bay - door, s0 + bay, 0.0, door_top, DOOR))
    return out


def wall_openings(
    rng: np.random.Generator,
    length: float,
    eaves: float,
    gable: float,
    floors: int,
    floor_height: float,
    style: FacadeStyle,
    front: bool,
) -> list[Opening]:
    """Windows and doors of one wall: a grid per floor, a ground floor of its own kind, maybe a gable window.

    Side walls (not ``front``) keep each window column with ``style.column_keep`` and have either the
    upper floors' windows or none on the ground floor; some walls are left blank.
    """
    if rng.random() < (0.03 if front else 0.2):
        return []
    ww, wh = style.window_width, style.window_height
    columns = _columns(length, ww, style.gap, style.margin)
    if not front:
        columns = [c for c in columns if rng.random() < style.column_keep]
    out: list[Opening] = []
    for floor in range(1, floors):
        z0 = floor * floor_height + style.sill
        z1 = min(z0 + wh, (floor + 1) * floor_height - 0.25, eaves - 0.2)
        if z1 - z0 >= 0.6:
            out += [Opening(c, c + ww, z0, z1, WINDOW) for c in columns]
    ground = style.ground if front else ("same" if rng.random() < 0.5 else "blank")
    if ground == "shop":
        out += _shop_front(rng, length, floor_height)
    elif ground == "same":
        out += [Opening(c, c + ww, style.sill, style.sill + wh, WINDOW) for c in columns]
    elif ground == "door" and columns:
        door_at = int(rng.integers(0, len(columns)))
        width = float(rng.uniform(0.9, 1.2))
        centre = columns[door_at] + ww / 2
        out.append(Opening(centre - width / 2, centre + width / 2, 0.0, min(2.2, floor_height - 0.3), DOOR))
        out += [Opening(c, c + ww, style.sill, style.sill + wh, WINDOW) for i, c in enumerate(columns) if i != door_at]
    if gable > 0 and rng.random() < 0.6:
        aw, ah = min(ww, 1.0), min(wh, 1.0)
        z0 = eaves + 0.3
        room = gable * (1.0 - (aw / 2) / (length / 2)) - 0.3  # the triangle's height at the window's corners
        if z0 - eaves + ah <= room:
            out.append(Opening(length / 2 - aw / 2, length / 2 + aw / 2, z0, z0 + ah, WINDOW))
    return out


# --------------------------------------------------------------------------- footprints


@dataclass
class Plan:
    """A footprint before walls and openings: counter-clockwise ring and convex parts, in local metres."""

    ring: np.ndarray
    pieces: list[np.ndarray]
    shape: str
    floors: int
    floor_height: float
    roof: str
    parapet: float = 0.0
    ridge_edge: int = 0  # gabled roofs: the ridge is parallel to this edge of the rectangle
    pitch: float = 0.0  # gabled roofs: roof slope in degrees
    front: int = 0  # the edge facing the street
    ground: dict[str, float] = field(default_factory=dict)
    office: float = 0.0  # chance of an office-like facade (see facade_style)

    @property
    def eaves(self) -> float:
        return self.floors * self.floor_height + self.parapet

    def gable_rise(self) -> float:
        if self.roof != ROOF_GABLE:
            return 0.0
        span = float(np.linalg.norm(self.ring[(self.ridge_edge + 2) % 4] - self.ring[(self.ridge_edge + 1) % 4]))
        return math.tan(math.radians(self.pitch)) * span / 2.0


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def _transform(points: np.ndarray, angle: float, offset: np.ndarray) -> np.ndarray:
    """Rotate counter-clockwise by ``angle`` degrees about the origin, then shift (orientation is kept)."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return points @ np.array([[c, s], [-s, c]]) + offset


def gable_roof(ring: np.ndarray, eaves: float, rise: float, ridge_edge: int) -> tuple[RoofPiece, RoofPiece]:
    """The two slopes of a gabled roof over a rectangle ``ring`` with the ridge parallel to edge ``ridge_edge``."""
    p = [np.append(ring[(ridge_edge + i) % 4], eaves) for i in range(4)]
    up = np.array([0.0, 0.0, rise])
    slopes = []
    for origin, end, across in ((p[0], p[1], p[3]), (p[2], p[3], p[1])):
        a = (end - origin) / np.linalg.norm(end - origin)
        b = (across - origin) / 2.0 + up
        run = float(np.linalg.norm(b))
        slopes.append(RoofPiece(origin, a, b / run, _rect(0.0, 0.0, float(np.linalg.norm(end - origin)), run)))
    return slopes[0], slopes[1]


def flat_roof(pieces: list[np.ndarray], height: float) -> tuple[RoofPiece, ...]:
    """Horizontal roof pieces at ``height``: plane coordinates are east and north."""
    origin, a, b = np.array([0.0, 0.0, height]), np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    return tuple(RoofPiece(origin, a, b, piece) for piece in pieces)


def _party_edges(rings: list[np.ndarray]) -> list[set[int]]:
    """Per ring, the edges that coincide (reversed) with an edge of another ring: party walls."""
    owners: dict[tuple, int] = {}
    keys = []
    for k, ring in enumerate(rings):
        r = np.round(ring, 6)
        ring_keys = [(tuple(r[i]), tuple(r[(i + 1) % len(r)])) for i in range(len(r))]
        keys.append(ring_keys)
        for key in ring_keys:
            owners[key] = k
    return [{i for i, (p, q) in enumerate(ring_keys) if owners.get((q, p), k) != k} for k, ring_keys in enumerate(keys)]


def build_footprint(
    index: int,
    plan: Plan,
    party: set[int],
    rng: np.random.Generator,
    recorded: bool = True,
    clockwise: bool = True,
) -> Footprint:
    """Walls (with openings) and roof of a planned footprint."""
    eaves = plan.eaves
    rise = plan.gable_rise()
    style = facade_style(rng, plan.floor_height, plan.ground or {"same": 1.0}, plan.office)
    n = len(plan.ring)
    walls = []
    for i in range(n):
        start, end = plan.ring[i], plan.ring[(i + 1) % n]
        gable = rise if plan.roof == ROOF_GABLE and i % 2 != plan.ridge_edge % 2 else 0.0
        length = float(np.linalg.norm(end - start))
        openings: list[Opening] = []
        if i not in party:
            openings = wall_openings(rng, length, eaves, gable, plan.floors, plan.floor_height, style, i == plan.front)
        walls.append(
            Wall(
                index,
                i,
                (float(start[0]), float(start[1])),
                (float(end[0]), float(end[1])),
                eaves,
                gable,
                i in party,
                tuple(openings),
            )
        )
    roof = (
        gable_roof(plan.ring, eaves, rise, plan.ridge_edge)
        if plan.roof == ROOF_GABLE
        else flat_roof(plan.pieces, eaves)
    )
    top = eaves + rise
    return Footprint(
        index=index,
        id=f"bldg-{index + 1:04d}",
        shape=plan.shape,
        ring=plan.ring,
        floors=plan.floors,
        floor_height=plan.floor_height,
        eaves=eaves,
        roof=plan.roof,
        top=top,
        recorded_height=round(top, 1) if recorded else None,
        written_clockwise=clockwise,
        walls=tuple(walls),
        roof_pieces=roof,
        pieces=tuple(plan.pieces),
    )


def _point(p: np.ndarray) -> tuple[float, float]:
    return float(p[0]), float(p[1])


def make_footprint(
    index: int, fid: str, ring: np.ndarray, height: float, openings: dict[int, list[Opening]] | None = None
) -> Footprint:
    """A flat-roofed footprint with given openings per wall index (for tests and hand-made scenes);
    ``ring`` (metres, convex, either orientation) is turned counter-clockwise first. Number the openings of a
    city made of such footprints with :func:`number_openings`."""
    ring = ccw_ring(ring)
    walls = tuple(
        Wall(
            index,
            i,
            _point(ring[i]),
            _point(ring[(i + 1) % len(ring)]),
            height,
            0.0,
            False,
            tuple((openings or {}).get(i, ())),
        )
        for i in range(len(ring))
    )
    return Footprint(
        index=index,
        id=fid,
        shape="rectangle" if len(ring) == 4 else "polygon",
        ring=ring,
        floors=max(1, int(height // 3.0)),
        floor_height=3.0,
        eaves=height,
        roof=ROOF_FLAT,
        top=height,
        recorded_height=height,
        written_clockwise=False,
        walls=walls,
        roof_pieces=flat_roof([ring], height),
        pieces=(ring,),
    )


def number_openings(footprints: list[Footprint]) -> list[Footprint]:
    """Give every opening a city-wide id, in footprint, wall and opening order."""
    next_id = 0
    out = []
    for fp in footprints:
        walls = []
        for w in fp.walls:
            openings = tuple(replace(o, id=next_id + k) for k, o in enumerate(w.openings))
            next_id += len(openings)
            walls.append(replace(w, openings=openings))
        out.append(replace(fp, walls=tuple(walls)))
    return out


# --------------------------------------------------------------------------- block layout


def _floor_height(rng: np.random.Generator) -> float:
    return float(rng.uniform(*FLOOR_HEIGHT))


def _attached_row(rng: np.random.Generator, x: float, limit: float, depth_room: float) -> tuple[list[Plan], float]:
    """2-5 attached flat-roofed buildings of one depth and front line, starting at ``x``; returns the end x."""
    setback = float(rng.choice([0.0, 0.0, 0.5, 1.5]))
    depth = float(rng.uniform(8.0, max(8.5, min(16.0, depth_room - setback))))
    plans = []
    for _ in range(int(rng.integers(2, 6))):
        width = float(rng.uniform(5.0, 12.0))
        if x + width > limit:
            break
        floors = int(rng.integers(2, 8))
        plans.append(
            Plan(
                ring=_rect(x, setback, x + width, setback + depth),
                pieces=[_rect(x, setback, x + width, setback + depth)],
                shape="rectangle",
                floors=floors,
                floor_height=_floor_height(rng),
                roof=ROOF_FLAT,
                parapet=float(rng.uniform(0.0, 0.8)),
                ground={"shop": 0.45, "door": 0.3, "same": 0.15, "blank": 0.1},
                office=0.4,
            )
        )
        x += width
    return plans, x


def _detached(rng: np.random.Generator, x: float, limit: float, depth_room: float) -> tuple[list[Plan], float]:
    """A free-standing rectangle, maybe gabled, maybe rotated off the grid by 5-25 degrees."""
    width = float(rng.uniform(7.0, 14.0))
    depth = float(rng.uniform(7.0, max(7.5, min(14.0, depth_room - 1.0))))
    gabled = rng.random() < 0.55
    floors = int(rng.integers(1, 4)) if gabled else int(rng.integers(1, 6))
    angle = float(rng.uniform(5.0, 25.0) * rng.choice([-1.0, 1.0])) if rng.random() < 0.45 else 0.0
    for turn in (angle, 0.0):
        local = _transform(_rect(-width / 2, -depth / 2, width / 2, depth / 2), turn, np.zeros(2))
        lo, hi = local.min(axis=0), local.max(axis=0)
        setback = float(rng.uniform(1.0, 4.0))
        ring = local - lo + np.array([x, setback])
        if x + (hi - lo)[0] <= limit and setback + (hi - lo)[1] <= depth_room:
            plan = Plan(
                ring=ring,
                pieces=[ring],
                shape="rectangle",
                floors=floors,
                floor_height=_floor_height(rng),
                roof=ROOF_GABLE if gabled else ROOF_FLAT,
                parapet=0.0 if gabled else float(rng.uniform(0.0, 0.6)),
                ridge_edge=0 if width >= depth else 1,
                pitch=float(rng.uniform(20.0, 40.0)),
                ground={"door": 0.6, "same": 0.3, "blank": 0.1},
                office=0.1,
            )
            return [plan], x + (hi - lo)[0]
    return [], x


def _l_shape(rng: np.random.Generator, x: float, limit: float, depth_room: float) -> tuple[list[Plan], float]:
    """A main wing along the street and a narrower wing behind it, at its left or right end."""
    width = float(rng.uniform(12.0, 20.0))
    setback = float(rng.uniform(0.0, 2.5))
    main = float(rng.uniform(7.0, 10.0))
    wing_depth = float(rng.uniform(5.0, 9.0))
    wing = float(rng.uniform(4.0, width * 0.55))
    if x + width > limit or setback + main + wing_depth > depth_room:
        return [], x
    y0, y1, y2 = setback, setback + main, setback + main + wing_depth
    x0, x1 = x, x + width
    if rng.random() < 0.5:  # wing at the right end
        ring = np.array([[x0, y0], [x1, y0], [x1, y2], [x1 - wing, y2], [x1 - wing, y1], [x0, y1]])
        pieces = [_rect(x0, y0, x1, y1), _rect(x1 - wing, y1, x1, y2)]
    else:
        ring = np.array([[x0, y0], [x1, y0], [x1, y1], [x0 + wing, y1], [x0 + wing, y2], [x0, y2]])
        pieces = [_rect(x0, y0, x1, y1), _rect(x0, y1, x0 + wing, y2)]
    plan = Plan(
        ring=ring.astype(np.float64),
        pieces=pieces,
        shape="L",
        floors=int(rng.integers(2, 6)),
        floor_height=_floor_height(rng),
        roof=ROOF_FLAT,
        parapet=float(rng.uniform(0.0, 0.8)),
        ground={"shop": 0.3, "door": 0.4, "same": 0.2, "blank": 0.1},
        office=0.5,
    )
    return [plan], x + width


def side_plans(rng: np.random.Generator, length: float, depth_room: float) -> list[Plan]:
    """Buildings along one side of a block, in the side's frame: x along the street, y into the block."""
    plans: list[Plan] = []
    x = float(rng.uniform(0.5, 2.0))
    limit = length - 0.5
    while x < limit - 5.0:
        kind = rng.choice(3, p=[0.45, 0.35, 0.2])
        maker = (_attached_row, _detached, _l_shape)[int(kind)]
        made, end = maker(rng, x, limit, depth_room)
        plans += made
        x = (end if made else x) + float(rng.uniform(1.5, 4.0))
    return plans


def _place(plan: Plan, angle: float, offset: np.ndarray) -> Plan:
    return replace(
        plan, ring=_transform(plan.ring, angle, offset), pieces=[_transform(p, angle, offset) for p in plan.pieces]
    )


def block_grid(rng: np.random.Generator, blocks: int) -> tuple[list[tuple[np.ndarray, float, float]], float]:
    """Block corners (grid frame), widths and depths of ``blocks`` blocks on a grid, centred on the origin."""
    cols = math.ceil(math.sqrt(blocks))
    rows = math.ceil(blocks / cols)
    widths = rng.uniform(*BLOCK_WIDTH, cols)
    depths = rng.uniform(*BLOCK_DEPTH, rows)
    streets_x = rng.uniform(*STREET_WIDTH, cols + 1)
    streets_y = rng.uniform(*STREET_WIDTH, rows + 1)
    xs = streets_x[0] + np.concatenate([[0.0], np.cumsum(widths + streets_x[1:])])
    ys = streets_y[0] + np.concatenate([[0.0], np.cumsum(depths + streets_y[1:])])
    centre = np.array([xs[-1], ys[-1]]) / 2.0  # the grid with its outer streets spans [0, xs[-1]] x [0, ys[-1]]
    out = []
    for k in range(blocks):
        i, j = k % cols, k // cols
        out.append((np.array([xs[i], ys[j]]) - centre, float(widths[i]), float(depths[j])))
    return out, float(rng.uniform(0.0, 90.0))


def generate_city(seed: int, blocks: int) -> City:
    """The city of ``seed``: a pure function of its arguments."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    grid, angle = block_grid(rng, blocks)
    plans: list[Plan] = []
    block_rings = []
    for corner, width, depth in grid:
        block_rings.append(
            _transform(_rect(corner[0], corner[1], corner[0] + width, corner[1] + depth), angle, np.zeros(2))
        )
        room = depth / 2.0 - 1.0
        for side in range(2):  # the front side faces the street below the block, the back side the one above
            for plan in side_plans(rng, width, room):
                if side == 0:
                    local = _place(plan, 0.0, corner)
                else:  # a half turn about the block's centre: the side's street is then above the block
                    local = _place(plan, 180.0, corner + np.array([width, depth]))
                plans.append(_place(local, angle, np.zeros(2)))
    party = _party_edges([p.ring for p in plans])
    no_height = rng.random(len(plans)) < NO_HEIGHT_SHARE
    if len(plans) >= 10 and not no_height.any():
        no_height[int(rng.integers(0, len(plans)))] = True
    clockwise = rng.random(len(plans)) < CLOCKWISE_SHARE
    footprints = [
        build_footprint(i, plan, party[i], rng, recorded=not no_height[i], clockwise=bool(clockwise[i]))
        for i, plan in enumerate(plans)
    ]
    return City(tuple(number_openings(footprints)), tuple(block_rings), angle)


# --------------------------------------------------------------------------- truth of walls and footprints

WALL_COLUMNS = [
    "footprint_id",
    "wall",
    "azimuth",
    "orientation",
    "party_wall",
    "length_m",
    "eaves_m",
    "gable_m",
    "area_m2",
    "window_area_m2",
    "windows",
    "wwr",
]
FOOTPRINT_COLUMNS = [
    "footprint_id",
    "shape",
    "roof",
    "floors",
    "floor_height_m",
    "eaves_m",
    "top_m",
    "geojson_height",
    "written_clockwise",
    "walls",
    "wall_area_m2",
    "window_area_m2",
    "wwr",
    "wwr_north",
    "wwr_east",
    "wwr_south",
    "wwr_west",
]


def ratio_text(num: float, den: float) -> str:
    """A ratio as the truth files write it (6 decimals), empty where there is nothing to divide by."""
    return f"{num / den:.6f}" if den > 0 else ""


def wall_rows(city: City) -> list[dict]:
    """One row per wall of every footprint (party walls included, flagged)."""
    rows = []
    for fp in city.footprints:
        for w in fp.walls:
            rows.append(
                {
                    "footprint_id": fp.id,
                    "wall": w.index,
                    "azimuth": f"{w.azimuth:.4f}",
                    "orientation": orientation(w.azimuth),
                    "party_wall": int(w.party),
                    "length_m": f"{w.length:.4f}",
                    "eaves_m": f"{w.eaves:.4f}",
                    "gable_m": f"{w.gable:.4f}",
                    "area_m2": f"{w.area:.4f}",
                    "window_area_m2": f"{w.window_area:.4f}",
                    "windows": len(w.windows),
                    "wwr": ratio_text(w.window_area, w.area),
                }
            )
    return rows


def footprint_wwr(fp: Footprint) -> dict[str, tuple[float, float]]:
    """``(window m^2, wall m^2)`` of a footprint's non-party walls: in total (key ``all``) and per orientation."""
    sums = {name: (0.0, 0.0) for name in ("all", "north", "east", "south", "west")}
    for w in fp.exterior_walls():
        for key in ("all", orientation(w.azimuth)):
            win, wall = sums[key]
            sums[key] = (win + w.window_area, wall + w.area)
    return sums


def footprint_rows(city: City) -> list[dict]:
    """One row per footprint: WWR of its non-party walls, and per orientation (empty where it has none)."""
    rows = []
    for fp in city.footprints:
        sums = footprint_wwr(fp)
        row = {
            "footprint_id": fp.id,
            "shape": fp.shape,
            "roof": fp.roof,
            "floors": fp.floors,
            "floor_height_m": f"{fp.floor_height:.4f}",
            "eaves_m": f"{fp.eaves:.4f}",
            "top_m": f"{fp.top:.4f}",
            "geojson_height": "" if fp.recorded_height is None else f"{fp.recorded_height:.1f}",
            "written_clockwise": int(fp.written_clockwise),
            "walls": len(fp.exterior_walls()),
            "wall_area_m2": f"{sums['all'][1]:.4f}",
            "window_area_m2": f"{sums['all'][0]:.4f}",
            "wwr": ratio_text(*sums["all"]),
        }
        for name in ("north", "east", "south", "west"):
            row[f"wwr_{name}"] = ratio_text(*sums[name])
        rows.append(row)
    return rows
