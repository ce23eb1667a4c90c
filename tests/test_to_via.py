"""to-via: prediction files -> VIA 2 file -> via2coco, measured mask by mask."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from facade_wwr import masks, predictions
from facade_wwr.cli import main
from facade_wwr.coco import load_coco
from facade_wwr.images import image_size
from facade_wwr.masks import Crop, decode_crop
from facade_wwr.masks import runs as rle_runs
from facade_wwr.outline import corner_outlines
from facade_wwr.to_via import STAIRCASE_TOLERANCE, trace

W, H = 320, 240


# ---------------------------------------------------------------------------------------------------
# helpers


def photo(folder: Path, name: str, size: tuple[int, int] = (W, H)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    Image.new("RGB", size, (120, 130, 140)).save(path)
    return path


def pred_file(
    folder: Path,
    image: str,
    dense: list[np.ndarray],
    categories: list[str],
    scores: list[float] | None = None,
    size: tuple[int, int] = (W, H),
) -> Path:
    """A contract-shaped prediction file for ``image`` with the given dense masks."""
    folder.mkdir(parents=True, exist_ok=True)
    scores = scores if scores is not None else [0.9] * len(dense)
    boxes = []
    for m in dense:
        ys, xs = np.nonzero(m)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] if len(xs) else [0, 0, 0, 0])
    stack = np.stack(dense) if dense else np.zeros((0, size[1], size[0]), bool)
    table = predictions.make_table(
        image,
        categories,
        [{"window": 0, "building": 1}.get(c, 2) for c in categories],
        scores,
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        masks.encode_many(stack),
        [int(m.sum()) for m in dense],
    )
    path = folder / f"{Path(image).stem}.parquet"
    predictions.write(path, table, image, size[0], size[1], "test", "test-model")
    return path


def maskrcnn_like(mask: np.ndarray, resolution: int = 28) -> np.ndarray:
    """Squeeze a mask's box into a 28x28 grid and paste it back bilinearly, as Mask R-CNN does."""
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    small = cv2.resize(mask[y0:y1, x0:x1].astype(np.float32), (resolution, resolution), interpolation=cv2.INTER_AREA)
    out = np.zeros_like(mask)
    out[y0:y1, x0:x1] = cv2.resize(small, (int(x1 - x0), int(y1 - y0)), interpolation=cv2.INTER_LINEAR) >= 0.5
    return out


def synthetic_facade(rng: np.random.Generator) -> tuple[list[np.ndarray], list[str]]:
    """Two gabled, slightly tilted buildings and a grid of tilted windows, as Mask R-CNN-like masks."""
    dense, cats = [], []
    for bx in (10, 165):
        m = np.zeros((H, W), np.uint8)
        top = int(rng.integers(20, 50))
        pts = np.array([[bx, 230], [bx, top + 30], [bx + 70, top], [bx + 145, top + 30], [bx + 145, 230]])
        cv2.fillPoly(m, [pts.astype(np.int32)], 1)
        dense.append(maskrcnn_like(m.astype(bool)))
        cats.append("building")
        for wx in range(bx + 12, bx + 130, 30):
            for wy in range(top + 45, 215, 35):
                m = np.zeros((H, W), np.uint8)
                size = (float(rng.uniform(10, 22)), float(rng.uniform(12, 26)))
                box = cv2.boxPoints(((wx + 9, wy + 10), size, float(rng.uniform(-8, 8))))
                cv2.fillPoly(m, [np.round(box).astype(np.int32)], 1)
                dense.append(maskrcnn_like(m.astype(bool)))
                cats.append("window")
    return dense, cats


def to_via(*args: str) -> int:
    return main(["to-via", *args, "--quiet"])


def via2coco(via: Path, images: Path, out: Path, *extra: str) -> int:
    return main(
        ["via2coco", "--via", str(via), "--images", str(images), "--out", str(out), "--strict", "--quiet", *extra]
    )


def round_trip_ious(pred_paths: list[Path], coco: dict) -> dict[str, list[float]]:
    """IoU of each predicted mask with the annotation via2coco made from its polygon (same order)."""
    by_name = {i["file_name"]: i for i in coco["images"]}
    result: dict[str, list[float]] = {}
    for path in pred_paths:
        pred = predictions.read(path)
        if not len(pred.table):
            continue
        image = by_name[pred.image]
        anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        assert len(anns) == len(pred.table)
        for row, ann in zip(pred.table.itertuples(index=False), anns):
            assert coco["categories"][ann["category_id"]]["name"] == row.category
            a = masks.rle(row.mask_rle, pred.height, pred.width)
            b = masks.polygons_to_rle(ann["segmentation"], pred.height, pred.width)
            result.setdefault(row.category, []).append(float(mask_utils.iou([a], [b], [0])[0][0]))
    return result


def via_back(xs: list[int], ys: list[int], width: int = W, height: int = H) -> np.ndarray:
    """The mask via2coco makes of a VIA polygon."""
    flat = (np.stack([xs, ys], axis=1).astype(float) + 0.5).ravel().tolist()
    return masks.decode(masks.polygons_to_rle([flat], height, width)["counts"], height, width)


# ---------------------------------------------------------------------------------------------------
# decoding and tracing


def test_decode_crop_matches_pycocotools() -> None:
    rng = np.random.default_rng(0)
    for t in range(200):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        m = np.zeros((h, w), bool)
        if t % 4:
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            m[y : y + int(rng.integers(1, 30)), x : x + int(rng.integers(1, 30))] = True
            m &= rng.random((h, w)) < 0.9
        counts = masks.encode(m)
        assert rle_runs(counts).sum() == h * w
        crop = decode_crop(counts, h, w)
        if not m.any():
            assert crop is None
            continue
        ys, xs = np.nonzero(m)
        assert (crop.x0, crop.y0) == (xs.min(), ys.min())
        assert np.array_equal(crop.mask, m[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
    with pytest.raises(ValueError, match="10x10"):
        decode_crop(masks.encode(np.ones((5, 5), bool)), 10, 10)


def filled_largest_part(m: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    fills = []
    for c in contours:
        f = np.zeros(m.shape, np.uint8)
        cv2.drawContours(f, [c], -1, 1, -1)
        fills.append(f.astype(bool))
    return max(fills, key=lambda f: f.sum())


def test_tolerance_zero_reproduces_any_shape_exactly() -> None:
    """The vertex convention: corner outline - 1, so via2coco's +0.5 and pycocotools give the pixels back."""
    rng = np.random.default_rng(1)
    h, w = 90, 120
    for t in range(90):
        m = np.zeros((h, w), np.uint8)
        if t % 3 == 0:
            center = (int(rng.integers(5, w)), int(rng.integers(5, h)))
            axes = (int(rng.integers(1, 30)), int(rng.integers(1, 30)))
            cv2.ellipse(m, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        elif t % 3 == 1:
            cv2.fillPoly(m, [rng.integers(0, [w, h], (int(rng.integers(3, 8)), 2)).astype(np.int32)], 1)
        else:
            small = (rng.random((6, 6)) < 0.5).astype(np.float32)
            m[10:80, 20:110] = cv2.resize(small, (90, 70), interpolation=cv2.INTER_LINEAR) >= 0.5
        m[0, :] = 0  # the top row and left column cannot be reached by integer vertices (see below)
        m[:, 0] = 0
        if not m.any():
            continue
        crop = decode_crop(masks.encode(m.astype(bool)), h, w)
        traced = trace(crop, w, h, tolerance=0)
        back = via_back(traced.xs, traced.ys, w, h).astype(bool)
        assert np.array_equal(back, filled_largest_part(m)), t


def test_vertex_convention_on_single_pixels_and_borders() -> None:
    one = np.zeros((H, W), bool)
    one[10, 20] = True
    traced = trace(decode_crop(masks.encode(one), H, W), W, H, tolerance=1.0)
    assert sorted(zip(traced.xs, traced.ys)) == [(19, 9), (19, 10), (20, 9), (20, 10)]
    assert np.array_equal(via_back(traced.xs, traced.ys).astype(bool), one)

    corner = np.zeros((H, W), bool)
    corner[H - 3 :, W - 4 :] = True  # bottom-right corner of the photo: vertices stay inside it
    traced = trace(decode_crop(masks.encode(corner), H, W), W, H, tolerance=1.0)
    assert max(traced.xs) == W - 1 and max(traced.ys) == H - 1
    assert np.array_equal(via_back(traced.xs, traced.ys).astype(bool), corner)

    left = np.zeros((H, W), bool)
    left[50:60, 0:8] = True  # touching the left border: column 0 cannot be kept without a negative vertex
    traced = trace(decode_crop(masks.encode(left), H, W), W, H, tolerance=1.0)
    assert min(traced.xs) == 0
    assert via_back(traced.xs, traced.ys).sum() == 10 * 7

    sliver = np.zeros((H, W), bool)
    sliver[50:60, 0] = True  # one pixel wide along the left border: nothing to trace
    assert trace(decode_crop(masks.encode(sliver), H, W), W, H, tolerance=1.0) is None


def test_tiny_masks_get_a_finer_tolerance() -> None:
    m = np.zeros((H, W), np.uint8)
    cv2.circle(m, (100, 100), 3, 1, -1)  # a 7-pixel-wide disc
    crop = decode_crop(masks.encode(m.astype(bool)), H, W)
    full = trace(crop, W, H, tolerance=0)
    coarse = trace(crop, W, H, tolerance=3.0, min_iou=0.0)
    kept = trace(crop, W, H, tolerance=3.0, min_iou=0.9)
    assert coarse.tolerance == 3.0 and len(coarse.xs) < len(kept.xs) <= len(full.xs)
    assert kept.tolerance in (STAIRCASE_TOLERANCE, 0.0)
    a, b = via_back(full.xs, full.ys), via_back(kept.xs, kept.ys)
    assert (a & b).sum() / (a | b).sum() >= 0.9


def test_largest_part_is_traced() -> None:
    m = np.zeros((30, 40), bool)
    m[2:10, 2:10] = True
    m[15:28, 20:38] = True
    crop = Crop(m, 0, 0)
    assert len(corner_outlines(m)) == 2
    traced = trace(crop, 40, 30, tolerance=0)
    assert traced.parts == 2
    assert via_back(traced.xs, traced.ys, 40, 30).sum() == 13 * 18


# ---------------------------------------------------------------------------------------------------
# the command


def test_round_trip_synthetic_predictions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(2)
    photos, preds = tmp_path / "photos", tmp_path / "pred"
    paths = []
    for name in ("a.jpg", "b.jpg"):
        photo(photos, name)
        dense, cats = synthetic_facade(rng)
        paths.append(pred_file(preds, name, dense, cats, list(rng.uniform(0.5, 1.0, len(dense)))))
    photo(photos, "empty.jpg")
    paths.append(pred_file(preds, "empty.jpg", [], []))
    photo(photos, "low.jpg")
    low = np.zeros((H, W), bool)
    low[10:40, 10:40] = True
    paths.append(pred_file(preds, "low.jpg", [low], ["window"], [0.2]))

    out = tmp_path / "pre" / "via.json"
    assert main(["to-via", *map(str, paths), "--out", str(out), "--photos", str(photos), "--strict"]) == 0
    printed = capsys.readouterr().out
    assert "4 photos (2 without any kept instance)" in printed
    assert "1 instances below the score threshold left out" in printed

    data = json.loads(out.read_text())
    assert list(data) == [f"{n}{os.path.getsize(photos / n)}" for n in ("a.jpg", "b.jpg", "empty.jpg", "low.jpg")]
    assert data[f"empty.jpg{os.path.getsize(photos / 'empty.jpg')}"]["regions"] == []
    assert data[f"low.jpg{os.path.getsize(photos / 'low.jpg')}"]["regions"] == []
    region = data[next(iter(data))]["regions"][0]
    assert region["region_attributes"]["class"] in ({"window": True}, {"building": True})
    assert 0.5 <= float(region["region_attributes"]["score"]) <= 1.0

    coco_path = tmp_path / "back.json"
    assert via2coco(out, photos, coco_path) == 0  # --strict: not a single warning
    coco = load_coco(coco_path)
    ious = round_trip_ious(paths[:2], coco)  # empty.jpg and low.jpg kept nothing
    assert len(ious["building"]) == 4 and len(ious["window"]) > 40
    assert np.median(ious["building"]) >= 0.95
    assert np.median(ious["window"]) >= 0.9
    assert min(ious["window"]) >= 0.8


def test_without_photos_keys_use_size_minus_one(tmp_path: Path) -> None:
    m = np.zeros((H, W), bool)
    m[20:60, 30:90] = True
    pred = pred_file(tmp_path / "pred", "a.jpg", [m], ["building"])
    out = tmp_path / "via.json"
    assert to_via(str(pred), "--out", str(out)) == 0
    text = out.read_text()
    assert ": " not in text and ", " not in text  # compact, like VIA's JSON.stringify
    data = json.loads(text)
    assert list(data) == ["a.jpg-1"]
    assert data["a.jpg-1"]["size"] == -1 and data["a.jpg-1"]["file_attributes"] == {}
    # via2coco does not care about the key or size
    photo(tmp_path, "a.jpg")
    assert via2coco(out, tmp_path, tmp_path / "c.json") == 0
    assert load_coco(tmp_path / "c.json")["annotations"][0]["area"] == 40 * 60


def test_folders_of_prediction_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Shard folders as the workflow passes them; a shard whose photos were all unreadable has no file."""
    m = np.zeros((H, W), bool)
    m[20:60, 30:90] = True
    for shard, name in (("s0", "a.jpg"), ("s1", "b.jpg")):
        pred_file(tmp_path / shard, name, [m], ["building"])
    (tmp_path / "s2").mkdir()
    (tmp_path / "s1" / ".b.k2j3h4.tmp.parquet").write_bytes(b"left by a killed write")
    out = tmp_path / "via.json"
    assert to_via(*(str(tmp_path / s) for s in ("s0", "s1", "s2")), "--out", str(out)) == 0
    assert "s2: no prediction files in this folder" in capsys.readouterr().err
    assert list(json.loads(out.read_text())) == ["a.jpg-1", "b.jpg-1"]


def test_radio_style_custom_attribute_and_project(tmp_path: Path) -> None:
    dense, cats = synthetic_facade(np.random.default_rng(3))
    pred = pred_file(tmp_path / "pred", "a.jpg", dense, cats)
    photos = tmp_path / "photos"
    photo(photos, "a.jpg")
    out = tmp_path / "project.json"
    args = [str(pred), "--out", str(out), "--photos", str(photos), "--class-style", "radio"]
    assert to_via(*args, "--class-attribute", "kind", "--project") == 0
    data = json.loads(out.read_text())
    attrs = data["_via_attributes"]["region"]
    assert attrs["kind"] == {
        "type": "radio",
        "description": "",
        "options": {"window": "", "building": ""},
        "default_options": {},
    }
    assert set(attrs) == {"kind", "score", "tagged_id"}
    assert data["_via_settings"]["core"]["default_filepath"] == str(photos.resolve()) + os.sep
    assert data["_via_image_id_list"] == list(data["_via_img_metadata"])
    regions = next(iter(data["_via_img_metadata"].values()))["regions"]
    assert {r["region_attributes"]["kind"] for r in regions} == {"window", "building"}
    assert via2coco(out, photos, tmp_path / "c.json", "--class-attribute", "kind") == 0
    assert len(load_coco(tmp_path / "c.json")["annotations"]) == len(dense)


def test_tagged_points_are_carried_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = np.zeros((H, W), bool)
    m[20:200, 30:150] = True
    pred = pred_file(tmp_path / "pred", "a.jpg", [m], ["building"])
    tagged = tmp_path / "tagged.json"
    point = {"shape_attributes": {"name": "point", "cx": 80, "cy": 100}, "region_attributes": {"tagged_id": "B-17"}}
    bad = {"shape_attributes": {"name": "point", "cx": 5, "cy": 5}, "region_attributes": {}}
    polygon = {"shape_attributes": {"name": "polygon", "all_points_x": [1, 2], "all_points_y": [1, 2]}}
    entries = {
        "a.jpg1": {"filename": "a.jpg", "size": 1, "regions": [point, bad, polygon], "file_attributes": {}},
        "z.jpg1": {"filename": "z.jpg", "size": 1, "regions": [point], "file_attributes": {}},
    }
    tagged.write_text(json.dumps(entries))
    out = tmp_path / "via.json"
    assert to_via(str(pred), "--out", str(out), "--tagged", str(tagged)) == 0
    err = capsys.readouterr().err
    assert "image a.jpg region 1: point without a 'tagged_id', skipped" in err
    assert "image z.jpg has tagged points but no prediction file, not carried over" in err
    assert "region 2" not in err  # the tagged file's polygons are none of to-via's business
    regions = json.loads(out.read_text())["a.jpg-1"]["regions"]
    assert regions[-1] == point
    photo(tmp_path, "a.jpg")
    assert via2coco(out, tmp_path, tmp_path / "c.json") == 0
    assert load_coco(tmp_path / "c.json")["tagged_points"][0]["tagged_id"] == "B-17"
    # --strict turns the skipped point into an error, and nothing is written
    out2 = tmp_path / "strict.json"
    assert main(["to-via", str(pred), "--out", str(out2), "--tagged", str(tagged), "--strict"]) == 1
    assert not out2.exists()


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = np.zeros((H, W), bool)
    m[20:60, 30:90] = True
    pred = pred_file(tmp_path / "pred", "a.jpg", [m], ["building"])
    out = tmp_path / "out" / "via.json"
    photos = tmp_path / "photos"
    photos.mkdir()

    def fails(*args: str, message: str) -> None:
        assert main(["to-via", *args, "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("facade-wwr to-via: error: ") and message in err and "\n" not in err
        assert not out.exists()

    fails(str(tmp_path / "missing.parquet"), message="missing.parquet: prediction file not found")
    fails(str(pred), "--photos", str(photos), message=f"{pred}: photo a.jpg not found in {photos}")
    photo(photos, "a.jpg", size=(W // 2, H // 2))
    fails(str(pred), "--photos", str(photos), message=f"photo is {W // 2}x{H // 2} but {pred} was predicted on {W}x{H}")
    fails(str(pred), "--photos", str(tmp_path / "nope"), message="nope: not a folder of photos")
    twin = pred_file(tmp_path / "pred2", "a.jpg", [m], ["building"])
    fails(str(pred), str(twin), message=f"photo a.jpg has two prediction files: {pred} and {twin}")
    fails(str(pred), "--class-attribute", "score", message="--class-attribute 'score'")

    table = predictions.read(pred).table
    table.loc[0, "mask_rle"] = masks.encode(np.ones((4, 4), bool))
    broken = tmp_path / "broken.parquet"
    predictions.write(broken, table, "a.jpg", W, H, "test", "m")
    fails(str(broken), message=f"{broken}: instance 0 (building, score 0.900): unreadable mask")

    with pytest.raises(SystemExit):
        main(["to-via", str(pred), "--out", str(out), "--score-threshold", "1.5"])
    with pytest.raises(SystemExit):
        main(["to-via", str(pred), "--out", str(out), "--tolerance", "-1"])
    assert not out.exists()


# ---------------------------------------------------------------------------------------------------
# real data


def type_signature(via: dict) -> set[str]:
    """Keys and value types of every entry and region of a VIA export, as strings."""
    sig = set()
    for key, entry in via.items():
        sig.add(f"key=filename+size:{key == entry['filename'] + str(entry['size'])}")
        sig.add("entry:" + ",".join(f"{k}={type(v).__name__}" for k, v in entry.items()))
        for r in entry["regions"]:
            shape = r["shape_attributes"]
            sig.add("shape:" + ",".join(f"{k}={type(v).__name__}" for k, v in shape.items()))
            for k in ("all_points_x", "all_points_y"):
                sig.update(f"{shape['name']}.{k}[]={type(v).__name__}" for v in shape.get(k, []))
            attrs = r["region_attributes"]
            sig.add("attrs:" + ",".join(sorted(attrs)))
            if isinstance(attrs.get("class"), dict):
                sig.update(f"class.{k}={type(v).__name__}" for k, v in attrs["class"].items())
    return sig


@pytest.mark.realdata
def test_round_trip_real_val_ground_truth(real_data: Path, real_coco: dict[str, Path], tmp_path: Path) -> None:
    coco = load_coco(real_coco["val"])
    (image,) = coco["images"]
    assert image["file_name"] == "_0CfAgwU4GRi9S6yzBbnxQ.jpg"
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    pred = pred_dir / "_0CfAgwU4GRi9S6yzBbnxQ.parquet"
    table = predictions.from_coco(coco, image["id"])
    predictions.write(pred, table, image["file_name"], image["width"], image["height"], "test", "test-model")
    # the photo with only tagged points: an empty prediction file still gives it an entry (and its points)
    val = real_data / "val"
    empty = pred_file(
        pred_dir, "_FczOQH2Gps-DKWQb9aLlw.jpg", [], [], size=image_size(val / "_FczOQH2Gps-DKWQb9aLlw.jpg")
    )
    tagged = val / "via_region_data.json"
    for tolerance in ("0", "1"):
        out = tmp_path / f"pre{tolerance}.json"
        args = [str(pred), str(empty), "--out", str(out), "--photos", str(val), "--tagged", str(tagged)]
        assert to_via(*args, "--tolerance", tolerance, "--strict") == 0
        back = tmp_path / f"back{tolerance}.json"
        assert via2coco(out, val, back) == 0
        coco2 = load_coco(back)
        names = [c["name"] for c in coco2["categories"]]
        counts = {
            n: sum(coco2["categories"][a["category_id"]]["name"] == n for a in coco2["annotations"]) for n in names
        }
        assert counts == {"window": 86, "building": 13}
        points = {(p["file_name"], p["tagged_id"]): (p["x"], p["y"]) for p in coco2["tagged_points"]}
        assert points[("_0CfAgwU4GRi9S6yzBbnxQ.jpg", "id_5")] == (416, 746)
        assert points[("_0CfAgwU4GRi9S6yzBbnxQ.jpg", "id_6")] == (1691, 895)
        assert sum(name == "_0CfAgwU4GRi9S6yzBbnxQ.jpg" for name, _ in points) == 2
        assert len(points) == 6
        ious = round_trip_ious([pred], coco2)
        if tolerance == "0":  # exact: every pixel of every instance comes back
            assert min(ious["window"]) == min(ious["building"]) == 1.0
        else:
            assert np.median(ious["building"]) >= 0.95
            assert np.median(ious["window"]) >= 0.9
    # same structure and value types as the real hand-made export
    ours = json.loads((tmp_path / "pre1.json").read_text())
    real_sig = set()
    for split in ("train", "val"):
        real_sig |= type_signature(json.loads((real_data / split / "via_region_data.json").read_text()))
    our_sig = type_signature(ours)
    assert {s for s in our_sig if not s.startswith("attrs:")} <= real_sig
    assert our_sig - real_sig == {"attrs:class,score"}  # the one addition: the score attribute


# ---------------------------------------------------------------------------------------------------
# VIA 2's own import code (optional: set FACADE_WWR_VIA_JS to VIA 2.0.x's via.js; needs node)

#: Runs via.js in node with an inert DOM: adds photos as "Add Files" does, imports the file as
#: "Import Annotations (from json)" does (or loads it as a project), and prints what VIA then holds.
VIA_HARNESS = r"""
const fs = require('fs'), vm = require('vm');
const [,, viaJs, mode, dataPath, outPath, ...photos] = process.argv;
function stub() {
  const f = function () { return p; };
  const p = new Proxy(f, {
    get(t, k) { if (k === Symbol.toPrimitive) return () => ''; if (k === 'then') return undefined; return p; },
    set() { return true; }, apply() { return p; }, construct() { return p; }, has() { return true; },
  });
  return p;
}
const ctx = { document: stub(), window: stub(), navigator: stub(), Image: function () { return stub(); },
  FileReader: function () { return stub(); }, Blob: function () { return stub(); }, URL: stub(),
  setTimeout: () => 0, clearTimeout: () => 0, alert: () => 0, console };
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(viaJs, 'utf8'), ctx);
const messages = [];
ctx.show_message = (m) => messages.push(m);
for (const name of ['update_img_fn_list', 'update_attributes_update_panel', 'annotation_editor_update_content',
  '_via_load_canvas_regions', '_via_redraw_reg_canvas', '_via_show_img', 'update_attributes_panel',
  '_via_file_resolve_file_to_default_filepath', 'project_set_name']) {
  vm.runInContext(`${name} = function () {};`, ctx);
}
vm.runInContext("_via_settings.project = { name: 'via_project' };", ctx);  // as _via_init does on page load
(async () => {
  for (const ph of photos) {
    const i = ph.lastIndexOf(':');
    vm.runInContext(`project_add_new_file(${JSON.stringify(ph.slice(0, i))}, ${Number(ph.slice(i + 1))})`, ctx);
  }
  ctx.__data = fs.readFileSync(dataPath, 'utf8');
  if (mode === 'import') await vm.runInContext('import_annotations_from_json(__data)', ctx);
  else vm.runInContext('project_open_parse_json_file(__data)', ctx);
  const meta = vm.runInContext('_via_img_metadata', ctx);
  fs.writeFileSync(outPath, (await vm.runInContext("pack_via_metadata('json')", ctx))[0]);
  console.log(JSON.stringify({ messages, regions: Object.values(meta).map((e) => e.regions.length),
    attributes: vm.runInContext('_via_attributes', ctx) }));
})();
"""


def run_via(tmp_path: Path, mode: str, data: Path, photos: list[Path]) -> tuple[dict, Path]:
    via_js = os.environ.get("FACADE_WWR_VIA_JS")
    if not via_js or not Path(via_js).is_file() or shutil.which("node") is None:
        pytest.skip("set FACADE_WWR_VIA_JS to VIA 2.0.x's via.js (and install node) to run VIA's own import code")
    harness = tmp_path / "via_harness.js"
    harness.write_text(VIA_HARNESS)
    exported = tmp_path / f"exported_{mode}_{len(photos)}.json"
    args = [
        "node",
        str(harness),
        via_js,
        mode,
        str(data),
        str(exported),
        *(f"{p.name}:{p.stat().st_size}" for p in photos),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout), exported


def test_loads_in_via_2(tmp_path: Path) -> None:
    dense, cats = synthetic_facade(np.random.default_rng(4))
    photos = tmp_path / "photos"
    pics = [photo(photos, "a.jpg"), photo(photos, "b.jpg")]
    preds = [pred_file(tmp_path / "pred", "a.jpg", dense, cats), pred_file(tmp_path / "pred", "b.jpg", [], [])]
    out = tmp_path / "pre.json"
    assert to_via(*map(str, preds), "--out", str(out), "--photos", str(photos)) == 0
    # photos added first, then the import: the keys match, so the regions land on the photos already listed
    state, exported = run_via(tmp_path, "import", out, pics)
    assert state["messages"] == [f"Import Summary : [0] new files, [{len(dense)}] regions, [0] malformed entries."]
    assert state["regions"] == [len(dense), 0]
    assert state["attributes"]["region"]["class"] == {"type": "text"}  # why --project exists
    assert via2coco(exported, photos, tmp_path / "c1.json") == 0  # VIA's own export converts back
    assert len(load_coco(tmp_path / "c1.json")["annotations"]) == len(dense)
    # without --photos (size -1), import first: VIA adds the entries itself
    bare = tmp_path / "bare.json"
    assert to_via(*map(str, preds), "--out", str(bare)) == 0
    state, _ = run_via(tmp_path, "import", bare, [])
    assert state["messages"][0].startswith("Import Summary : [2] new files")
    # the project: the class attribute arrives as a checkbox with the class names as options
    project = tmp_path / "project.json"
    assert to_via(*map(str, preds), "--out", str(project), "--photos", str(photos), "--project") == 0
    state, exported = run_via(tmp_path, "project", project, [])
    assert state["attributes"]["region"]["class"]["type"] == "checkbox"
    assert state["attributes"]["region"]["class"]["options"] == {"window": "", "building": ""}
    assert via2coco(exported, photos, tmp_path / "c2.json") == 0
    assert len(load_coco(tmp_path / "c2.json")["annotations"]) == len(dense)
