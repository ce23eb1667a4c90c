"""Benchmark of `facade-wwr link` on one core: one 1920x1080 photo, 100 kept instances, ~200 footprints in range.

Run: python benchmarks/bench_link.py [--blocks 36 --seed 0 --size 1920x1080 --instances 100 --repeat 3]

A synthetic city (``facade_wwr.city``) is rendered from a street camera (``city_render``); the visible
buildings and the largest visible windows become a prediction table of exactly ``--instances`` kept instances
(ground-truth masks). The EXIF-like pose is perturbed as ``demo-city --pose-noise 3,5`` does (GPS 3 m per axis,
heading 5 degrees) and given without hfov, pitch or camera height, so that refinement searches them all. It
prints the footprints in range and the seconds of `link` for the photo (footprint file read once, not
counted), with where the time goes: the photo's scene, the sample grids, each refinement stage, and the
full-resolution linking and measuring (wall seconds per stage). The process is pinned to one CPU with
numpy's threads at 1; the figure is CPU seconds, which other processes sharing the core do not inflate.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from facade_wwr import link, link_tables, masks, predictions  # noqa: E402
from facade_wwr.city import generate_city  # noqa: E402
from facade_wwr.city_demo import footprints_geojson, parse_size  # noqa: E402
from facade_wwr.city_render import city_palette, city_surfaces, render_buildings  # noqa: E402
from facade_wwr.city_views import Streets, building_mask, sample_pose, window_mask  # noqa: E402
from facade_wwr.errors import Warnings  # noqa: E402
from facade_wwr.footprints import read_footprints  # noqa: E402
from facade_wwr.geo import LocalFrame  # noqa: E402
from facade_wwr.geo_settings import GeoSettings  # noqa: E402
from facade_wwr.poses import Pose  # noqa: E402

ORIGIN = (35.63, 139.74)


def prediction_table(buffers, palette, image: str, count: int):
    """Buildings (every visible footprint) and then the largest windows, ``count`` instances in all."""
    bmask, wmask = building_mask(buffers), window_mask(buffers, palette)
    found = []
    for f in np.unique(buffers.owner[bmask]):
        found.append(("building", 1, bmask & (buffers.owner == f)))
    ids, sizes = np.unique(buffers.opening[wmask], return_counts=True)
    for k in ids[np.argsort(-sizes)][: max(0, count - len(found))]:
        found.append(("window", 0, wmask & (buffers.opening == k)))
    found = found[:count]
    rles = masks.encode_many(np.stack([m for _, _, m in found]))
    boxes = []
    for _, _, m in found:
        ys, xs = np.nonzero(m)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return predictions.make_table(
        image,
        [c for c, _, _ in found],
        [i for _, i, _ in found],
        [1.0] * len(found),
        np.array(boxes, dtype=np.float32),
        rles,
        [int(m.sum()) for _, _, m in found],
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=36)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", default="1920x1080")
    p.add_argument("--instances", type=int, default=100)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    width, height = parse_size(args.size)
    city = generate_city(args.seed, args.blocks)
    frame = LocalFrame(*ORIGIN)
    streets = Streets.of(city)
    rng = np.random.default_rng(args.seed)
    # a camera near the middle of the city, so that footprints surround it
    central = sorted(range(len(city.footprints)), key=lambda i: float(np.hypot(*city.footprints[i].ring.mean(axis=0))))
    keep = {central[0], *central[:6]}
    sub = type(city)(tuple(city.footprints[i] for i in sorted(keep)), city.blocks, city.grid_angle)
    surfaces, palette = city_surfaces(city), city_palette(args.seed, city)
    for _ in range(50):  # a view showing enough windows to make up the instances
        pose = sample_pose(rng, sub, streets, width, height)
        buffers = render_buildings(pose.camera, surfaces)
        table = prediction_table(buffers, palette, "bench.jpg", args.instances)
        if len(table) >= args.instances:
            break
    cam = pose.camera
    with tempfile.TemporaryDirectory() as tmp:
        fp_path = Path(tmp) / "footprints.geojson"
        fp_path.write_text(json.dumps(footprints_geojson(city, frame)))
        pred_path = Path(tmp) / "bench.parquet"
        predictions.write(pred_path, table, "bench.jpg", width, height, "truth", "truth")
        settings = GeoSettings()
        warnings = Warnings(quiet=True)
        footprints = read_footprints(fp_path, settings, warnings)
        pred = predictions.read(pred_path)
        de, dn, dh = rng.normal(0.0, 1.0, 3) * np.array([3.0, 3.0, 5.0])
        lon, lat = (float(x) for x in frame.to_lonlat(cam.east + de, cam.north + dn))
        heading = (cam.heading + frame.grid_convergence(cam.east, cam.north) + dh) % 360.0
        noisy = Pose(lat, lon, heading, source="bench")
        in_range = link.photo_scene(footprints, lat, lon, settings.max_distance + settings.gps_error)
        kept_buildings = int((table["category_id"] == 1).sum())
        print(
            f"{width}x{height} photo, {len(table)} kept instances ({kept_buildings} buildings), "
            f"{len(in_range.members)} footprints in range ({in_range.scene.n_edges} walls) of {len(city.footprints)}; "
            f"pose off by {math.hypot(de, dn):.1f} m and {dh:+.1f} deg, hfov {cam.hfov:.1f} (not given)"
        )
        times = []
        profile = os.environ.get("BENCH_PROFILE")
        for _ in range(args.repeat):
            if profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            start, cpu = time.perf_counter(), time.process_time()
            result = link.link_photo(pred, pred_path, noisy, footprints, settings, 0.7, warnings)
            times.append((time.perf_counter() - start, time.process_time() - cpu))
            if profile:
                profiler.disable()
                profiler.dump_stats(profile)
        wall, cpu = min(times, key=lambda t: t[1])
        print(
            f"link: {cpu:.3f} s of CPU ({wall:.3f} s wall), best of {args.repeat}; "
            f"CPU seconds of all: {', '.join(f'{t[1]:.3f}' for t in times)}"
        )
        for stage, seconds in result.timings:
            print(f"  {stage:<22} {seconds * 1000:7.1f} ms")
        linked = sum(r["status"] == link_tables.LINKED for r in result.rows)
        pixels = int(table.loc[table["category_id"] == 1, "mask_area"].sum())
        print(
            f"agreement {result.before:.3f} -> {result.after:.3f}; {linked} rows linked; refinement scored "
            f"{result.work[0]} poses and rendered {result.work[1]} camera positions; {pixels} building mask pixels"
        )


if __name__ == "__main__":
    main()
