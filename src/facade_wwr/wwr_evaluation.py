"""Window-percentage evaluation: predicted buildings against annotated ground truth.

For every photo of a COCO file: the ground-truth buildings (all its building annotations) and the
predicted buildings kept by analysis are matched one-to-one by mask IoU >= 0.5, greedily in score order
(each prediction takes the unmatched ground-truth building it overlaps most). Reported: the share of
ground-truth buildings found (recall), precision, and on matched pairs the window-percentage error in
percentage points (mean absolute, median, share within 5 points).

True window percentages are computed independently of analysis, on decoded box-cropped masks with
numpy. The *control* pushes the ground truth itself through analysis (the RLE code path) and scores it
the same way: its recall must be 1 and its error exactly 0, which checks analysis end to end.

A photo whose prediction file is missing is warned about and counts as a photo where nothing was found
(its buildings are misses): leaving it out would flatter the model.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from facade_wwr import DEFAULT_SCORE_THRESHOLD, analysis, masks, predictions, tables
from facade_wwr.coco import class_names, load_coco
from facade_wwr.errors import UserError, Warnings
from facade_wwr.predictions import Predictions

IOU_THRESHOLD = 0.5
#: A window-percentage error counts as "close" within this many percentage points.
CLOSE_POINTS = 5.0
#: A model that finds fewer of the annotated buildings than this share found (almost) none.
LOW_RECALL = 0.1


@dataclass(frozen=True)
class Pair:
    """A matched ground-truth / predicted building."""

    file_name: str
    gt_annotation: int
    pred_id: str
    iou: float
    true: float
    predicted: float

    @property
    def error_points(self) -> float:
        return 100.0 * abs(self.predicted - self.true)


def dense_window_percentages(building_rles: Sequence[dict], window_rles: Sequence[dict]) -> np.ndarray:
    """Reference window percentages from decoded masks: |building ∩ (OR of windows)| / |building|.

    Independent of analysis's RLE arithmetic on purpose (it is the truth the control is scored against).
    Each mask is decoded once and kept only as its box crop.
    """
    windows = [(c.box, c.mask) for c in map(masks.crop, window_rles) if c is not None]
    out = np.zeros(len(building_rles), dtype=np.float64)
    for i, rle in enumerate(building_rles):
        c = masks.crop(rle)
        if c is None:
            continue
        (bx0, by0, bx1, by1), bmask = c.box, c.mask
        union = np.zeros_like(bmask)
        for (wx0, wy0, wx1, wy1), wmask in windows:
            x0, y0, x1, y1 = max(bx0, wx0), max(by0, wy0), min(bx1, wx1), min(by1, wy1)
            if x0 < x1 and y0 < y1:
                union[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0] |= wmask[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0]
        out[i] = np.count_nonzero(bmask & union) / np.count_nonzero(bmask)
    return out


def match(
    pred_rles: Sequence[dict], gt_rles: Sequence[dict], iou_threshold: float = IOU_THRESHOLD
) -> list[tuple[int, int, float]]:
    """One-to-one matches ``(pred index, gt index, iou)``; predictions must come in score order."""
    if not pred_rles or not gt_rles:
        return []
    ious = np.asarray(mask_utils.iou(list(pred_rles), list(gt_rles), [0] * len(gt_rles))).reshape(
        len(pred_rles), len(gt_rles)
    )
    taken = np.zeros(len(gt_rles), dtype=bool)
    pairs = []
    for p in range(len(pred_rles)):
        candidates = np.where(taken, -1.0, ious[p])
        g = int(np.argmax(candidates))
        if candidates[g] >= iou_threshold:
            taken[g] = True
            pairs.append((p, g, float(ious[p, g])))
    return pairs


def error_summary(pairs: Sequence[Pair]) -> dict[str, Any]:
    """MAE, median and share within 5 points of the window-percentage errors (percentage points)."""
    errors = [p.error_points for p in pairs]
    if not errors:
        return {"n": 0, "mae": None, "median": None, "within_5_points": None}
    return {
        "n": len(errors),
        "mae": float(np.mean(errors)),
        "median": float(statistics.median(errors)),
        "within_5_points": float(np.mean([e <= CLOSE_POINTS for e in errors])),
    }


@dataclass
class Tally:
    """Counts and matched pairs of one side (the model or the control) over all photos."""

    gt: int = 0
    pred: int = 0
    pairs: list[Pair] | None = None

    def add(
        self,
        file_name: str,
        gt_ids: Sequence[int],
        truth: np.ndarray,
        result: analysis.PhotoResult | None,
        gt_rles: Sequence[dict],
        iou_threshold: float,
    ) -> int:
        """Score one photo; return the number of matches."""
        self.pairs = self.pairs if self.pairs is not None else []
        self.gt += len(gt_ids)
        if result is None:
            return 0
        self.pred += len(result.table)
        found = match(result.instances.building_rles, gt_rles, iou_threshold)
        for p, g, iou in found:
            row = result.table.iloc[p]
            self.pairs.append(
                Pair(file_name, gt_ids[g], str(row["id"]), iou, float(truth[g]), float(row["window_percentage"]))
            )
        return len(found)

    def summary(self) -> dict[str, Any]:
        pairs = self.pairs or []
        return {
            "gt_buildings": self.gt,
            "pred_buildings": self.pred,
            "matched": len(pairs),
            "recall": len(pairs) / self.gt if self.gt else None,
            "precision": len(pairs) / self.pred if self.pred else None,
            "wwr_error_points": error_summary(pairs),
        }


def prediction_path(pred_dir: str | Path, file_name: str) -> Path:
    return Path(pred_dir) / (Path(file_name).stem + ".parquet")


def read_prediction(path: Path, image: dict[str, Any]) -> Predictions:
    """Read a photo's prediction file and check it belongs to that photo, at its size."""
    pred = predictions.read(path)
    if pred.image != image["file_name"]:
        raise UserError(f"{path}: predictions are for photo {pred.image}, expected {image['file_name']}")
    if (pred.width, pred.height) != (int(image["width"]), int(image["height"])):
        raise UserError(
            f"{path}: predicted on {pred.width}x{pred.height} but {image['file_name']} is "
            f"{image['width']}x{image['height']} in the COCO file"
        )
    return pred


def evaluate(
    coco_path: str | Path,
    pred_dir: str | Path,
    threshold: float = DEFAULT_SCORE_THRESHOLD,
    iou_threshold: float = IOU_THRESHOLD,
    warnings: Warnings | None = None,
    mixed_models: bool = False,
) -> tuple[dict[str, Any], list[Pair]]:
    """Metrics (JSON-ready) and the model's matched pairs, for the scatter plot. Prediction files of more than
    one model are refused unless ``mixed_models``; ``model_id`` records which model was scored."""
    warnings = warnings if warnings is not None else Warnings()
    threshold = analysis.check_threshold(threshold)
    coco = load_coco(coco_path)
    if not Path(pred_dir).is_dir():
        raise UserError(f"{pred_dir}: prediction folder not found")
    if len(class_names(coco)) < 2:
        raise UserError(f"{coco_path}: needs window (id 0) and building (id 1) categories")
    model, control = Tally(), Tally()
    missing: list[str] = []
    per_photo: list[dict[str, Any]] = []
    quiet = Warnings(quiet=True)
    first_model: tuple[str, str] | None = None
    for image in coco["images"]:
        gt_table = predictions.from_coco(coco, image["id"], source=str(coco_path))
        gt_pred = Predictions(
            gt_table, image["file_name"], int(image["width"]), int(image["height"]), "ground-truth", "ground-truth"
        )
        gt_inst = analysis.select_instances(gt_pred, 0.0, coco_path, quiet)
        anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        gt_ids = [int(anns[i]["id"]) for i in gt_inst.buildings["instance"]]  # instance = annotation position
        truth = dense_window_percentages(gt_inst.building_rles, gt_inst.window_rles)
        control_result = analysis.analyze_predictions(gt_pred, coco_path, 0.0, warnings=quiet)
        control.add(image["file_name"], gt_ids, truth, control_result, gt_inst.building_rles, iou_threshold)
        path = prediction_path(pred_dir, image["file_name"])
        result = None
        if path.is_file():
            pred = read_prediction(path, image)
            first_model = first_model or (pred.model, str(path))
            if not mixed_models:
                tables.refuse_mixed_models(first_model, pred.model, str(path))
            result = analysis.analyze_predictions(pred, path, threshold, warnings=warnings)
        else:
            missing.append(image["file_name"])
            warnings.warn(f"{path}: no prediction file for {image['file_name']}; its buildings count as missed")
        found = model.add(image["file_name"], gt_ids, truth, result, gt_inst.building_rles, iou_threshold)
        per_photo.append(
            {
                "file_name": image["file_name"],
                "gt_buildings": len(gt_ids),
                "pred_buildings": None if result is None else len(result.table),
                "matched": found,
            }
        )
    metrics = {
        "coco": str(coco_path),
        "pred_dir": str(pred_dir),
        "model_id": first_model[0] if first_model else None,
        "score_threshold": threshold,
        "iou_threshold": iou_threshold,
        "photos": len(coco["images"]),
        "photos_without_predictions": missing,
        "model": model.summary(),
        "control": control.summary(),
        "per_photo": per_photo,
        "pairs": [
            {
                "file_name": p.file_name,
                "gt_annotation": p.gt_annotation,
                "pred_id": p.pred_id,
                "iou": p.iou,
                "true_window_percentage": p.true,
                "pred_window_percentage": p.predicted,
                "error_points": p.error_points,
            }
            for p in model.pairs or []
        ],
    }
    return metrics, list(model.pairs or [])


def plot(pairs: Sequence[Pair], metrics: dict[str, Any], path: str | Path) -> None:
    """Scatter of predicted vs true window percentage (in %), with the diagonal and a ±5-point band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facade_wwr.fileio import atomic_path

    true = np.array([100.0 * p.true for p in pairs])
    pred = np.array([100.0 * p.predicted for p in pairs])
    top = max(10.0, float(np.max(np.concatenate([true, pred]))) * 1.1 if len(pairs) else 10.0)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    ax.fill_between(
        [0, top],
        [-CLOSE_POINTS, top - CLOSE_POINTS],
        [CLOSE_POINTS, top + CLOSE_POINTS],
        color="0.9",
        label=f"within {CLOSE_POINTS:g} points",
    )
    ax.plot([0, top], [0, top], color="0.4", lw=1, label="predicted = true")
    ax.scatter(true, pred, s=16, color="tab:orange", edgecolor="k", linewidth=0.3, label="matched buildings")
    m = metrics["model"]
    err = m["wwr_error_points"]
    mae = "n/a" if err["mae"] is None else f"{err['mae']:.2f}"
    recall = "n/a" if m["recall"] is None else f"{m['recall']:.2f}"
    ax.set_title(
        f"{m['matched']} matched of {m['gt_buildings']} buildings (recall {recall}), MAE {mae} points", fontsize=9
    )
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_aspect("equal")
    ax.set_xlabel("true window percentage (%)")
    ax.set_ylabel("predicted window percentage (%)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def format_summary(metrics: dict[str, Any]) -> str:
    """Two lines for the terminal: the model, then the control."""

    def line(name: str, m: dict[str, Any]) -> str:
        e = m["wwr_error_points"]
        recall = "n/a" if m["recall"] is None else f"{m['recall']:.3f}"
        if e["n"] == 0:
            err = "no matched buildings"
        else:
            within = 100 * e["within_5_points"]
            err = f"WWR error MAE {e['mae']:.2f} / median {e['median']:.2f} points, {within:.0f}% within 5"
        return f"{name}: {m['matched']}/{m['gt_buildings']} buildings found (recall {recall}), {err}"

    return "\n".join(
        [line("model", metrics["model"]), line("control (ground truth through analysis)", metrics["control"])]
    )


def found_nothing(metrics: dict[str, Any], source: str | Path) -> str | None:
    """What a user must hear when the model finds (almost) none of the annotated buildings, or None."""
    m = metrics["model"]
    if not m["gt_buildings"] or m["recall"] >= LOW_RECALL:
        return None
    return (
        f"{source}: model: {m['matched']}/{m['gt_buildings']} annotated val buildings found (recall "
        f"{m['recall']:.3f}, score threshold {metrics['score_threshold']:g}): the building table means nothing yet"
    )
