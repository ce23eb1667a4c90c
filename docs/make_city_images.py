"""Draw docs/img/city-view.png (one view: photo, labels, VIA polygons), docs/img/city-map.png (the map) and
docs/img/link-city.jpg (a `link` overlay).

Run from the project root: PYTHONPATH=src python docs/make_city_images.py
All come from the default demo city (seed 0, 4 blocks): its train views, and for the overlay its photo_0001
drawn at 768x576, linked with its VIA polygons as predictions and its EXIF pose, refined.
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Polygon as PolygonPatch  # noqa: E402
from matplotlib.patches import Wedge  # noqa: E402
from PIL import Image  # noqa: E402

from facade_wwr.city import footprint_wwr  # noqa: E402
from facade_wwr.city_demo import Options, Setting, via_regions  # noqa: E402
from facade_wwr.city_render import GROUND, OCCLUDER, ROOF, SKY, WALL  # noqa: E402
from facade_wwr.city_views import make_view, window_mask  # noqa: E402
from facade_wwr.cli import main as cli  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.helpers import ground_truth_predictions  # noqa: E402

OUT = ROOT / "docs" / "img"
SIZE = (512, 384)
VIEWS = 40


def _labels(view, palette) -> np.ndarray:
    """Per-pixel label colours: a hue per footprint (roofs lighter), windows dark blue, occluders grey."""
    b = view.buffers
    img = np.zeros((*b.kind.shape, 3))
    img[b.kind == SKY] = (235, 240, 248)
    img[b.kind == GROUND] = (200, 200, 200)
    img[b.kind == OCCLUDER] = (110, 110, 110)
    hues = (np.arange(len(palette.wall)) * 0.618) % 1.0
    colours = plt.get_cmap("hsv")(hues)[:, :3] * 200 + 40
    for kind, lift in ((WALL, 0.0), (ROOF, 0.45)):
        m = b.kind == kind
        img[m] = colours[b.owner[m]] * (1 - lift) + 255 * lift
    img[window_mask(b, palette)] = (25, 35, 90)
    return img.astype(np.uint8)


def draw_view(setting: Setting, index: int) -> None:
    view = make_view(0, "train", index, setting.city, setting.streets, setting.surfaces, setting.palette, SIZE)
    regions, _ = via_regions(view)
    fig, axes = plt.subplots(1, 2, figsize=(10.24, 4.2), dpi=100)
    axes[0].imshow(view.image)
    axes[0].set_title(
        f"train_{index:04d}.jpg (hfov {view.pose.camera.hfov:.0f}°, {view.pose.off_normal:.0f}° off normal)"
    )
    axes[1].imshow(_labels(view, setting.palette))
    for r in regions:
        xs, ys = r["shape_attributes"]["all_points_x"], r["shape_attributes"]["all_points_y"]
        building = "building" in r["region_attributes"]["class"]
        axes[1].add_patch(
            PolygonPatch(
                np.stack([np.array(xs) + 0.5, np.array(ys) + 0.5], axis=1),
                closed=True,
                fill=False,
                lw=1.4 if building else 0.6,
                ec="white" if building else "yellow",
            )
        )
    axes[1].set_title(f"labels and VIA polygons ({len(regions)} regions)")
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout(pad=0.8)
    _save(fig, OUT / "city-view.png")


def draw_map(setting: Setting, highlight: int) -> None:
    city = setting.city
    fig, ax = plt.subplots(figsize=(6.4, 6.4), dpi=100)
    cmap = plt.get_cmap("viridis")
    for ring in city.blocks:
        ax.add_patch(PolygonPatch(ring, closed=True, fc="#eeeeee", ec="#cccccc", lw=0.5))
    for fp in city.footprints:
        window, wall = footprint_wwr(fp)["all"]
        ax.add_patch(PolygonPatch(fp.ring, closed=True, fc=cmap(window / wall / 0.5), ec="black", lw=0.6))
        for w in fp.walls:
            if w.party:
                ax.plot(*np.array([w.start, w.end]).T, color="red", lw=1.2)
    for i in range(VIEWS):
        cam = make_view(0, "train", i, city, setting.streets, setting.surfaces, setting.palette, SIZE).pose.camera
        theta = 90.0 - cam.heading  # matplotlib angles: counter-clockwise from east
        lit = i == highlight
        ax.add_patch(
            Wedge(
                (cam.east, cam.north),
                18.0,
                theta - cam.hfov / 2,
                theta + cam.hfov / 2,
                fc=(1.0, 0.5, 0.0, 0.45 if lit else 0.12),
                ec="darkorange" if lit else "none",
            )
        )
        ax.plot(cam.east, cam.north, "o", ms=4 if lit else 2.5, color="darkorange" if lit else "tab:blue")
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("east (m)")
    ax.set_ylabel("north (m)")
    ax.set_title(f"{len(city.footprints)} footprints (colour: WWR 0-0.5, red: party walls), {VIEWS} train cameras")
    ax.title.set_fontsize(9)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 0.5))
    fig.colorbar(sm, ax=ax, shrink=0.6, label="footprint WWR")
    fig.tight_layout()
    _save(fig, OUT / "city-map.png")


def draw_link(photo: str = "photo_0001.jpg", size: str = "768x576") -> None:
    """The `link` overlay of one demo-city photo, its VIA polygons standing in for predictions."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        index = int(Path(photo).stem.split("_")[1])
        args = ["--train", "0", "--val", "0", "--photos", str(index + 1), "--size", size, "--quiet"]
        assert cli(["demo-city", str(work / "city"), *args]) == 0
        photos = work / "city" / "photos"
        (pred,) = ground_truth_predictions(photos, photos / "via_region_data.json", work / "pred", [photo])
        footprints = str(work / "city" / "footprints.geojson")
        argv = ["link", str(pred), "--footprints", footprints, "--photos", str(photos), "--overlays", str(work / "ov")]
        assert cli([*argv, "--out", str(work / "links.parquet"), "--quiet"]) == 0
        out = OUT / "link-city.jpg"
        shutil.copyfile(work / "ov" / f"{Path(photo).stem}.jpg", out)
        print(f"{out}: {out.stat().st_size // 1024} KB")


def _save(fig, path: Path) -> None:
    """Save through a 256-colour palette: the photos' sensor noise would make a full-colour PNG large."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgba).quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True
    )
    print(f"{path}: {path.stat().st_size // 1024} KB")


def main() -> None:
    setting = Setting.of(Options())
    best = max(
        range(VIEWS),
        key=lambda i: _score(
            make_view(0, "train", i, setting.city, setting.streets, setting.surfaces, setting.palette, SIZE)
        ),
    )
    draw_view(setting, best)
    draw_map(setting, best)
    draw_link()


def _score(view) -> float:
    """Prefer an oblique view with several buildings, windows and an occluder."""
    kept = [i for i in view.instances if i.polygon is not None]
    windows = sum(len(i.windows) for i in kept)
    return (
        min(len(kept), 6)
        + min(windows, 40) / 8
        + 2 * min(len(view.occluders), 1)
        + abs(math.sin(math.radians(view.pose.off_normal)))
    )


if __name__ == "__main__":
    main()
