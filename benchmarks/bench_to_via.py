"""Round trip prediction files -> to-via -> via2coco: mask IoU, vertices and file size per tolerance.

Prediction files are made from a real split's ground truth (``--masks gt``: masks rasterised from the
hand-drawn polygons) or from the same masks blurred the way Mask R-CNN pastes its 28x28 masks
(``--masks maskrcnn``: rounded corners, no polygon behind them). Run from the project root:

    python benchmarks/bench_to_via.py --split val --masks gt
    python benchmarks/bench_to_via.py --split train --masks maskrcnn
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from facade_wwr import masks, predictions
from facade_wwr.coco import Source, build_coco, load_coco, via_to_coco
from facade_wwr.errors import Warnings
from facade_wwr.to_via import Options, write_via

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "datasets" / "japan-buildings"


def maskrcnn_like(mask: np.ndarray, resolution: int = 28) -> np.ndarray:
    """The mask squeezed into a ``resolution``-square grid and pasted back into its box, thresholded at 0.5."""
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    crop = mask[y0:y1, x0:x1].astype(np.float32)
    small = cv2.resize(crop, (resolution, resolution), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (int(x1 - x0), int(y1 - y0)), interpolation=cv2.INTER_LINEAR) >= 0.5
    out = np.zeros_like(mask)
    out[y0:y1, x0:x1] = big
    return out


def prediction_files(coco_path: Path, out: Path, kind: str) -> list[Path]:
    coco = load_coco(coco_path)
    paths = []
    for image in coco["images"]:
        table = predictions.from_coco(coco, image["id"])
        h, w = int(image["height"]), int(image["width"])
        if kind == "maskrcnn" and len(table):
            dense = np.stack([maskrcnn_like(masks.decode(c, h, w)) for c in table["mask_rle"]])
            table["mask_rle"] = masks.encode_many(dense)
            table["mask_area"] = dense.reshape(len(dense), -1).sum(axis=1)
        path = out / f"{Path(image['file_name']).stem}.parquet"
        predictions.write(path, table, image["file_name"], w, h, "ground-truth", kind)
        paths.append(path)
    return paths


def ious(pred_paths: list[Path], coco: dict) -> dict[str, list[float]]:
    """IoU of each predicted mask with the via2coco annotation made from its polygon (same order)."""
    by_name = {i["file_name"]: i for i in coco["images"]}
    result: dict[str, list[float]] = {}
    for path in pred_paths:
        pred = predictions.read(path)
        image = by_name.get(pred.image)
        anns = [a for a in coco["annotations"] if image and a["image_id"] == image["id"]]
        if len(anns) != len(pred.table):
            raise SystemExit(f"{path}: {len(pred.table)} instances but {len(anns)} annotations came back")
        for row, ann in zip(pred.table.itertuples(index=False), anns):
            a = masks.rle(row.mask_rle, pred.height, pred.width)
            b = masks.polygons_to_rle(ann["segmentation"], pred.height, pred.width)
            iou = float(mask_utils.iou([a], [b], [0])[0][0])
            result.setdefault(row.category, []).append(iou)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--split", default="val", choices=("train", "val"))
    p.add_argument("--masks", default="gt", choices=("gt", "maskrcnn"))
    p.add_argument("--tolerances", default="0,0.5,1,2,3")
    p.add_argument("--min-iou", type=float, default=Options.min_iou)
    args = p.parse_args(argv)
    split = args.data / args.split
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        gt = tmp_dir / "gt.json"
        via_to_coco([Source(str(split / "via_region_data.json"), str(split))], gt, warnings=Warnings(quiet=True))
        pred_dir = tmp_dir / "pred"
        paths = prediction_files(gt, pred_dir, args.masks)
        n = {}
        for path in paths:
            for c in predictions.read(path).table["category"]:
                n[c] = n.get(c, 0) + 1
        print(f"{args.split} {args.masks}: {len(paths)} photos, " + ", ".join(f"{v} {k}s" for k, v in n.items()))
        print(f"min IoU {args.min_iou:g}")
        print(
            "| tolerance (px) | window IoU median / 5th pct / min | building IoU median / min "
            "| vertices | file size | to-via s/photo |"
        )
        print("|---|---|---|---|---|---|")
        for tol in (float(t) for t in args.tolerances.split(",")):
            via = tmp_dir / f"via_{tol}.json"
            t0 = time.perf_counter()
            options = Options(score_threshold=0.0, tolerance=tol, min_iou=args.min_iou)
            summary = write_via(paths, via, options, photos=split, warnings=Warnings())
            seconds = (time.perf_counter() - t0) / len(paths)
            coco, _ = build_coco([Source(str(via), str(split))], tmp_dir / "back.json", warnings=Warnings(strict=True))
            res = ious(paths, coco)
            w, b = np.asarray(res.get("window", [np.nan])), np.asarray(res.get("building", [np.nan]))
            print(
                f"| {tol:g} | {np.median(w):.4f} / {np.percentile(w, 5):.4f} / {w.min():.4f} "
                f"| {np.median(b):.4f} / {b.min():.4f} | {summary.vertices} "
                f"| {os.path.getsize(via) / 1024:.0f} KiB | {seconds:.3f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
