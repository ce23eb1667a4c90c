"""Per-photo cost of analysis on RLE runs vs the tutorial's loop, and the separate cost of overlays.

Generates prediction files for 1920x1080 photos with 10 buildings and 90 windows each (some windows
overlapping, some straddling two buildings), then times, per photo, over the same files:

* ours: read the Parquet file and compute the building rows (``analysis.analyze_predictions``);
* tutorial: read the same file, decode every mask, and for each building sum each window's pixels
  inside it (``np.sum(window[building_mask])``), as the tutorial's notebook does;
* overlays: decode the photo (JPEG), paint masks and labels, write the JPEG (``--overlays``).

Run: ``python benchmarks/bench_analysis.py [--photos 5] [--repeat 3]``. Prints the figures; asserts nothing
about time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from facade_wwr import analysis, drawing, masks, predictions

WIDTH, HEIGHT = 1920, 1080
BUILDINGS, WINDOWS = 10, 90


def make_photo_masks(rng: np.random.Generator) -> tuple[list[str], list[float], np.ndarray]:
    """Categories, scores and boolean masks (N, H, W) of one synthetic photo."""
    cats, scores, stack = [], [], []
    boxes = []
    for i in range(BUILDINGS):
        x0 = int(rng.integers(0, WIDTH - 400))
        y0 = int(rng.integers(100, HEIGHT - 400))
        w, h = min(int(rng.integers(250, 600)), WIDTH - x0), min(int(rng.integers(250, 600)), HEIGHT - y0)
        m = np.zeros((HEIGHT, WIDTH), dtype=bool)
        m[y0 : y0 + h, x0 : x0 + w] = True
        if i % 2:  # a gabled roof: a triangle on top
            for k in range(min(80, y0)):
                m[y0 - k, x0 + k : x0 + w - k] = True
        cats.append("building")
        scores.append(float(rng.uniform(0.75, 1.0)))
        stack.append(m)
        boxes.append((x0, y0, w, h))
    for j in range(WINDOWS):
        x0, y0, w, h = boxes[j % BUILDINGS]
        ww, wh = int(rng.integers(25, 70)), int(rng.integers(30, 90))
        wx = x0 + int(rng.integers(-20, max(1, w - ww + 20)))  # some windows spill over the edge
        wy = y0 + int(rng.integers(0, max(1, h - wh)))
        m = np.zeros((HEIGHT, WIDTH), dtype=bool)
        m[max(wy, 0) : wy + wh, max(wx, 0) : wx + ww] = True
        cats.append("window")
        scores.append(float(rng.uniform(0.75, 1.0)))
        stack.append(m)
    return cats, scores, np.stack(stack)


def write_photo(folder: Path, index: int, rng: np.random.Generator) -> Path:
    cats, scores, stack = make_photo_masks(rng)
    ys = [np.nonzero(m.any(axis=1))[0] for m in stack]
    xs = [np.nonzero(m.any(axis=0))[0] for m in stack]
    boxes = np.array([[x[0], y[0], x[-1] + 1, y[-1] + 1] for x, y in zip(xs, ys)], dtype=np.float32)
    name = f"photo_{index:03d}.jpg"
    table = predictions.make_table(
        name,
        cats,
        [1 if c == "building" else 0 for c in cats],
        scores,
        boxes,
        masks.encode_many(stack),
        [int(m.sum()) for m in stack],
    )
    path = folder / f"photo_{index:03d}.parquet"
    predictions.write(path, table, name, WIDTH, HEIGHT, "bench", "bench")
    photo = (rng.random((HEIGHT, WIDTH, 3)) * 60 + 100).astype(np.uint8)
    Image.fromarray(photo).save(folder / name, quality=90)
    return path


def tutorial(path: Path, threshold: float = 0.7) -> list[float]:
    """The tutorial's method: decode every mask; per building, sum every window's pixels inside it."""
    pred = predictions.read(path)
    t = pred.table[pred.table["score"] >= threshold]
    decoded = [masks.decode(c, pred.height, pred.width) for c in t["mask_rle"]]
    categories = list(t["category"])
    out = []
    for bmask, cat in zip(decoded, categories):
        if cat != "building":
            continue
        area = np.sum(bmask)
        inside = [np.sum(wmask[bmask]) for wmask, wcat in zip(decoded, categories) if wcat == "window"]
        out.append(sum(inside) / area)
    return out


def ours(path: Path) -> list[float]:
    return list(analysis.analyze_predictions(predictions.read(path), path).table["window_percentage"])


def overlay(path: Path, out: Path) -> None:
    result = analysis.analyze_predictions(predictions.read(path), path)
    photo = Image.open(path.with_suffix(".jpg")).convert("RGB")
    drawing.save(drawing.draw_analysis(photo, result), out / path.with_suffix(".jpg").name)


def per_photo(fn, paths: list[Path], repeat: int) -> float:
    """Median over ``repeat`` runs of the mean seconds per photo."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for p in paths:
            fn(p)
        runs.append((time.perf_counter() - start) / len(paths))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = [write_photo(folder, i, rng) for i in range(args.photos)]
        size_kb = statistics.mean(p.stat().st_size for p in paths) / 1024
        # Sanity: ours counts overlapping windows once, the tutorial twice, so ours <= tutorial.
        pairs = [(x, y) for p in paths for x, y in zip(ours(p), tutorial(p), strict=True)]
        below = all(x <= y + 1e-12 for x, y in pairs)
        over_one = sum(y > 1 for _, y in pairs)
        t_ours = per_photo(ours, paths, args.repeat)
        t_tut = per_photo(tutorial, paths, args.repeat)
        (folder / "ov").mkdir()
        t_ov = per_photo(lambda p: overlay(p, folder / "ov"), paths, args.repeat)
    print(f"photos: {args.photos} x {WIDTH}x{HEIGHT}, {BUILDINGS} buildings + {WINDOWS} windows each")
    print(f"prediction file size: {size_kb:.0f} KB per photo")
    print(f"ours <= tutorial on all {len(pairs)} buildings (overlaps counted once): {below}; tutorial > 1: {over_one}")
    print(f"ours (RLE, overlays off):   {1000 * t_ours:8.1f} ms per photo")
    print(f"tutorial loop (dense):      {1000 * t_tut:8.1f} ms per photo")
    print(f"speed-up:                   {t_tut / t_ours:8.1f}x")
    print(f"analysis + overlay (JPEG):  {1000 * t_ov:8.1f} ms per photo (overlay adds {1000 * (t_ov - t_ours):.1f} ms)")


if __name__ == "__main__":
    main()
