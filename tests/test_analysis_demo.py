"""Analysis of the synthetic demo data's ground truth reproduces the generator's own window percentages."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from facade_wwr import analysis, predictions
from facade_wwr.cli import main
from facade_wwr.coco import load_coco

pytest.importorskip("facade_wwr.demo")


@pytest.fixture(scope="module")
def demo_val(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pd.DataFrame]:
    """Demo data (8 val photos), its val split as COCO, and truth.csv's val rows."""
    out = tmp_path_factory.mktemp("demo_wwr")
    data = out / "demo"
    argv = ["demo-data", str(data), "--train", "0", "--val", "8", "--photos", "0", "--seed", "3", "--quiet"]
    assert main(argv) == 0
    coco = out / "val.json"
    via = data / "val" / "via_region_data.json"
    assert main(["via2coco", "--via", str(via), "--images", str(data / "val"), "--out", str(coco), "--quiet"]) == 0
    truth = pd.read_csv(data / "truth.csv", keep_default_na=False)
    return data, coco, truth[truth["split"] == "val"]


def test_window_percentages_match_the_generators_truth(demo_val, tmp_path: Path) -> None:
    _, coco_path, truth = demo_val
    coco = load_coco(coco_path)
    paths = []
    region_of: dict[tuple[str, str], int] = {}
    for image in coco["images"]:
        table = predictions.from_coco(coco, image["id"])
        path = tmp_path / (Path(image["file_name"]).stem + ".parquet")
        predictions.write(path, table, image["file_name"], image["width"], image["height"], "ground-truth", "demo")
        paths.append(path)
        anns = [a for a in coco["annotations"] if a["image_id"] == image["id"] and a["category_id"] == 1]
        for k, a in enumerate(anns):  # b_k is the k-th building annotation (equal scores keep their order)
            region_of[(image["file_name"], f"b_{k}")] = a["via_region"]
    table = analysis.analyze_files(paths).table
    assert len(table) == len(truth) > 8
    table["via_region"] = [region_of[(f, i)] for f, i in zip(table["file_name"], table["id"])]
    both = table.merge(truth, on=["file_name", "via_region"], suffixes=("", "_truth"), validate="one_to_one")
    assert len(both) == len(truth)
    # The generator's polygons rasterise into exactly its masks, so the counts agree to the pixel.
    assert (both["pixel_area"] == both["pixel_area_truth"]).all()
    assert (both["window_pixel_area"] == both["window_pixel_area_truth"]).all()
    assert (both["window_percentage"] - both["window_percentage_truth"]).abs().max() <= 5e-7  # 6 decimals in CSV
    assert (both["window_count"] == both["window_count_truth"]).all()
    assert both["window_percentage"].between(0.0, 1.0).all() and both["window_percentage"].max() > 0.05
