"""The synthetic demo data set: deterministic, well-formed VIA exports, exact truth, occlusion, tagged points."""

from __future__ import annotations

import csv
import filecmp
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from facade_wwr import demo, outline
from facade_wwr.cli import main

SEED = 7
COUNTS = {"train": 6, "val": 3, "photos": 5}


def _generate(out: Path, seed: int = SEED, **counts: int) -> int:
    counts = {**COUNTS, **counts}
    return main(
        [
            "demo-data",
            str(out),
            "--train",
            str(counts["train"]),
            "--val",
            str(counts["val"]),
            "--photos",
            str(counts["photos"]),
            "--seed",
            str(seed),
            "--quiet",
        ]
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "data"
    assert _generate(out) == 0
    return out


@pytest.fixture(scope="module")
def truth(demo_dir: Path) -> list[dict[str, str]]:
    with open(demo_dir / "truth.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def coco_files(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("demo_coco")
    paths = {}
    for split in ("train", "val"):
        paths[split] = out / f"{split}.json"
        argv = ["via2coco", "--via", str(demo_dir / split / "via_region_data.json")]
        argv += ["--images", str(demo_dir / split), "--out", str(paths[split]), "--strict", "--quiet"]
        assert main(argv) == 0
    return paths


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_same_arguments_give_identical_files(demo_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert _generate(again) == 0
    names = _files(demo_dir)
    assert names == _files(again)
    match, mismatch, errors = filecmp.cmpfiles(demo_dir, again, names, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(names)


def test_other_seed_differs_and_counts_are_independent(demo_dir: Path, tmp_path: Path) -> None:
    assert _generate(tmp_path / "other", seed=SEED + 1, train=1, val=0, photos=0) == 0
    assert (tmp_path / "other" / "train" / "train_0000.jpg").read_bytes() != (
        demo_dir / "train" / "train_0000.jpg"
    ).read_bytes()
    # Fewer training photos leave the val photos unchanged (each image has its own random stream).
    assert _generate(tmp_path / "fewer", train=2) == 0
    assert (tmp_path / "fewer" / "val" / "val_0002.jpg").read_bytes() == (
        demo_dir / "val" / "val_0002.jpg"
    ).read_bytes()


def test_layout_and_via_shape(demo_dir: Path) -> None:
    assert sorted(p.name for p in demo_dir.iterdir()) == [".facade-wwr-demo", "photos", "train", "truth.csv", "val"]
    for split, count in COUNTS.items():
        photos = sorted((demo_dir / split).glob("*.jpg"))
        assert len(photos) == count
        via_name = "tagged.json" if split == "photos" else "via_region_data.json"
        assert sorted(p.name for p in (demo_dir / split).iterdir()) == sorted([via_name] + [p.name for p in photos])
        via = json.loads((demo_dir / split / via_name).read_text())
        assert len(via) == count
        for key, entry in via.items():
            assert list(entry) == ["filename", "size", "regions", "file_attributes"]
            photo = demo_dir / split / entry["filename"]
            assert key == f"{entry['filename']}{photo.stat().st_size}" and entry["size"] == photo.stat().st_size
            assert Image.open(photo).size == (256, 256)
            assert isinstance(entry["regions"], list)
            for region in entry["regions"]:
                shape, attributes = region["shape_attributes"], region["region_attributes"]
                if split == "photos":
                    assert shape["name"] == "point" and list(attributes) == ["tagged_id"]
                else:
                    assert shape["name"] == "polygon"
                    assert attributes["class"] in ({"window": True}, {"building": True})
                    assert min(shape["all_points_x"] + shape["all_points_y"]) >= 0
                    assert max(shape["all_points_x"] + shape["all_points_y"]) <= 256


def test_scenes_are_varied_and_learnable(truth: list[dict[str, str]]) -> None:
    per_image: dict[str, int] = {}
    for row in truth:
        per_image[row["file_name"]] = per_image.get(row["file_name"], 0) + 1
    assert len(per_image) == sum(COUNTS.values())
    assert set(per_image.values()) <= {1, 2, 3, 4} and max(per_image.values()) >= 3
    percentages = [float(r["window_percentage"]) for r in truth]
    assert all(0.0 <= p < 1.0 for p in percentages) and np.std(percentages) > 0.03
    widths = [int(r["x1"]) - int(r["x0"]) for r in truth]
    assert min(widths) >= 20 and max(widths) <= 256


def test_via2coco_strict_round_trip_matches_truth(
    coco_files: dict[str, Path], truth: list[dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """COCO masks rebuilt from the VIA polygons give the generator's pixel counts exactly."""
    errors = []
    for split, path in coco_files.items():
        summary = json.loads(path.with_name(f"{split}.summary.json").read_text())
        assert summary["warnings"] == [] and summary["skipped_regions"] == []
        rows = {(r["file_name"], int(r["via_region"])): r for r in truth if r["split"] == split}
        coco = COCO(str(path))
        assert len(coco.dataset["images"]) == COUNTS[split]
        assert sum(1 for a in coco.dataset["annotations"] if a["category_id"] == 1) == len(rows)
        assert sum(1 for a in coco.dataset["annotations"] if a["category_id"] == 0) == sum(
            int(r["window_count"]) for r in rows.values()
        )
        for image in coco.dataset["images"]:
            anns = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
            windows = np.zeros((image["height"], image["width"]), dtype=bool)
            for a in anns:
                if a["category_id"] == 0:
                    windows |= coco.annToMask(a).astype(bool)
            for a in anns:
                if a["category_id"] != 1:
                    continue
                row = rows.pop((image["file_name"], a["via_region"]))
                building = coco.annToMask(a).astype(bool)
                assert int(building.sum()) == int(row["pixel_area"]) == a["area"]
                assert int((building & windows).sum()) == int(row["window_pixel_area"])
                errors.append(abs((building & windows).sum() / building.sum() - float(row["window_percentage"])))
        assert rows == {}
    assert 100 * float(np.mean(errors)) < 1.5
    assert max(errors) < 1e-5  # only the 6 decimals of the CSV
    assert "warning" not in capsys.readouterr().err


def test_occlusion_is_present_and_visible_masks_are_exact() -> None:
    occluded = 0
    for i in range(8):
        scene = demo.make_scene(SEED, "train", i, 256)
        for b in scene.buildings:
            assert b.full is not None and b.visible is not None and b.polygon is not None
            occluded += int(b.visible.sum() < b.full.sum())
            assert np.array_equal(outline.polygon_mask(b.polygon, 256, 256), b.visible)
            for w in b.windows:
                assert w.polygon is not None
                window = w.mask(256, 256)
                assert not (window & ~b.visible).any()  # a window never shows through the building in front
                assert np.array_equal(outline.polygon_mask(w.polygon, 256, 256), window)
    assert occluded >= 3


def test_trace_polygon_is_pixel_exact_on_random_shapes() -> None:
    rng = np.random.default_rng(0)
    import cv2

    for _ in range(100):
        mask = np.zeros((48, 48), dtype=np.uint8)
        x0, y0 = (int(v) for v in rng.integers(1, 24, 2))
        x1, y1 = x0 + int(rng.integers(3, 24)), y0 + int(rng.integers(3, 24))
        mask[y0:y1, x0:x1] = 1
        apex = [(x0 + x1) // 2, max(1, y0 - int(rng.integers(1, 20)))]
        cv2.fillPoly(mask, [np.array([[x0, y0], [x1 - 1, y0], apex], dtype=np.int32)], 1)
        mask[int(rng.integers(y0, y1)) :, int(rng.integers(x0, x1)) :] = 0
        polygon = outline.trace_polygon(mask.astype(bool))
        if polygon is None:  # split into parts: the generator never emits those
            assert cv2.connectedComponents(mask, connectivity=4)[0] != 2
            continue
        assert np.array_equal(outline.polygon_mask(polygon, 48, 48), mask.astype(bool))


def test_tagged_points_lie_well_inside_their_building(demo_dir: Path, truth: list[dict[str, str]]) -> None:
    via = json.loads((demo_dir / "photos" / "tagged.json").read_text())
    rows = [r for r in truth if r["split"] == "photos"]
    tagged = {r["tagged_id"]: r for r in rows if r["tagged_id"]}
    assert 0 < len(tagged) < len(rows)  # most buildings tagged, some left without a point on purpose
    assert all(t.startswith("bldg_") for t in tagged)
    points = 0
    for index in range(COUNTS["photos"]):
        scene = demo.make_scene(SEED, "photos", index, 256)
        entry = next(e for e in via.values() if e["filename"] == f"photo_{index:04d}.jpg")
        for region in entry["regions"]:
            x, y = region["shape_attributes"]["cx"], region["shape_attributes"]["cy"]
            row = tagged[region["region_attributes"]["tagged_id"]]
            assert row["file_name"] == entry["filename"]
            building = scene.buildings[int(row["building"])]
            assert building.visible is not None and building.visible[y, x]
            inside = building.visible[max(0, y - 3) : y + 4, max(0, x - 3) : x + 4]
            assert inside.all(), "the point is at least 3 pixels from the building's border"
            for other in scene.buildings:
                assert other is building or not (other.visible is not None and other.visible[y, x])
            points += 1
    assert points == len(tagged)


def test_replaces_an_earlier_demo_set_but_not_other_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d"
    assert _generate(out, train=2, val=1, photos=1) == 0
    assert _generate(out, train=1, val=0, photos=0) == 0
    assert len(list((out / "train").glob("*.jpg"))) == 1 and not list((out / "val").glob("*.jpg"))
    for declared in ("truth.csv", "train/via_region_data.json"):  # Snakemake deletes them before a rerun
        (out / declared).unlink()
    assert _generate(out, train=2, val=0, photos=0) == 0
    assert (out / "truth.csv").is_file() and len(list((out / "train").glob("*.jpg"))) == 2
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert _generate(other, train=1) == 1
    assert "holds no demo data set" in capsys.readouterr().err
    assert _files(other) == ["keep.txt"]
    (tmp_path / "pre" / "train").mkdir(parents=True)  # as Snakemake leaves it before the job
    assert _generate(tmp_path / "pre", train=1, val=0, photos=0) == 0
    assert (tmp_path / "pre" / "truth.csv").is_file()
    assert _generate(tmp_path / "neg", train=-1) == 1
    assert "--train -1" in capsys.readouterr().err
    assert not (tmp_path / "neg").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_nothing_to_rasterise_is_an_empty_mask() -> None:
    """Fewer than 3 vertices, or a polygon wholly outside the photo: no pixel, no pycocotools error."""
    from facade_wwr import masks

    assert masks.area(outline.rasterise(np.array([1.0, 5.0]), np.array([1.0, 5.0]), 10, 10)) == 0
    assert masks.area(outline.rasterise(np.array([20.0, 30, 30]), np.array([20.0, 20, 30]), 10, 10)) == 0
