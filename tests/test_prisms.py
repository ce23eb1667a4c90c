"""prisms: extruded footprints seen azimuth by azimuth agree with the city's z-buffer renderer pixel for pixel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facade_wwr import prisms
from facade_wwr.camera import Camera, pixel_centres
from facade_wwr.city import ROOF_FLAT, generate_city, make_footprint, number_openings
from facade_wwr.city import City as CityModel
from facade_wwr.city_render import ROOF, WALL, city_surfaces, render_buildings


def _scene(city: CityModel) -> prisms.Scene:
    return prisms.Scene.of([[fp.ring] for fp in city.footprints], [fp.eaves for fp in city.footprints])


def _labels(scene: prisms.Scene, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Footprint and wall (-1: none or roof) of every pixel, by exact per-ray lookups."""
    half = prisms.azimuth_half_width(camera.width, camera.height, camera.hfov, camera.pitch) + 1.0
    window = prisms.Window.around(camera.heading, half, camera.hfov / camera.width / 4)
    lookup = prisms.Lookup.of(prisms.visible(scene, camera.east, camera.north, camera.up, window))
    u, v = pixel_centres(camera.width, camera.height)
    surface, _ = lookup.surfaces(*prisms.rays(camera, u, v))
    footprint = np.where(surface >= 0, scene.surface_footprint()[np.maximum(surface, 0)], -1)
    wall = np.where(
        (surface >= 0) & (surface < scene.n_edges),
        scene.wall[np.minimum(np.maximum(surface, 0), scene.n_edges - 1)],
        -1,
    )
    return footprint, wall


@pytest.mark.parametrize("up, pitch", [(1.7, 4.0), (15.0, -8.0), (6.0, 0.0)])
def test_agrees_with_the_city_renderer(up: float, pitch: float) -> None:
    """On flat-roofed footprints (a prism is all the footprint file knows), every pixel shows the same
    footprint and wall as city_render's exact z-buffer, but for pixels whose centre lies on an edge."""
    city = generate_city(0, 4)
    scene = _scene(city)
    surfaces = city_surfaces(city)
    gabled = np.array([fp.roof != ROOF_FLAT for fp in city.footprints])
    rng = np.random.default_rng(int(up))
    checked = 0
    for _ in range(3):
        fp = city.footprints[int(rng.integers(len(city.footprints)))]
        w = fp.walls[0]
        aim = np.array(w.start) + 0.5 * w.length * w.along
        pos = aim + 14 * w.normal
        heading = math.degrees(math.atan2(*(aim - pos))) + float(rng.uniform(-10, 10))
        camera = Camera(pos[0], pos[1], up, heading, pitch, 65.0, 256, 192)
        buffers = render_buildings(camera, surfaces)
        theirs_fp = np.where((buffers.kind == WALL) | (buffers.kind == ROOF), buffers.owner, -1)
        theirs_wall = np.where(buffers.kind == WALL, buffers.wall, -1)
        mine_fp, mine_wall = _labels(scene, camera)
        relevant = ~(gabled[np.maximum(theirs_fp, 0)] & (theirs_fp >= 0)) & ~(
            gabled[np.maximum(mine_fp, 0)] & (mine_fp >= 0)
        )
        relevant[0, :] = relevant[:, 0] = False  # city_render's frame
        n = int(relevant.sum())
        assert ((mine_fp != theirs_fp) & relevant).sum() <= 0.003 * n
        assert ((mine_wall != theirs_wall) & relevant).sum() <= 0.003 * n
        checked += n
    assert checked > 50_000


def test_several_cameras_at_once_equal_one_at_a_time() -> None:
    city = generate_city(1, 2)
    scene = _scene(city)
    window = prisms.Window.around(30.0, 50.0, 0.5)
    cams = [(0.0, -20.0, 2.0), (5.0, -25.0, 12.0), (-8.0, -18.0, 1.5)]
    together = prisms.visible(scene, *(np.array(c) for c in zip(*cams)), window)
    assert together.views == 3
    for v, (e, n, z) in enumerate(cams):
        alone = prisms.visible(scene, e, n, z, window)
        mine = together.col // window.count == v
        a = np.lexsort((alone.lo, alone.col))
        b = np.lexsort((together.lo[mine], together.col[mine] - v * window.count))
        assert np.array_equal(alone.col[a], together.col[mine][b] - v * window.count)
        assert np.allclose(alone.lo[a], together.lo[mine][b]) and np.array_equal(
            alone.surface[a], together.surface[mine][b]
        )


def test_a_camera_inside_a_footprint_sees_out_of_it() -> None:
    """A photo from a window: the ray leaves its own building without entering it, so that one is not seen."""
    inner = make_footprint(0, "home", np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]), 20.0)
    other = make_footprint(1, "across", np.array([[0.0, 30.0], [10.0, 30.0], [10.0, 40.0], [0.0, 40.0]]), 30.0)
    city = CityModel(tuple(number_openings([inner, other])), (), 0.0)
    camera = Camera(5.0, 5.0, 12.0, 0.0, 0.0, 60.0, 64, 48)
    footprint, _ = _labels(_scene(city), camera)
    assert 0 not in footprint and (footprint == 1).mean() > 0.3


def test_rays_follow_the_camera() -> None:
    camera = Camera(0.0, 0.0, 2.0, 37.0, 9.0, 70.0, 160, 120)
    u, v = pixel_centres(160, 120)
    azimuth, slope = prisms.rays(camera, u, v)
    d = camera.rays(u, v)
    assert np.allclose(azimuth % 360, np.degrees(np.arctan2(d[..., 0], d[..., 1])) % 360)
    assert np.allclose(slope, d[..., 2] / np.hypot(d[..., 0], d[..., 1]))
    low, high = prisms.slope_range(160, 120, 70.0, 9.0)
    assert low <= slope.min() + 1e-9 and high >= slope.max() - 1e-9
    assert prisms.azimuth_half_width(160, 120, 70.0, 9.0) >= np.abs(azimuth - 37.0).max() - 1e-9


def test_rasters_paint_the_intervals() -> None:
    city = generate_city(2, 1)
    scene = _scene(city)
    camera = Camera(0.0, -40.0, 2.0, 0.0, 0.0, 60.0, 96, 72)
    window = prisms.Window.around(0.0, 40.0, 0.25)
    intervals = prisms.visible(scene, 0.0, -40.0, 2.0, window)
    step = math.radians(0.25)
    raster = prisms.rasterise(intervals, scene.surface_footprint()[intervals.surface], 1.0, step, int(2.0 / step))
    u, v = pixel_centres(96, 72)
    azimuth, slope = prisms.rays(camera, u, v)
    exact, _ = prisms.Lookup.of(intervals).surfaces(azimuth, slope)
    exact_fp = np.where(exact >= 0, scene.surface_footprint()[np.maximum(exact, 0)] + 1, 0)
    assert np.mean(raster.lookup(azimuth, slope) == exact_fp) > 0.97
