"""A link job's time does not grow with the city: the same photos linked against 10,000 and 1,000,000
footprints (the demo city in the middle of a grid of filler buildings), through the footprint index.

    python benchmarks/bench_geo_scale.py [--counts 10000 1000000] [--photos 12] [--work DIR]

Writes the default demo city's photos (`demo-city`, seed 0) with ground-truth masks as predictions, then per
count: a GeoParquet footprint file (the city's 38 footprints plus filler rectangles on a 15 m grid around
it, nearest first, none within 300 m of the city's centre), `facade-wwr index-footprints` on it, and one
`facade-wwr link` job over all the photos reading that index. Printed: seconds of the index and of the link
job, and whether the link tables are identical.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import ground_truth_predictions  # noqa: E402

PITCH = 15.0  # metres between filler buildings
SIZE = 9.0  # filler buildings are SIZE x SIZE metres
CLEAR = 300.0  # no filler within this distance of the city's centre


def cli(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "facade_wwr.cli", *args], check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def filler(count: int, lat0: float, lon0: float) -> gpd.GeoDataFrame:
    """The ``count`` cells of a square grid centred on the city nearest to it, leaving out the middle: the
    neighbourhood of the city is the same whatever the count."""
    side = math.ceil(math.sqrt(count * 1.1)) + int(2 * CLEAR / PITCH) + 2
    k = np.arange(side) - side // 2
    x, y = np.meshgrid(k * PITCH, k * PITCH)
    x, y = x.ravel(), y.ravel()
    distance = np.hypot(x, y)
    order = np.argsort(distance, kind="stable")
    order = order[distance[order] > CLEAR][:count]
    x, y = x[order], y[order]
    metres_per_degree = 6_371_008.8 * math.pi / 180
    lat = lat0 + y / metres_per_degree
    lon = lon0 + x / (metres_per_degree * math.cos(math.radians(lat0)))
    dlat = SIZE / metres_per_degree
    dlon = SIZE / (metres_per_degree * math.cos(math.radians(lat0)))
    boxes = shapely.box(lon, lat, lon + dlon, lat + dlat)
    return gpd.GeoDataFrame(
        {"id": [f"fill-{i}" for i in range(len(boxes))], "height": np.full(len(boxes), 12.0)},
        geometry=boxes,
        crs="EPSG:4326",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        city = work / "city"
        if not city.exists():
            cli("demo-city", str(city), "--train", "0", "--val", "0", "--photos", str(args.photos), "--quiet")
        pred = work / "pred"
        if not pred.exists():
            ground_truth_predictions(city / "photos", city / "photos" / "via_region_data.json", pred)
        town = gpd.read_file(city / "footprints.geojson")[["id", "height", "geometry"]]
        centre = town.geometry.union_all().centroid
        tables = []
        for count in args.counts:
            source = work / f"footprints_{count}.parquet"
            all_footprints = pd.concat([town, filler(count - len(town), centre.y, centre.x)], ignore_index=True)
            gpd.GeoDataFrame(all_footprints, crs="EPSG:4326").to_parquet(source)
            index = work / f"index_{count}.parquet"
            index_s = cli("index-footprints", str(source), "--out", str(index), "--quiet")
            links = work / f"links_{count}.parquet"
            argv = ["link", str(pred), "--footprints", str(index), "--poses", str(city / "poses.csv")]
            link_s = cli(*argv, "--out", str(links), "--quiet")
            table = pd.read_parquet(links)
            tables.append(table)
            print(
                f"{count:>9,} footprints: index-footprints {index_s:.1f} s; link job over {args.photos} photos "
                f"{link_s:.1f} s ({link_s / args.photos:.2f} s per photo), {len(table)} link rows"
            )
        same = all(t.equals(tables[0]) for t in tables[1:])
        print(f"link tables identical across counts: {same}")


if __name__ == "__main__":
    main()
