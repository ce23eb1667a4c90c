"""predictions.read checks the prediction-file contract: a file breaking it is one line naming the file and
the row of the first fault; everything predictions.write / make_table / from_coco produce passes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from facade_wwr import masks, predictions
from facade_wwr.cli import main
from facade_wwr.errors import UserError

W, H = 40, 30


def good_table():
    """Three instances, scores 0.9, 0.8, 0.8, boxes touching the photo's edges."""
    stack = np.zeros((3, H, W), dtype=bool)
    stack[0, 0:H, 0:20] = True
    stack[1, 5:10, 5:10] = True
    stack[2, 20:H, 30:W] = True
    boxes = np.array([[0, 0, 20, H], [5, 5, 10, 10], [30, 20, W, H]], dtype=np.float32)
    return predictions.make_table(
        "a.jpg",
        ["building", "window", "window"],
        [1, 0, 0],
        [0.8, 0.9, 0.8],
        boxes,
        masks.encode_many(stack),
        [int(m.sum()) for m in stack],
    )


def write_raw(path: Path, columns: dict[str, pa.Array | list], image: str | None = "a.jpg") -> Path:
    """A Parquet file with these columns as given (no schema applied) and contract metadata."""
    table = pa.table(columns)
    meta = {"image_width": str(W), "image_height": str(H), "engine": "test", "model": "m"}
    if image is not None:
        meta["image"] = image
    pq.write_table(table.replace_schema_metadata(meta), path)
    return path


def columns_of(table) -> dict[str, pa.Array]:
    arrow = pa.Table.from_pandas(table[predictions.COLUMNS], schema=predictions.SCHEMA, preserve_index=False)
    return {name: arrow.column(name).combine_chunks() for name in predictions.COLUMNS}


def with_values(name: str, values: list) -> dict[str, pa.Array]:
    """The good table's columns with column ``name`` replaced by ``values`` (in its schema type)."""
    cols = columns_of(good_table())
    cols[name] = pa.array(values, type=predictions.SCHEMA.field(name).type)
    return cols


nan, inf = float("nan"), float("inf")
FAULTS = {
    "nan score": (with_values("score", [0.9, nan, 0.8]), "row 1: score nan is not a number in [0, 1]"),
    "inf score": (with_values("score", [inf, 0.8, 0.8]), "row 0: score inf is not a number in [0, 1]"),
    "score 5": (with_values("score", [5.0, 0.8, 0.8]), "row 0: score 5.0 is not a number in [0, 1]"),
    "negative score": (with_values("score", [0.9, 0.8, -0.1]), "row 2: score -0.1 is not a number in [0, 1]"),
    "unsorted": (
        with_values("score", [0.9, 0.7, 0.8]),
        "row 2: score 0.8 is above the previous row's 0.7 (rows must be sorted by score, highest first)",
    ),
    "duplicate instance": (
        with_values("instance", [0, 0, 1]),
        "row 1: instance 0, expected 1 (instances are numbered 0..N-1 in row order)",
    ),
    "instances from 1": (with_values("instance", [1, 2, 3]), "row 0: instance 1, expected 0"),
    "nan box": (with_values("x1", [10.0, nan, W]), "row 1: box (0.0, 0.0, nan, 30.0) is not finite"),
    "box outside": (
        with_values("x1", [10.0, 20.0, W + 50.0]),
        f"row 2: box (30.0, 20.0, 90.0, 30.0) lies outside the {W}x{H} photo",
    ),
    "box above": (
        with_values("y0", [5.0, -2.0, 20.0]),
        f"row 1: box (0.0, -2.0, 20.0, 30.0) lies outside the {W}x{H} photo",
    ),
    "inverted box": (
        with_values("x0", [12.0, 0.0, 30.0]),
        "row 0: box (12.0, 5.0, 10.0, 10.0) has x0 > x1 or y0 > y1",
    ),
    "missing value": (
        with_values("category", ["building", None, "window"]),
        "row 1: category is missing",
    ),
    "string scores": (
        {**columns_of(good_table()), "score": pa.array(["0.9", "0.8", "0.8"])},
        "column score is string, expected float",
    ),
    "float64 instance": (
        {**columns_of(good_table()), "instance": pa.array([0.0, 1.0, 2.0])},
        "column instance is double, expected int32",
    ),
    "path as image": (
        with_values("image", ["../../etc/passwd"] * 3),
        "row 0: image '../../etc/passwd' is not a plain file name",
    ),
    "empty image": (with_values("image", [""] * 3), "row 0: image '' is not a plain file name"),
    "dot image": (with_values("image", [".."] * 3), "row 0: image '..' is not a plain file name"),
    "backslash image": (with_values("image", ["x\\a.jpg"] * 3), "row 0: image 'x\\\\a.jpg' is not a plain"),
    "two images": (
        with_values("image", ["a.jpg", "a.jpg", "b.jpg"]),
        "row 2: image 'b.jpg' differs from the metadata's 'a.jpg'",
    ),
    "image not the metadata's": (
        with_values("image", ["b.jpg"] * 3),
        "row 0: image 'b.jpg' differs from the metadata's 'a.jpg'",
    ),
}


@pytest.mark.parametrize("case", FAULTS)
def test_contract_faults_are_one_line_naming_file_and_row(case: str, tmp_path: Path) -> None:
    columns, message = FAULTS[case]
    path = write_raw(tmp_path / "a.parquet", columns)
    with pytest.raises(UserError) as e:
        predictions.read(path)
    text = str(e.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_rows_name_one_photo_without_metadata_image(tmp_path: Path) -> None:
    """Files written before the metadata named the photo: every row names the same one."""
    path = write_raw(tmp_path / "a.parquet", with_values("image", ["a.jpg", "a.jpg", "b.jpg"]), image=None)
    with pytest.raises(UserError, match="a.parquet: row 2: image 'b.jpg' differs from row 0's 'a.jpg'"):
        predictions.read(path)
    assert predictions.read(write_raw(tmp_path / "b.parquet", columns_of(good_table()), image=None)).image == "a.jpg"


def test_first_faulty_row_is_named(tmp_path: Path) -> None:
    """Several faults: the lowest row is named, whichever check finds it."""
    cols = with_values("score", [0.9, 0.8, nan])
    cols["x1"] = pa.array([10.0, nan, W], type=pa.float32())
    with pytest.raises(UserError, match=r"row 1: box \(0.0, 0.0, nan, 30.0\) is not finite"):
        predictions.read(write_raw(tmp_path / "a.parquet", cols))


def test_bad_metadata_image(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "a.parquet", with_values("image", ["../a.jpg"] * 3), image="../a.jpg")
    with pytest.raises(UserError, match=r"a.parquet: image '\.\./a\.jpg' in the metadata is not a plain file name"):
        predictions.read(path)
    empty = {name: col[:0] for name, col in columns_of(good_table()).items()}
    with pytest.raises(UserError, match="image '/etc/passwd' in the metadata is not a plain file name"):
        predictions.read(write_raw(tmp_path / "b.parquet", empty, image="/etc/passwd"))


def test_boxes_up_to_a_pixel_outside_pass(tmp_path: Path) -> None:
    cols = with_values("x0", [5.0, -1.0, 30.0])
    cols["y1"] = pa.array([10.0, H + 1.0, H + 0.5], type=pa.float32())
    pred = predictions.read(write_raw(tmp_path / "a.parquet", cols))
    assert len(pred.table) == 3 and pred.image == "a.jpg"


def test_what_write_makes_passes(tmp_path: Path) -> None:
    """make_table sorts and numbers its rows; equal scores (from_coco's) keep their order; empty tables."""
    table = good_table()
    assert table["score"].tolist() == pytest.approx([0.9, 0.8, 0.8]) and table["instance"].tolist() == [0, 1, 2]
    predictions.write(tmp_path / "a.parquet", table, "a.jpg", W, H, "test", "m")
    assert predictions.read(tmp_path / "a.parquet").table["category"].tolist() == ["window", "building", "window"]

    empty = predictions.make_table("e.jpg", [], [], [], np.zeros((0, 4)), [], [])
    predictions.write(tmp_path / "e.parquet", empty, "e.jpg", W, H, "test", "m")
    assert len(predictions.read(tmp_path / "e.parquet").table) == 0

    poly = [[0.0, 0.0, 40.0, 0.0, 40.0, 30.0, 0.0, 30.0], [2.0, 2.0, 8.0, 2.0, 8.0, 6.0]]
    coco = {
        "images": [{"id": 1, "file_name": "c.jpg", "width": W, "height": H}],
        "categories": [{"id": 0, "name": "window"}, {"id": 1, "name": "building"}],
        "annotations": [
            {"id": i + 1, "image_id": 1, "category_id": c, "segmentation": [p], "bbox": b, "iscrowd": 0}
            for i, (c, p, b) in enumerate([(1, poly[0], [0, 0, W, H]), (0, poly[1], [2, 2, 6, 4])] * 2)
        ],
    }
    gt = predictions.from_coco(json.loads(json.dumps(coco)), 1, score=1.0)
    predictions.write(tmp_path / "c.parquet", gt, "c.jpg", W, H, "ground-truth", "gt")
    back = predictions.read(tmp_path / "c.parquet").table
    assert back["category"].tolist() == ["building", "window", "building", "window"]


def test_analyze_and_to_via_refuse_a_nan_score(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A NaN score dropped the building in analyze and became "score": "nan" in to-via."""
    path = write_raw(tmp_path / "a.parquet", with_values("score", [nan, 0.8, 0.8]))
    for command in (["analyze", "--out", str(tmp_path / "t.parquet")], ["to-via", "--out", str(tmp_path / "v.json")]):
        assert main([command[0], str(path), *command[1:]]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"{path}: row 0: score nan is not a number in [0, 1]" in err
    assert not (tmp_path / "t.parquet").exists() and not (tmp_path / "v.json").exists()


def test_a_photo_given_twice_is_predicted_once(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`predict a.jpg a.jpg` said "a.jpg and a.jpg would both write": the same photo (its folder resolved) is
    read once. Two names of one file (a link) stay two photos; two photos with one stem stay an error."""
    from PIL import Image

    from tests.helpers import untrained_model

    model = untrained_model(tmp_path / "model", ["window", "building"])
    photos, out = tmp_path / "photos", tmp_path / "pred"
    (photos / "sub").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "sub/a.jpg"):
        Image.new("RGB", (W, H), (90, 90, 90)).save(photos / name)
    (photos / "link.jpg").symlink_to(photos / "a.jpg")
    (photos / "list.txt").write_text(f"{photos / 'a.jpg'}\nsub/../b.jpg\n")
    monkeypatch.chdir(photos)
    args = ["predict", "--model", str(model), "--out", str(out), "--quiet", "--max-detections", "5"]
    assert main([*args, "a.jpg", "a.jpg", "./a.jpg", "b.jpg", "link.jpg", "--photos-from", "list.txt"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.parquet", "b.parquet", "link.parquet"]
    captured = capsys.readouterr()
    assert f"{out}: 3 prediction files" in captured.out and captured.err == ""
    assert main([*args, "a.jpg", "sub/a.jpg"]) == 1
    assert f"sub/a.jpg and a.jpg would both write {out / 'a.parquet'}: rename one" in capsys.readouterr().err
