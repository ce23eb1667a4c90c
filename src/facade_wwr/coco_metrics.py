"""COCO evaluation of a model on a COCO file: box and mask AP, AP50, AP75 and per class, by pycocotools.

Predictions go through exactly the code that ``facade-wwr predict`` uses (same resizing, same mask
pasting), so the figures describe the files analysis will read. The detection cap of the last COCO
``maxDets`` step follows the model's cap (300 by default, not COCO's 100): dense facades hold more than
100 windows, and a cap of 100 would bound window AP from above.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np

from facade_wwr.coco import class_names, image_path, load_coco
from facade_wwr.inference import Predictor, background_batches


def _coco_api(dataset: dict[str, Any]):
    from pycocotools.coco import COCO

    gt = COCO()
    gt.dataset = {k: dataset[k] for k in ("images", "annotations", "categories")}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def detections(predictor: Predictor, coco_path: str | Path, batch_size: int = 2) -> tuple[dict[str, Any], list[dict]]:
    """The COCO file and the model's results on its annotated images, in COCO results format."""
    coco = load_coco(coco_path)
    images = [im for im in coco["images"] if any(a["image_id"] == im["id"] for a in coco["annotations"])]
    paths = [image_path(coco_path, im) for im in images]
    results: list[dict[str, Any]] = []
    done = 0
    for batch in background_batches(paths, batch_size, predictor.min_size, predictor.max_size):
        bad = [p for p in batch if p.tensor is None]
        if bad:
            from facade_wwr.errors import UserError

            raise UserError(f"{coco_path}: {bad[0].error}")
        for inst in predictor.predict(batch):
            image = images[done]
            done += 1
            for box, score, cat, rle in zip(inst.boxes, inst.scores, inst.category_ids, inst.rles):
                results.append(
                    {
                        "image_id": image["id"],
                        "category_id": int(cat),
                        "score": float(score),
                        "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])],
                        "segmentation": {"size": [image["height"], image["width"]], "counts": rle},
                    }
                )
    return coco, results


def _mean(values: np.ndarray) -> float | None:
    """Mean over the defined entries (pycocotools marks undefined ones -1); None when there are none."""
    valid = values[values > -1]
    return round(float(np.mean(valid)), 4) if valid.size else None


def _summary(evaluator: Any, classes: list[str]) -> dict[str, Any]:
    """AP figures from the precision array at the last ``maxDets`` step (COCOeval.summarize hard-codes 100)."""
    precision = evaluator.eval["precision"]  # [iou thresholds, recall, category, area range, max dets]
    i50 = int(np.argmin(np.abs(evaluator.params.iouThrs - 0.5)))
    i75 = int(np.argmin(np.abs(evaluator.params.iouThrs - 0.75)))
    out: dict[str, Any] = {
        "AP": _mean(precision[:, :, :, 0, -1]),
        "AP50": _mean(precision[i50, :, :, 0, -1]),
        "AP75": _mean(precision[i75, :, :, 0, -1]),
        "APs": _mean(precision[:, :, :, 1, -1]),
        "APm": _mean(precision[:, :, :, 2, -1]),
        "APl": _mean(precision[:, :, :, 3, -1]),
    }
    per_class = {}
    for k, cat_id in enumerate(evaluator.params.catIds):
        name = classes[cat_id] if 0 <= cat_id < len(classes) else str(cat_id)
        per_class[name] = {"AP": _mean(precision[:, :, k, 0, -1]), "AP50": _mean(precision[i50, :, k, 0, -1])}
    out["per_class"] = per_class
    return out


def _zero(classes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {k: 0.0 for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")}
    out["per_class"] = {c: {"AP": 0.0, "AP50": 0.0} for c in classes}
    return out


def score(coco: dict[str, Any], results: list[dict], max_dets: int = 300) -> dict[str, Any]:
    """pycocotools COCOeval of ``results`` against ``coco`` for boxes and masks."""
    from pycocotools.cocoeval import COCOeval

    classes = class_names(coco)
    gt = _coco_api(coco)
    metrics: dict[str, Any] = {
        "images": len({a["image_id"] for a in coco["annotations"]}),
        "detections": len(results),
        "max_dets": max_dets,
    }
    for iou_type in ("bbox", "segm"):
        if not results:  # pycocotools cannot load an empty result list; nothing found scores 0
            metrics[iou_type] = _zero(classes)
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            dt = gt.loadRes([dict(r) for r in results])
            evaluator = COCOeval(gt, dt, iou_type)
            evaluator.params.maxDets = [1, 10, max(100, max_dets)]
            evaluator.evaluate()
            evaluator.accumulate()
        metrics[iou_type] = _summary(evaluator, classes)
    return metrics


def evaluate(predictor: Predictor, coco_path: str | Path, batch_size: int = 2, max_dets: int = 300) -> dict[str, Any]:
    """Predict the annotated images of ``coco_path`` and score them (box and mask AP by pycocotools)."""
    coco, results = detections(predictor, coco_path, batch_size)
    return score(coco, results, max_dets)


def format_metrics(metrics: dict[str, Any]) -> str:
    """One line: mask and box AP/AP50 and the mask AP50 per class."""

    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    segm, bbox = metrics["segm"], metrics["bbox"]
    per_class = ", ".join(f"{k} {f(v['AP50'])}" for k, v in segm["per_class"].items())
    return (
        f"mask AP {f(segm['AP'])} AP50 {f(segm['AP50'])} | box AP {f(bbox['AP'])} AP50 {f(bbox['AP50'])} "
        f"| mask AP50 per class: {per_class}"
    )


#: A val mask AP50 below this (overall, or of one class) means the model finds almost nothing.
LOW_AP50 = 0.05


def weak_model(metrics: dict[str, Any], source: str | Path) -> str | None:
    """What a user must hear about a model whose val mask AP50 (or one class's) is near zero, or None."""
    segm = metrics.get("segm")
    if not segm:
        return None
    per_class = segm["per_class"]
    low = [v for v in [segm["AP50"], *(c["AP50"] for c in per_class.values())] if v is not None and v < LOW_AP50]
    if not low:
        return None
    classes = ", ".join(f"{k} {'n/a' if v['AP50'] is None else format(v['AP50'], '.3f')}" for k, v in per_class.items())
    ap50 = "n/a" if segm["AP50"] is None else f"{segm['AP50']:.3f}"
    return (
        f"{source}: val mask AP50 {ap50} ({classes}) is near zero: the model finds almost nothing; train longer "
        "(train.max_iter), start from pretrained weights (model.weights: coco), or check the annotations "
        "(results/previews/train)"
    )
