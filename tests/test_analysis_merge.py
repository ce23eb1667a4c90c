"""facade-wwr merge: contract columns, natural ID order, Parquet twin, unmatched points across shards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from facade_wwr import masks, predictions, tables
from facade_wwr.cli import main


def building_rows(file_name: str, n: int) -> pd.DataFrame:
    """``n`` contract rows for one photo (IDs b_0 .. b_{n-1}), listed in reverse to test the sort."""
    ids = [f"b_{i}" for i in reversed(range(n))]
    return pd.DataFrame(
        {
            "file_name": [file_name] * n,
            "id": ids,
            "tagged_id": [""] * n,
            "tagged_id_coords": [""] * n,
            "category": [1] * n,
            "pixel_area": [100 + i for i in range(n)],
            "building_area_perc_of_image": [0.25] * n,
            "window_percentage": [0.125] * n,
            "score": [0.9] * n,
            "window_count": [2] * n,
            "window_pixel_area": [12] * n,
            "x0": [0.0] * n,
            "y0": [0.0] * n,
            "x1": [10.0] * n,
            "y1": [10.0] * n,
            "image_width": [20] * n,
            "image_height": [20] * n,
            "model": ["m"] * n,
        }
    )


def test_merge_sorts_by_file_then_natural_id_and_writes_a_parquet_twin(tmp_path: Path) -> None:
    t1, t2 = tmp_path / "s1.parquet", tmp_path / "s2.parquet"
    tables.write(t1, building_rows("b.jpg", 12), tables.TableInfo(photos=["b.jpg", "c.jpg"]))
    tables.write(t2, building_rows("a.jpg", 3), tables.TableInfo(photos=["a.jpg"]))
    out = tmp_path / "results" / "buildings.csv"
    assert main(["merge", str(t1), str(t2), "--out", str(out)]) == 0
    csv = pd.read_csv(out, keep_default_na=False)
    assert list(csv.columns) == list(tables.COLUMNS)
    assert list(csv.columns[:8]) == list(tables.TUTORIAL_COLUMNS)
    assert list(zip(csv["file_name"], csv["id"]))[:5] == [
        ("a.jpg", "b_0"),
        ("a.jpg", "b_1"),
        ("a.jpg", "b_2"),
        ("b.jpg", "b_0"),
        ("b.jpg", "b_1"),
    ]
    assert list(csv["id"][3:]) == [f"b_{i}" for i in range(12)]  # b_2 before b_10
    assert list(csv["tagged_id"]) == [""] * 15
    twin, info = tables.read(out.with_suffix(".parquet"))
    assert info.photos == ["a.jpg", "b.jpg", "c.jpg"]
    pd.testing.assert_frame_equal(twin, tables.conform(csv))
    assert not (tmp_path / "results" / "buildings.unmatched.csv").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["buildings.csv", "buildings.parquet"]


def test_merge_of_nothing_writes_headers_only(tmp_path: Path) -> None:
    out = tmp_path / "buildings.csv"
    assert main(["merge", "--out", str(out)]) == 0
    assert out.read_text().strip() == ",".join(tables.COLUMNS)
    assert len(tables.read(out.with_suffix(".parquet"))[0]) == 0
    empty = tmp_path / "empty.parquet"
    tables.write(empty, tables.empty(), tables.TableInfo(photos=["x.jpg"]))
    assert main(["merge", str(empty), "--out", str(out)]) == 0
    assert out.read_text().strip() == ",".join(tables.COLUMNS)


def test_merge_refuses_a_photo_analysed_twice_and_bad_paths(tmp_path: Path, capsys) -> None:
    t = tmp_path / "t.parquet"
    tables.write(t, building_rows("a.jpg", 1), tables.TableInfo(photos=["a.jpg"]))
    out = tmp_path / "out.csv"
    assert main(["merge", str(t), str(t), "--out", str(out)]) == 1
    assert "photo a.jpg was already analysed in" in capsys.readouterr().err
    assert not out.exists()
    assert main(["merge", str(t), "--out", str(tmp_path / "out.parquet")]) == 1
    assert "give a .csv path" in capsys.readouterr().err
    pred = tmp_path / "pred.parquet"
    table = predictions.make_table("a.jpg", [], [], [], np.zeros((0, 4)), [], [])
    predictions.write(pred, table, "a.jpg", 10, 10, "test", "m")
    assert main(["merge", str(pred), "--out", str(out)]) == 1
    assert "not a facade-wwr building table (missing file_name, id" in capsys.readouterr().err


def test_unmatched_points_across_shards_are_reported_once(tmp_path: Path) -> None:
    """Shard 1 has a.jpg, shard 2 has b.jpg; c.jpg has no prediction file; a point in a.jpg hits nothing."""
    m = np.zeros((10, 10), dtype=bool)
    m[2:8, 2:8] = True
    for name, score in (("a.jpg", 0.9), ("b.jpg", 0.9)):
        table = predictions.make_table(
            name, ["building"], [1], [score], np.array([[2, 2, 8, 8]]), [masks.encode(m)], [36]
        )
        predictions.write(tmp_path / f"{name[0]}.parquet", table, name, 10, 10, "test", "m")
    regions = {
        "a.jpg": [("in_a", 4, 4), ("miss_a", 0, 0)],
        "b.jpg": [("in_b", 5, 5)],
        "c.jpg": [("on_c", 1, 1)],
    }
    via = {
        name: {
            "filename": name,
            "regions": [
                {"shape_attributes": {"name": "point", "cx": x, "cy": y}, "region_attributes": {"tagged_id": t}}
                for t, x, y in pts
            ],
        }
        for name, pts in regions.items()
    }
    tagged = tmp_path / "tagged.json"
    tagged.write_text(json.dumps(via))
    for shard in ("a", "b"):
        argv = ["analyze", str(tmp_path / f"{shard}.parquet"), "--out", str(tmp_path / f"shard_{shard}.parquet")]
        assert main(argv + ["--tagged", str(tagged), "--tagged-scope", "inputs"]) == 0
    out = tmp_path / "buildings.csv"
    assert main(["merge", str(tmp_path / "shard_a.parquet"), str(tmp_path / "shard_b.parquet"), "--out", str(out)]) == 0
    csv = pd.read_csv(out, keep_default_na=False)
    assert csv[["file_name", "id", "tagged_id", "tagged_id_coords"]].values.tolist() == [
        ["a.jpg", "b_0", "in_a", "[4, 4]"],
        ["b.jpg", "b_0", "in_b", "[5, 5]"],
    ]
    unmatched = pd.read_csv(tmp_path / "buildings.unmatched.csv")
    assert unmatched[["file_name", "tagged_id", "via_region", "reason"]].values.tolist() == [
        ["a.jpg", "miss_a", 1, "in no building"],
        ["c.jpg", "on_c", 0, "no prediction file"],
    ]
    assert pq.read_schema(out.with_suffix(".parquet")).names == list(tables.COLUMNS)
