"""Analysis on hand-built masks with exact expected numbers, and on the real val set's ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facade_wwr import analysis, masks, predictions, tables, via
from facade_wwr.cli import main
from facade_wwr.errors import UserError, Warnings

W, H = 40, 30


def rect(r0: int, r1: int, c0: int, c1: int, h: int = H, w: int = W) -> np.ndarray:
    """Boolean mask of rows r0..r1 and columns c0..c1, inclusive."""
    m = np.zeros((h, w), dtype=bool)
    m[r0 : r1 + 1, c0 : c1 + 1] = True
    return m


def write_pred(
    folder: Path, image: str, instances: list[tuple[str, float, np.ndarray]], w: int = W, h: int = H, model: str = "m1"
) -> Path:
    """A contract prediction file from (category, score, mask) triples."""
    boxes = []
    for _, _, m in instances:
        ys, xs = np.nonzero(m)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    table = predictions.make_table(
        image,
        [c for c, _, _ in instances],
        [{"window": 0, "building": 1}[c] for c, _, _ in instances],
        [s for _, s, _ in instances],
        np.array(boxes, dtype=np.float32).reshape(-1, 4),
        masks.encode_many(np.stack([m for _, _, m in instances])) if instances else [],
        [int(m.sum()) for _, _, m in instances],
    )
    path = folder / (Path(image).stem + ".parquet")
    predictions.write(path, table, image, w, h, "test", model)
    return path


def via_points(path: Path, points: dict[str, list[tuple[str, float, float]]]) -> Path:
    """A VIA 2 export holding only tagged points."""
    data = {
        f"{name}0": {
            "filename": name,
            "size": 0,
            "regions": [
                {"shape_attributes": {"name": "point", "cx": x, "cy": y}, "region_attributes": {"tagged_id": tid}}
                for tid, x, y in pts
            ],
            "file_attributes": {},
        }
        for name, pts in points.items()
    }
    path.write_text(json.dumps(data))
    return path


# Building A (rows 5-24, cols 2-21: 400 px, score .95) overlaps building B (rows 10-19, cols 15-34:
# 200 px, score .9) on 70 px. Windows: w1 (24 px) and w2 (24 px) overlap on 6 px, both in A;
# w3 lies outside every building; w4 (16 px) straddles A (8 px) and B (16 px); w5 (16 px, score .5)
# is in A but below the default threshold; building C (40 px, score .6) too.
A = rect(5, 24, 2, 21)
B = rect(10, 19, 15, 34)
C = rect(26, 29, 0, 9)
W1, W2, W3, W4, W5 = (
    rect(6, 9, 3, 8),
    rect(8, 11, 6, 11),
    rect(26, 28, 30, 35),
    rect(12, 13, 18, 25),
    rect(20, 23, 3, 6),
)
SCENE = [
    ("window", 0.99, W1),
    ("building", 0.95, A),
    ("window", 0.9, W2),
    ("building", 0.9, B),
    ("window", 0.85, W3),
    ("window", 0.8, W4),
    ("building", 0.6, C),
    ("window", 0.5, W5),
]


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    return write_pred(tmp_path, "scene.jpg", SCENE)


def test_masks_are_what_the_comments_say() -> None:
    assert (A.sum(), B.sum(), (A & B).sum(), C.sum()) == (400, 200, 70, 40)
    assert (W1.sum(), W2.sum(), (W1 & W2).sum(), (W1 | W2).sum()) == (24, 24, 6, 42)
    assert ((W3 & (A | B | C)).sum(), (W4 & A).sum(), (W4 & B).sum(), (W5 & A).sum()) == (0, 8, 16, 16)


def test_window_percentage_counts_overlapping_windows_once(scene: Path) -> None:
    result = analysis.analyze_predictions(predictions.read(scene), scene)
    t = result.table
    assert list(t.columns) == list(tables.COLUMNS)
    assert list(t["id"]) == ["b_0", "b_1"]  # C (score .6) is below 0.7
    assert list(t["pixel_area"]) == [400, 200]
    # A: (w1 ∪ w2) = 42 plus 8 px of w4; the 6 px w1 ∩ w2 count once; w3 is in no building.
    assert list(t["window_pixel_area"]) == [50, 16]
    assert list(t["window_percentage"]) == [50 / 400, 16 / 200]
    assert list(t["building_area_perc_of_image"]) == [400 / 1200, 200 / 1200]
    # w4 has exactly half of its pixels in A: counted there (>= 0.5) and in B (all of it).
    assert list(t["window_count"]) == [3, 1]
    assert list(t["category"]) == [1, 1]
    assert list(t["score"]) == pytest.approx([0.95, 0.9])
    assert list(t[["x0", "y0", "x1", "y1"]].iloc[0]) == [2, 5, 22, 25]
    assert list(t["image_width"]) == [W, W] and list(t["image_height"]) == [H, H]
    assert list(t["model"]) == ["m1", "m1"]
    assert list(t["tagged_id"]) == ["", ""] and list(t["tagged_id_coords"]) == ["", ""]


def test_score_threshold_applies_at_analysis(scene: Path) -> None:
    t = analysis.analyze_predictions(predictions.read(scene), scene, threshold=0.4).table
    assert list(t["id"]) == ["b_0", "b_1", "b_2"]
    assert list(t["pixel_area"]) == [400, 200, 40]
    assert list(t["window_pixel_area"]) == [66, 16, 0]  # w5 (16 px) now counts in A
    assert list(t["window_count"]) == [4, 1, 0]
    # A score equal to the threshold passes (compared in float32).
    t = analysis.analyze_predictions(predictions.read(scene), scene, threshold=0.6).table
    assert list(t["id"]) == ["b_0", "b_1", "b_2"]
    t = analysis.analyze_predictions(predictions.read(scene), scene, threshold=0.96).table
    assert len(t) == 0


def test_window_percentage_never_above_one(tmp_path: Path) -> None:
    # Three windows stacked on the same pixels, covering the whole building: 1.0, not 3.0.
    b = rect(0, 9, 0, 9)
    path = write_pred(tmp_path, "full.jpg", [("building", 0.9, b)] + [("window", 0.9, b)] * 3)
    t = analysis.analyze_predictions(predictions.read(path), path).table
    assert list(t["window_percentage"]) == [1.0]
    assert list(t["window_count"]) == [3]


def test_another_class_order_is_refused(tmp_path: Path) -> None:
    """A file converted with --classes building,window would have its buildings analysed as windows."""
    path = write_pred(tmp_path, "a.jpg", [("building", 0.9, rect(0, 9, 0, 9)), ("window", 0.9, rect(1, 2, 1, 2))])
    pred = predictions.read(path)
    pred.table["category"] = pred.table["category"].map({"building": "window", "window": "building"})
    with pytest.raises(UserError, match="a.parquet: class 'window' has category id 1, analysis needs window 0"):
        analysis.analyze_predictions(pred, path)


def test_photo_with_hundreds_of_buildings(tmp_path: Path) -> None:
    """300 kept buildings (a weak model analysed at threshold 0): pycocotools' area() of a list of 256 or more
    fails under NumPy 2, so areas are taken in chunks."""
    cells = [rect(r, r, c, c) | rect(r, r, c + 1, c + 1) for r in range(H) for c in range(0, W - 1, 4)][:300]
    path = write_pred(tmp_path, "many.jpg", [("building", 0.9, m) for m in cells] + [("window", 0.9, cells[0])])
    t = analysis.analyze_predictions(predictions.read(path), path, threshold=0.0).table
    assert len(t) == 300 and (t["pixel_area"] == 2).all()
    assert t["window_percentage"].tolist() == [1.0] + [0.0] * 299


def test_tagged_points_front_building_join_and_borders(scene: Path, tmp_path: Path) -> None:
    pts = [
        analysis.TaggedPoint("id_a", 5, 20, 0),  # pixel (20, 5): A only
        analysis.TaggedPoint("id_b", 30, 15, 1),  # B only
        analysis.TaggedPoint("id_ab", 18, 15, 2),  # in A and B: A scores higher
        analysis.TaggedPoint("id_edge", 34, 19, 3),  # B's last row and column: inside
        analysis.TaggedPoint("id_half", 34.5, 12, 4),  # rounds to column 35: just outside B
        analysis.TaggedPoint("id_below", 34.49, 12, 5),  # rounds to column 34: inside B
        analysis.TaggedPoint("id_out", -3, 5, 6),  # outside the image
        analysis.TaggedPoint("id_none", 38, 2, 7),  # in the image, in no building
    ]
    w = Warnings(quiet=True)
    result = analysis.analyze_predictions(predictions.read(scene), scene, points=pts, tagged_path="t.json", warnings=w)
    t = result.table
    assert list(t["tagged_id"]) == ["id_a;id_ab", "id_b;id_edge;id_below"]
    assert list(t["tagged_id_coords"]) == ["[20, 5];[15, 18]", "[15, 30];[19, 34];[12, 34.49]"]
    assert [(r["tagged_id"], r["reason"]) for r in result.unmatched] == [
        ("id_half", "in no building"),
        ("id_out", "outside the image"),
        ("id_none", "in no building"),
    ]
    assert any("b_0 holds 2 tagged points (id_a;id_ab)" in m for m in w.messages)
    assert any("id_out at x=-3, y=5): outside the 40x30 image" in m for m in w.messages)


def test_point_pixel_rounds_half_up() -> None:
    assert analysis.point_pixel(0, 0) == (0, 0)
    assert analysis.point_pixel(3.49, 7.5) == (8, 3)
    assert analysis.point_pixel(-0.5, -0.51) == (-1, 0)


def test_empty_photo_and_photo_without_buildings(tmp_path: Path) -> None:
    empty = write_pred(tmp_path, "empty.jpg", [])
    windows_only = write_pred(tmp_path, "windows.jpg", [("window", 0.9, W1), ("window", 0.9, W3)])
    tagged = via_points(tmp_path / "tagged.json", {"empty.jpg": [("e1", 3, 3)], "windows.jpg": [("w1", 5, 7)]})
    w = Warnings(quiet=True)
    result = analysis.analyze_files([empty, windows_only], tagged=tagged, warnings=w)
    assert len(result.table) == 0 and list(result.table.columns) == list(tables.COLUMNS)
    assert result.info.photos == ["empty.jpg", "windows.jpg"]
    assert [(r["file_name"], r["tagged_id"], r["reason"]) for r in result.report] == [
        ("empty.jpg", "e1", "in no building"),
        ("windows.jpg", "w1", "in no building"),
    ]


def test_building_with_empty_mask_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = write_pred(tmp_path, "e.jpg", [("building", 0.9, A), ("window", 0.9, W1)])
    pred = predictions.read(path)
    table = pred.table.copy()
    table.loc[0, "mask_rle"] = masks.encode(np.zeros((H, W), bool))
    pred = predictions.Predictions(table, pred.image, W, H, "test", "m")
    w = Warnings(quiet=True)
    assert len(analysis.analyze_predictions(pred, path, warnings=w).table) == 0
    assert w.messages == [f"{path}: building instance 0 has an empty mask, skipped"]


def test_cli_analyze_files_unmatched_and_missing_photos(scene: Path, tmp_path: Path, capsys) -> None:
    empty = write_pred(tmp_path, "empty.jpg", [])
    tagged = via_points(
        tmp_path / "tagged.json",
        {"scene.jpg": [("s1", 5, 20), ("s2", 38, 2)], "other.jpg": [("o1", 1, 1), ("o2", 2, 2)]},
    )
    out = tmp_path / "out" / "table.parquet"
    assert main(["analyze", str(scene), str(empty), "--out", str(out), "--tagged", str(tagged)]) == 0
    df, info = tables.read(out)
    assert list(df["id"]) == ["b_0", "b_1"] and list(df["tagged_id"]) == ["s1", ""]
    assert info.photos == ["empty.jpg", "scene.jpg"] and info.score_threshold == 0.7
    unmatched = pd.read_csv(out.parent / "table.unmatched.csv", keep_default_na=False)
    assert list(unmatched.columns) == list(tables.UNMATCHED_COLUMNS)
    assert unmatched[["file_name", "tagged_id", "reason"]].values.tolist() == [
        ["other.jpg", "o1", "no prediction file"],
        ["other.jpg", "o2", "no prediction file"],
        ["scene.jpg", "s2", "in no building"],
    ]
    err = capsys.readouterr().err
    assert "image other.jpg: 2 tagged point(s) (o1, o2) on a photo with no prediction file" in err
    assert "scene.jpg point 1 (s2 at x=38, y=2): in no kept building" in err
    # A shard run leaves points on other photos to merge.
    out2 = tmp_path / "shard.parquet"
    args = ["analyze", str(scene), "--out", str(out2), "--tagged", str(tagged), "--tagged-scope", "inputs"]
    assert main(args) == 0
    assert pd.read_csv(tmp_path / "shard.unmatched.csv")["tagged_id"].tolist() == ["s2"]
    assert [r["tagged_id"] for r in tables.read(out2)[1].elsewhere] == ["o1", "o2"]


def test_cli_errors_are_one_line(tmp_path: Path, scene: Path, capsys) -> None:
    out = tmp_path / "t.parquet"
    assert main(["analyze", str(tmp_path / "nope.parquet"), "--out", str(out)]) == 1
    assert "nope.parquet: prediction file not found" in capsys.readouterr().err
    (tmp_path / "junk.parquet").write_text("not parquet")
    assert main(["analyze", str(tmp_path / "junk.parquet"), "--out", str(out)]) == 1
    assert "junk.parquet: not a readable Parquet prediction file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # a usage error, as for every command that takes --score-threshold
        main(["analyze", str(scene), "--out", str(out), "--score-threshold", "1.5"])
    assert e.value.code == 2 and "1.5 is not a number from 0 to 1" in capsys.readouterr().err
    assert main(["analyze", str(scene), "--out", str(out), "--overlays", str(tmp_path / "ov")]) == 1
    assert "--overlays needs --photos" in capsys.readouterr().err
    assert main(["analyze", str(scene), scene.as_posix(), "--out", str(out)]) == 1
    assert "photo scene.jpg already has a prediction file" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".t.*"))


def test_malformed_prediction_files_are_named(tmp_path: Path, capsys) -> None:
    """Files not written by predict: pycocotools would loop forever on an RLE of another size, or crash."""
    square = rect(0, 9, 0, 9, h=40, w=40)
    cases = {
        "size": (write_pred(tmp_path, "size.jpg", [("building", 0.9, square)]), "instance 0: RLE does not describe"),
        "zero": (write_pred(tmp_path, "zero.jpg", [], w=0), "image_width '0' is not a positive whole number"),
    }
    garbage = write_pred(tmp_path, "garbage.jpg", [("window", 0.9, rect(0, 1, 0, 1))])
    pred = predictions.read(garbage)
    pred.table.loc[0, "mask_rle"] = "abc"
    predictions.write(garbage, pred.table, pred.image, pred.width, pred.height, pred.engine, pred.model)
    cases["garbage"] = (garbage, "garbage.parquet: instance 0: truncated RLE string")
    for path, message in cases.values():
        assert main(["analyze", str(path), "--out", str(tmp_path / "t.parquet")]) == 1
        err = capsys.readouterr().err
        assert message in err and str(path) in err and len(err.strip().splitlines()) == 1


def test_overlays_need_the_photo_at_the_predicted_size(tmp_path: Path, scene: Path, capsys) -> None:
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (W, H), (90, 90, 90)).save(photos / "scene.jpg")
    out, ov = tmp_path / "t.parquet", tmp_path / "ov"
    args = ["analyze", str(scene), "--out", str(out), "--overlays", str(ov), "--photos", str(photos)]
    assert main(args) == 0
    assert sorted(p.name for p in ov.iterdir()) == ["scene.jpg"]
    with Image.open(ov / "scene.jpg") as im:
        assert im.size == (W, H)
    Image.new("RGB", (W + 1, H), (90, 90, 90)).save(photos / "scene.jpg")
    assert main(args) == 1
    assert "photo is 41x30 but" in capsys.readouterr().err


def test_real_val_ground_truth_with_tagged_ids(real_coco: dict[str, Path], real_data: Path, tmp_path: Path) -> None:
    """Ground truth of the one annotated val photo: exact figures, checked against dense numpy."""
    from facade_wwr.coco import load_coco
    from facade_wwr.wwr_evaluation import dense_window_percentages

    coco = load_coco(real_coco["val"])
    (image,) = coco["images"]
    assert image["file_name"] == "_0CfAgwU4GRi9S6yzBbnxQ.jpg"
    table = predictions.from_coco(coco, image["id"])
    path = tmp_path / "_0CfAgwU4GRi9S6yzBbnxQ.parquet"
    predictions.write(path, table, image["file_name"], image["width"], image["height"], "ground-truth", "gt")
    w = Warnings(quiet=True)
    result = analysis.analyze_files([path], tagged=real_data / "val" / "via_region_data.json", warnings=w)
    t = result.table
    assert len(t) == 13 and list(t["id"]) == [f"b_{i}" for i in range(13)]
    assert int(t["pixel_area"].sum()) == 1347159
    assert list(t["pixel_area"]) == [a["area"] for a in coco["annotations"] if a["category_id"] == 1]
    assert int(t["window_pixel_area"].sum()) == 170283
    assert t.loc[t["id"] == "b_4", "window_percentage"].item() == 84165 / 455161
    assert list(t["window_count"]) == [0, 11, 0, 2, 37, 5, 1, 1, 4, 4, 13, 2, 3]
    # The tagged IDs id_5 and id_6 sit on this photo; id_1..id_4 on a photo with no prediction file.
    tagged = t[t["tagged_id"] != ""][["id", "tagged_id", "tagged_id_coords"]].values.tolist()
    assert tagged == [["b_4", "id_5", "[746, 416]"], ["b_10", "id_6", "[895, 1691]"]]
    assert [(r["tagged_id"], r["reason"]) for r in result.report] == [
        (f"id_{i}", "no prediction file") for i in range(1, 5)
    ]
    # Independent check: decoded masks, numpy OR and AND.
    inst = analysis.select_instances(predictions.read(path), 0.7, path, w)
    dense = dense_window_percentages(inst.building_rles, inst.window_rles)
    assert list(t["window_percentage"]) == list(dense)
    for tid, idx in (("id_5", 4), ("id_6", 10)):
        point = next(
            p
            for p in via.tagged_points(real_data / "val" / "via_region_data.json", warnings=w)[image["file_name"]]
            if p.tagged_id == tid
        )
        m = masks.decode(table["mask_rle"][inst.buildings["instance"][idx]], image["height"], image["width"])
        assert m[int(point.y), int(point.x)]


def test_loading_tagged_points_ignores_polygons(real_data: Path) -> None:
    w = Warnings(quiet=True)
    points = via.tagged_points(real_data / "val" / "via_region_data.json", warnings=w)
    assert {k: [p.tagged_id for p in v] for k, v in points.items()} == {
        "_0CfAgwU4GRi9S6yzBbnxQ.jpg": ["id_5", "id_6"],
        "_FczOQH2Gps-DKWQb9aLlw.jpg": ["id_1", "id_2", "id_3", "id_4"],
    }
    assert w.messages == []


def test_loading_tagged_points_warns_about_bad_points(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps(
            {
                "a.jpg1": {
                    "filename": "a.jpg",
                    "size": 1,
                    "regions": [
                        {"shape_attributes": {"name": "point", "cx": 1, "cy": 2}, "region_attributes": {}},
                        {
                            "shape_attributes": {"name": "point", "cx": 3, "cy": 4},
                            "region_attributes": {"tagged_id": "x"},
                        },
                    ],
                }
            }
        )
    )
    w = Warnings(quiet=True)
    points = via.tagged_points(path, warnings=w)
    assert [p.tagged_id for p in points["a.jpg"]] == ["x"]
    assert w.messages == [f"{path}: image a.jpg region 0: point without a 'tagged_id', skipped"]
    with pytest.raises(UserError, match="malformed JSON"):
        (tmp_path / "bad.json").write_text("{")
        via.tagged_points(tmp_path / "bad.json", warnings=w)


def test_kept_windows_are_counted_and_a_table_without_any_is_warned_about(tmp_path: Path, capsys) -> None:
    """analyze and merge say how many windows were kept per photo; a table where the threshold keeps no
    window (the real data set's first run: best window 0.556 under 0.7) is warned about with the scores seen."""
    preds = tmp_path / "preds"
    preds.mkdir()
    write_pred(preds, "a.jpg", [("building", 0.95, A), ("window", 0.556, W1), ("window", 0.3, W2)])
    write_pred(preds, "b.jpg", [("building", 0.9, B), ("window", 0.41, W4)])
    table = tmp_path / "s000.parquet"
    assert main(["analyze", str(preds), "--out", str(table)]) == 0
    captured = capsys.readouterr()
    assert f"{table}: 2 buildings on 2 photos, 0 windows kept (0.0 per photo)" in captured.out
    assert (
        f"facade-wwr: warning: {table}: no window kept on the 2 photos (window scores seen 0.300-0.556, score "
        "threshold 0.7): these results mean nothing (README, Troubleshooting: 'All window percentages are 0')"
    ) in captured.err
    info = tables.read(table)[1]
    assert info.instances["window"] == {"seen": 3, "kept": 0, "min": pytest.approx(0.3), "max": pytest.approx(0.556)}
    assert info.instances["building"]["kept"] == 2

    csv = tmp_path / "buildings.csv"
    assert main(["merge", str(table), "--out", str(csv)]) == 0
    captured = capsys.readouterr()
    assert f"{csv}: 2 buildings on 2 photos, 0 windows kept (0.0 per photo)" in captured.out
    assert f"facade-wwr: warning: {csv}: no window kept on the 2 photos (window scores seen 0.300-0.556" in captured.err
    assert tables.read(csv.with_suffix(".parquet"))[1].instances == info.instances

    # a lower threshold keeps one window on two photos: almost nothing; all windows in no building: zeros
    assert main(["analyze", str(preds), "--out", str(table), "--score-threshold", "0.5"]) == 0
    assert "the threshold keeps almost no window: 1 on 2 photos, of 3 seen" in capsys.readouterr().err
    write_pred(preds, "b.jpg", [("building", 0.9, B), ("window", 0.8, W3), ("window", 0.8, W3 & ~rect(26, 26, 30, 35))])
    (preds / "a.parquet").unlink()
    assert main(["analyze", str(preds), "--out", str(table)]) == 0
    assert "no building has a kept window: all 1 window percentages are 0" in capsys.readouterr().err
    # the scene keeps 4 windows on 1 photo, in its buildings: nothing to say
    scene = write_pred(tmp_path, "scene.jpg", SCENE)
    assert main(["analyze", str(scene), "--out", str(table)]) == 0
    captured = capsys.readouterr()
    assert "4 windows kept (4.0 per photo)" in captured.out and "mean nothing" not in captured.err
