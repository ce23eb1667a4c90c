"""facade-wwr evaluate: matching by mask IoU, recall, window-percentage errors, the exact control."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facade_wwr import masks, predictions, wwr_evaluation
from facade_wwr.cli import main
from facade_wwr.errors import UserError, Warnings

W, H = 40, 30


def rect(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    m = np.zeros((H, W), dtype=bool)
    m[r0 : r1 + 1, c0 : c1 + 1] = True
    return m


def polygon(r0: int, r1: int, c0: int, c1: int) -> list[float]:
    """COCO polygon along the pixel edges of rows r0..r1, columns c0..c1."""
    return [c0, r0, c1 + 1, r0, c1 + 1, r1 + 1, c0, r1 + 1]


# Ground truth. p1: building A (400 px) with windows W1, W2 (union 42 px): 10.5 %;
# building B (100 px) with one 20 px window: 20 %. p2: building E. p3: building F (no prediction file).
GT = {
    "p1.jpg": [
        ("building", (5, 24, 2, 21)),
        ("window", (6, 9, 3, 8)),
        ("window", (8, 11, 6, 11)),
        ("building", (10, 19, 25, 34)),
        ("window", (12, 15, 27, 31)),
    ],
    "p2.jpg": [("building", (0, 9, 0, 9))],
    "p3.jpg": [("building", (0, 9, 0, 9))],
}
# Predictions. p1: A exact but only W1 found (6 %: 4.5 points off); B shifted one column (IoU 90/110)
# holding all of its window (20 %: exact); a duplicate of A scoring lower (no second match); a false
# building D; a building below the threshold. p2: E shifted 4 columns (IoU 60/140: a miss).
PRED = {
    "p1.jpg": [
        ("building", 0.95, (5, 24, 2, 21)),
        ("building", 0.9, (10, 19, 26, 35)),
        ("building", 0.85, (0, 3, 30, 39)),
        ("building", 0.8, (5, 24, 2, 21)),
        ("building", 0.5, (10, 19, 25, 34)),
        ("window", 0.9, (6, 9, 3, 8)),
        ("window", 0.9, (12, 15, 27, 31)),
    ],
    "p2.jpg": [("building", 0.9, (0, 9, 4, 13))],
}


def write_coco(path: Path) -> Path:
    images, anns = [], []
    for i, (name, objs) in enumerate(GT.items(), start=1):
        images.append({"id": i, "file_name": name, "width": W, "height": H})
        for cat, box in objs:
            r0, r1, c0, c1 = box
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": {"window": 0, "building": 1}[cat],
                    "segmentation": [polygon(*box)],
                    "area": (r1 - r0 + 1) * (c1 - c0 + 1),
                    "bbox": [c0, r0, c1 - c0 + 1, r1 - r0 + 1],
                    "iscrowd": 0,
                }
            )
    cats = [{"id": 0, "name": "window"}, {"id": 1, "name": "building"}]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def write_preds(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    for name, objs in PRED.items():
        ms = [rect(*box) for _, _, box in objs]
        boxes = [[c0, r0, c1 + 1, r1 + 1] for _, _, (r0, r1, c0, c1) in objs]
        table = predictions.make_table(
            name,
            [c for c, _, _ in objs],
            [{"window": 0, "building": 1}[c] for c, _, _ in objs],
            [s for _, s, _ in objs],
            np.array(boxes, dtype=np.float32),
            masks.encode_many(np.stack(ms)),
            [int(m.sum()) for m in ms],
        )
        predictions.write(folder / (Path(name).stem + ".parquet"), table, name, W, H, "test", "m")
    return folder


@pytest.fixture
def case(tmp_path: Path) -> tuple[Path, Path]:
    return write_coco(tmp_path / "gt.json"), write_preds(tmp_path / "pred")


def test_polygons_rasterise_to_the_intended_rectangles() -> None:
    for objs in GT.values():
        for _, box in objs:
            rle = masks.polygons_to_rle([polygon(*box)], H, W)
            assert (masks.decode(rle["counts"].decode(), H, W) == rect(*box)).all()


def test_match_is_greedy_by_score_and_one_to_one() -> None:
    gt = [masks.rle(masks.encode(rect(0, 9, 0, 9)), H, W), masks.rle(masks.encode(rect(0, 9, 20, 29)), H, W)]
    pred = [
        masks.rle(masks.encode(rect(0, 9, 1, 10)), H, W),  # IoU 90/110 with gt 0
        masks.rle(masks.encode(rect(0, 9, 0, 9)), H, W),  # IoU 1 with gt 0, but scores lower: no match left
        masks.rle(masks.encode(rect(0, 9, 23, 32)), H, W),  # IoU 70/130 with gt 1
    ]
    found = wwr_evaluation.match(pred, gt)
    assert [(p, g) for p, g, _ in found] == [(0, 0), (2, 1)]
    assert [iou for _, _, iou in found] == pytest.approx([90 / 110, 70 / 130])
    assert wwr_evaluation.match(pred, gt, iou_threshold=0.6) == [(0, 0, pytest.approx(90 / 110))]


def test_evaluate_exact_numbers(case: tuple[Path, Path]) -> None:
    coco, pred = case
    w = Warnings(quiet=True)
    metrics, pairs = wwr_evaluation.evaluate(coco, pred, warnings=w)
    m = metrics["model"]
    assert (m["gt_buildings"], m["pred_buildings"], m["matched"]) == (4, 5, 2)
    assert (m["recall"], m["precision"]) == (0.5, 0.4)
    assert [(p.file_name, p.pred_id, p.gt_annotation) for p in pairs] == [("p1.jpg", "b_0", 1), ("p1.jpg", "b_1", 4)]
    assert [p.true for p in pairs] == [42 / 400, 20 / 100]
    assert [p.predicted for p in pairs] == [24 / 400, 20 / 100]
    assert [p.iou for p in pairs] == pytest.approx([1.0, 90 / 110])
    e = m["wwr_error_points"]
    assert e["n"] == 2
    assert e["mae"] == pytest.approx((4.5 + 0.0) / 2)
    assert e["median"] == pytest.approx(2.25)
    assert e["within_5_points"] == 1.0
    c = metrics["control"]
    assert (c["gt_buildings"], c["pred_buildings"], c["matched"], c["recall"], c["precision"]) == (4, 4, 4, 1.0, 1.0)
    assert c["wwr_error_points"] == {"n": 4, "mae": 0.0, "median": 0.0, "within_5_points": 1.0}
    assert metrics["photos_without_predictions"] == ["p3.jpg"]
    assert [p["matched"] for p in metrics["per_photo"]] == [2, 0, 0]
    assert w.messages == [f"{pred / 'p3.parquet'}: no prediction file for p3.jpg; its buildings count as missed"]


def test_rle_segmentations_evaluate_as_their_polygons(case: tuple[Path, Path], tmp_path: Path) -> None:
    """COCO files from elsewhere may hold RLE segmentations (compressed or not) instead of polygons."""
    coco_path, pred = case
    coco = json.loads(coco_path.read_text())
    sizes = {im["id"]: (im["height"], im["width"]) for im in coco["images"]}
    for i, a in enumerate(coco["annotations"]):
        rle = masks.polygons_to_rle(a["segmentation"], *sizes[a["image_id"]])
        if i % 2:
            a["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
        else:  # uncompressed: run lengths as a list
            a["segmentation"] = {"size": rle["size"], "counts": masks.runs(rle["counts"]).tolist()}
    rle_path = tmp_path / coco_path.name
    rle_path.write_text(json.dumps(coco))
    quiet = Warnings(quiet=True)
    assert (
        wwr_evaluation.evaluate(rle_path, pred, warnings=quiet)[0]
        == wwr_evaluation.evaluate(coco_path, pred, warnings=quiet)[0]
    )
    coco["annotations"][0]["segmentation"] = {"size": [1, 1]}
    rle_path.write_text(json.dumps(coco))
    with pytest.raises(UserError, match="unreadable segmentation"):
        wwr_evaluation.evaluate(rle_path, pred, warnings=quiet)


def test_cli_writes_json_and_scatter(case: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    coco, pred = case
    out, plot = tmp_path / "eval" / "metrics.json", tmp_path / "eval" / "scatter.png"
    argv = ["evaluate", "--coco", str(coco), "--pred-dir", str(pred), "--out", str(out), "--plot", str(plot)]
    assert main(argv) == 0
    metrics = json.loads(out.read_text())
    assert metrics["model"]["matched"] == 2 and metrics["control"]["wwr_error_points"]["mae"] == 0.0
    assert [p["error_points"] for p in metrics["pairs"]] == pytest.approx([4.5, 0.0])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "model: 2/4 buildings found (recall 0.500), WWR error MAE 2.25 / median 2.25 points" in printed
    # A lower threshold keeps p1's fifth building, which finds nothing more (B is taken).
    assert main(argv + ["--score-threshold", "0.4"]) == 0
    assert json.loads(out.read_text())["model"]["pred_buildings"] == 6
    assert main(argv + ["--strict"]) == 1
    assert "no prediction file for p3.jpg" in capsys.readouterr().err
    argv[argv.index(str(pred))] = str(tmp_path / "nowhere")
    assert main(argv) == 1
    assert "nowhere: prediction folder not found" in capsys.readouterr().err


def test_prediction_for_the_wrong_photo_or_size_is_an_error(case: tuple[Path, Path], tmp_path: Path) -> None:
    coco, pred = case
    (pred / "p2.parquet").rename(pred / "p3.parquet")
    with pytest.raises(UserError, match="predictions are for photo p2.jpg, expected p3.jpg"):
        wwr_evaluation.evaluate(coco, pred, warnings=Warnings(quiet=True))
    (pred / "p3.parquet").unlink()
    table = predictions.make_table("p2.jpg", [], [], [], np.zeros((0, 4)), [], [])
    predictions.write(pred / "p2.parquet", table, "p2.jpg", W + 1, H, "test", "m")
    with pytest.raises(UserError, match="predicted on 41x30 but p2.jpg is 40x30"):
        wwr_evaluation.evaluate(coco, pred, warnings=Warnings(quiet=True))


def test_real_val_ground_truth_scores_perfectly(real_coco: dict[str, Path], tmp_path: Path) -> None:
    from facade_wwr.coco import load_coco

    coco = load_coco(real_coco["val"])
    for image in coco["images"]:
        table = predictions.from_coco(coco, image["id"], score=0.9)
        path = tmp_path / (Path(image["file_name"]).stem + ".parquet")
        predictions.write(path, table, image["file_name"], image["width"], image["height"], "ground-truth", "gt")
    metrics, pairs = wwr_evaluation.evaluate(real_coco["val"], tmp_path)
    for side in ("model", "control"):
        m = metrics[side]
        assert (m["gt_buildings"], m["matched"], m["recall"]) == (13, 13, 1.0)
        assert m["wwr_error_points"] == {"n": 13, "mae": 0.0, "median": 0.0, "within_5_points": 1.0}
    assert sorted(p.iou for p in pairs) == [1.0] * 13
    assert max(p.true for p in pairs) == 84165 / 455161


def test_a_model_that_finds_no_building_is_warned_about(case: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    coco, pred = case
    out = tmp_path / "metrics.json"
    argv = ["evaluate", "--coco", str(coco), "--pred-dir", str(pred), "--out", str(out)]
    assert main(argv) == 0
    assert "the building table means nothing" not in capsys.readouterr().err  # recall 0.5
    assert main(argv + ["--score-threshold", "0.99"]) == 0  # keeps no building
    captured = capsys.readouterr()
    assert captured.out.startswith("model: 0/4 buildings found (recall 0.000)")
    assert (
        f"facade-wwr: warning: {out}: model: 0/4 annotated val buildings found (recall 0.000, score threshold "
        "0.99): the building table means nothing yet"
    ) in captured.err
