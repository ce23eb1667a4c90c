"""VIA -> COCO conversion: layouts, attribute styles, shapes and every kind of messy input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from facade_wwr import masks
from facade_wwr.cli import main

W, H = 64, 48


def photo(folder: Path, name: str, size: tuple[int, int] = (W, H), exif_orientation: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", size, (120, 130, 140))
    path = folder / name
    if exif_orientation is None:
        im.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        im.save(path, exif=exif)
    return path


def poly(xs, ys, cls=None, attr="class"):
    region = {"shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys}}
    region["region_attributes"] = {} if cls is None else {attr: cls}
    return region


WINDOW = poly([10, 20, 20, 10], [10, 10, 20, 20], {"window": True})
BUILDING = poly([2, 60, 60, 2], [2, 2, 46, 46], {"building": True})


def via_export(folder: Path, entries: dict[str, list], name: str = "via.json", as_dict: bool = False) -> Path:
    data = {}
    for filename, regions in entries.items():
        regs = {str(i): r for i, r in enumerate(regions)} if as_dict else regions
        data[f"{filename}123"] = {"filename": filename, "size": 123, "regions": regs, "file_attributes": {}}
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def convert(tmp_path: Path, via: Path, *extra: str, images: Path | None = None) -> tuple[int, Path]:
    out = tmp_path / "out" / "coco.json"
    rc = main(["via2coco", "--via", str(via), "--images", str(images or via.parent), "--out", str(out), *extra])
    return rc, out


def test_via2_export_checkbox_to_loadable_coco(tmp_path: Path) -> None:
    photo(tmp_path, "a.jpg")
    via = via_export(tmp_path, {"a.jpg": [WINDOW, BUILDING]})
    rc, out = convert(tmp_path, via)
    assert rc == 0
    coco = COCO(str(out))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["window", "building"]
    assert coco.getCatIds() == [0, 1]
    anns = coco.loadAnns(coco.getAnnIds())
    assert [a["category_id"] for a in anns] == [0, 1]
    masks = [coco.annToMask(a) for a in anns]
    assert masks[0].shape == (H, W)
    # the window square [10, 20] with vertices shifted to pixel centres covers pixels 11..20 (10 x 10)
    assert masks[0].sum() == anns[0]["area"] == 100
    assert anns[0]["bbox"] == [10.5, 10.5, 10.0, 10.0]
    img = coco.loadImgs(1)[0]
    assert (img["width"], img["height"]) == (W, H)
    assert (out.parent / img["path"]).resolve() == (tmp_path / "a.jpg").resolve()
    summary = json.loads((out.parent / "coco.summary.json").read_text())
    assert summary["annotations"] == {"window": 1, "building": 1}
    assert summary["skipped_regions"] == []


def test_via1_export_and_radio_and_text_classes(tmp_path: Path) -> None:
    photo(tmp_path, "a.jpg")
    regions = [poly([10, 20, 20, 10], [10, 10, 20, 20], "window"), poly([2, 60, 60, 2], [2, 2, 46, 46], " building ")]
    via = via_export(tmp_path, {"a.jpg": regions}, as_dict=True)
    rc, out = convert(tmp_path, via)
    assert rc == 0
    anns = json.loads(out.read_text())["annotations"]
    assert [a["category_id"] for a in anns] == [0, 1]


def test_via2_project_file(tmp_path: Path) -> None:
    photo(tmp_path, "a.jpg")
    meta = json.loads(via_export(tmp_path, {"a.jpg": [WINDOW]}).read_text())
    project = {
        "_via_settings": {},
        "_via_img_metadata": meta,
        "_via_attributes": {"region": {"class": {"type": "checkbox", "options": {"window": "", "building": ""}}}},
    }
    via = tmp_path / "project.json"
    via.write_text(json.dumps(project))
    rc, out = convert(tmp_path, via)
    assert rc == 0
    assert len(json.loads(out.read_text())["annotations"]) == 1


def test_configurable_attribute_and_class_names(tmp_path: Path) -> None:
    photo(tmp_path, "a.jpg")
    regions = [poly([10, 20, 20, 10], [10, 10, 20, 20], "fenster", attr="typ")]
    via = via_export(tmp_path, {"a.jpg": regions})
    rc, out = convert(tmp_path, via, "--class-attribute", "typ", "--classes", "fenster,gebaeude")
    assert rc == 0
    coco = json.loads(out.read_text())
    assert coco["categories"][0]["name"] == "fenster"
    assert coco["annotations"][0]["category_id"] == 0


def test_shapes_rect_circle_ellipse_polyline_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo(tmp_path, "a.jpg")
    w = {"class": "window"}
    regions = [
        {"shape_attributes": {"name": "rect", "x": 5, "y": 5, "width": 10, "height": 8}, "region_attributes": w},
        {"shape_attributes": {"name": "circle", "cx": 30, "cy": 20, "r": 6}, "region_attributes": w},
        {
            "shape_attributes": {"name": "ellipse", "cx": 45, "cy": 30, "rx": 8, "ry": 4, "theta": 0.3},
            "region_attributes": w,
        },
        {
            "shape_attributes": {"name": "polyline", "all_points_x": [1, 5, 9], "all_points_y": [1, 5, 1]},
            "region_attributes": w,
        },
        {"shape_attributes": {"name": "point", "cx": 30, "cy": 20}, "region_attributes": {"tagged_id": "id_9"}},
    ]
    via = via_export(tmp_path, {"a.jpg": regions})
    rc, out = convert(tmp_path, via)
    assert rc == 0
    coco = json.loads(out.read_text())
    areas = [a["area"] for a in coco["annotations"]]
    assert areas[0] == 80  # the 10 x 8 rect
    assert abs(areas[1] - np.pi * 36) < 10  # circle of radius 6
    assert abs(areas[2] - np.pi * 32) < 10  # ellipse 8 x 4
    assert len(areas) == 3  # polyline and point are no annotations
    assert coco["tagged_points"] == [{"file_name": "a.jpg", "tagged_id": "id_9", "x": 30.0, "y": 20.0, "via_region": 4}]
    assert "region 3: polyline is an open line" in capsys.readouterr().err


def test_messy_regions_are_skipped_with_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo(tmp_path, "a.jpg")
    regions = [
        WINDOW,
        poly([1, 5, 5], [1, 1, 5], None),  # 1: no class (the tutorial gave it the previous class)
        poly([1, 5, 5], [1, 1, 5], {"window": True, "building": True}),  # 2: two classes
        poly([1, 5, 1, 5], [1, 5, 1, 5], {"window": True}),  # 3: two distinct points
        poly([1, 5, 9], [1, 5, 9], {"window": True}),  # 4: collinear, zero area
        poly([1, 5, 5], [1, 1, 5], {"window": False}),  # 5: checkbox present but unticked
        poly([1, 5, 5], [1, 1, 5], "door"),  # 6: unknown class
        poly([10, 20, 20, 10], [10, 20, 10, 20], "building"),  # 7: a bow tie (shoelace area 0) is kept
        {"shape_attributes": {"name": "point", "cx": 3, "cy": 3}, "region_attributes": {"tagged_id": {"x": True}}},
    ]
    via = via_export(tmp_path, {"a.jpg": regions})
    rc, out = convert(tmp_path, via)
    assert rc == 0
    err = capsys.readouterr().err
    for index in (1, 2, 3, 4, 5, 6):
        assert f"image a.jpg region {index}:" in err
    summary = json.loads((out.parent / "coco.summary.json").read_text())
    reasons = {s["region"]: s["reason"] for s in summary["skipped_regions"]}
    assert reasons[1] == "no 'class' ticked"
    assert reasons[2] == "several classes ticked (window, building)"
    assert "fewer than 3 distinct points" in reasons[3]
    assert "zero area" in reasons[4]
    assert "unknown class 'door'" in reasons[6]
    assert reasons[8] == "'tagged_id' is not a text attribute"
    coco = json.loads(out.read_text())
    assert [a["via_region"] for a in coco["annotations"]] == [0, 7] and coco["annotations"][1]["area"] > 40
    assert coco["tagged_points"] == []


def test_strict_turns_a_warning_into_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo(tmp_path, "a.jpg")
    via = via_export(tmp_path, {"a.jpg": [WINDOW, poly([1, 5, 5], [1, 1, 5], None)]})
    rc, out = convert(tmp_path, via, "--strict")
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "region 1: no 'class' ticked" in err[0] and str(via) in err[0]
    assert not out.exists()


def test_points_outside_are_clipped_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo(tmp_path, "a.jpg")
    via = via_export(tmp_path, {"a.jpg": [poly([-10, 80, 80, -10], [-5, -5, 30, 30], "building")]})
    rc, out = convert(tmp_path, via)
    assert rc == 0
    assert "region 0: points outside the 64x48 image, clipped" in capsys.readouterr().err
    ann = json.loads(out.read_text())["annotations"][0]
    assert ann["bbox"] == [0.0, 0.0, 64.0, 30.5]
    assert ann["area"] == 64 * 31  # rows 0..30: the clipped edge y=0 takes the first row in full


def test_clipping_cuts_edges_at_the_border(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A vertex far outside keeps its edges' slopes inside: the mask is the polygon's part inside the photo
    (clamping the vertex to the border instead lost a quarter of this building)."""
    photo(tmp_path, "a.jpg")
    xs, ys = [10, 150, 10], [4, 24, 44]
    via = via_export(tmp_path, {"a.jpg": [poly(xs, ys, "building")]})
    rc, out = convert(tmp_path, via)
    assert rc == 0 and "clipped to its border" in capsys.readouterr().err
    ann = json.loads(out.read_text())["annotations"][0]
    unclipped = masks.polygons_to_rle([[v + 0.5 for xy in zip(xs, ys) for v in xy]], 48, 64)
    assert abs(ann["area"] - masks.area(unclipped)) <= 4
    assert ann["area"] > 1600  # the trapezoid inside is 1,731 px², the clamped triangle 1,070 px²
    assert ann["bbox"] == [10.5, 4.5, 53.5, 40.0]
    assert ann["segmentation"][0][2:8] == [64.0, 12.14, 64.0, 36.86, 10.5, 44.5]


def test_polygon_entirely_outside_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo(tmp_path, "a.jpg")
    via = via_export(tmp_path, {"a.jpg": [WINDOW, poly([100, 120, 120], [100, 100, 120], "window")]})
    rc, out = convert(tmp_path, via)
    assert rc == 0
    assert "region 1: polygon covers no pixel" in capsys.readouterr().err
    assert len(json.loads(out.read_text())["annotations"]) == 1


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing_image", "image b.jpg not found in"),
        ("corrupt_image", "unreadable or corrupt image"),
        ("malformed_json", "malformed JSON at line 1"),
        ("unknown_layout", "unknown VIA layout"),
        ("list_layout", "unknown VIA layout"),
        ("via3", "VIA 3 project"),
        ("absolute_name", "is not a plain file name"),
        ("dotdot_name", "is not a plain file name"),
        ("subfolder_name", "is not a plain file name"),
        ("listed_twice", "listed twice"),
    ],
)
def test_bad_input_is_a_one_line_error_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str
) -> None:
    photo(tmp_path, "a.jpg")
    via = tmp_path / "via.json"
    if setup == "missing_image":
        via_export(tmp_path, {"a.jpg": [WINDOW], "b.jpg": [WINDOW]})
    elif setup == "corrupt_image":
        (tmp_path / "a.jpg").write_bytes((tmp_path / "a.jpg").read_bytes()[:200])
        via_export(tmp_path, {"a.jpg": [WINDOW]})
    elif setup == "malformed_json":
        via.write_text('{"a.jpg": [')
    elif setup == "unknown_layout":
        via.write_text(json.dumps({"x": {"name": "a.jpg"}}))
    elif setup == "list_layout":
        via.write_text(json.dumps([{"filename": "a.jpg", "regions": []}]))
    elif setup == "via3":
        via.write_text(json.dumps({"project": {}, "config": {}, "attribute": {}, "file": {}, "metadata": {}}))
    elif setup == "absolute_name":
        via_export(tmp_path, {str(tmp_path / "a.jpg"): [WINDOW]})
    elif setup == "dotdot_name":
        via_export(tmp_path, {"../a.jpg": [WINDOW]})
    elif setup == "subfolder_name":
        via_export(tmp_path, {"sub\\a.jpg": [WINDOW]})
    elif setup == "listed_twice":
        via.write_text(
            json.dumps(
                {
                    "a.jpg1": {"filename": "a.jpg", "size": 1, "regions": [WINDOW], "file_attributes": {}},
                    "a.jpg2": {"filename": "a.jpg", "size": 2, "regions": [WINDOW], "file_attributes": {}},
                }
            )
        )
    rc, out = convert(tmp_path, via)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1, err
    assert message in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_empty_images_left_out_unless_kept(tmp_path: Path) -> None:
    photo(tmp_path, "a.jpg")
    photo(tmp_path, "b.jpg")
    via = via_export(tmp_path, {"a.jpg": [WINDOW], "b.jpg": []})
    rc, out = convert(tmp_path, via)
    assert rc == 0
    assert [i["file_name"] for i in json.loads(out.read_text())["images"]] == ["a.jpg"]
    summary = json.loads((out.parent / "coco.summary.json").read_text())
    assert summary["images_without_annotations"] == ["b.jpg"]
    rc, out = convert(tmp_path, via, "--keep-empty")
    assert [i["file_name"] for i in json.loads(out.read_text())["images"]] == ["a.jpg", "b.jpg"]


def test_exif_orientation_gives_displayed_size(tmp_path: Path) -> None:
    photo(tmp_path, "rot.jpg", size=(64, 48), exif_orientation=6)  # stored landscape, displayed portrait
    via = via_export(tmp_path, {"rot.jpg": [poly([2, 40, 40, 2], [2, 2, 60, 60], "building")]})
    rc, out = convert(tmp_path, via)
    assert rc == 0
    img = json.loads(out.read_text())["images"][0]
    assert (img["width"], img["height"]) == (48, 64)


def test_several_sources_merge_and_duplicates_are_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    photo(a, "1.jpg")
    photo(b, "2.jpg")
    via_a = via_export(a, {"1.jpg": [WINDOW]})
    via_b = via_export(b, {"2.jpg": [BUILDING]})
    out = tmp_path / "out" / "coco.json"
    argv = ["via2coco", "--via", str(via_a), "--images", str(a), "--via", str(via_b), "--images", str(b)]
    assert main([*argv, "--out", str(out)]) == 0
    coco = COCO(str(out))
    assert len(coco.getImgIds()) == 2 and len(coco.getAnnIds()) == 2
    assert (out.parent / coco.loadImgs(2)[0]["path"]).resolve() == (b / "2.jpg").resolve()

    photo(b, "1.jpg")
    via_b = via_export(b, {"1.jpg": [BUILDING]})
    out2 = tmp_path / "out2" / "coco.json"
    assert main([*argv, "--out", str(out2)]) == 1
    err = capsys.readouterr().err
    assert "image 1.jpg appears in two annotation sources" in err and str(via_a) in err and str(via_b) in err
    assert not out2.exists()


@pytest.mark.realdata
def test_real_data_set(real_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = tmp_path / "train.json"
    rc = main(
        [
            "via2coco",
            "--via",
            str(real_data / "train/via_region_data.json"),
            "--images",
            str(real_data / "train"),
            "--out",
            str(train),
        ]
    )
    assert rc == 0
    captured = capsys.readouterr()
    summary = json.loads((tmp_path / "train.summary.json").read_text())
    assert summary["images_with_annotations"] == 114 == summary["images_written"]
    assert summary["images_listed"] == 129 and len(summary["images_without_annotations"]) == 15
    assert summary["annotations"] == {"window": 3535, "building": 309}
    reasons = sorted((s["image"], s["region"], s["reason"]) for s in summary["skipped_regions"])
    assert [r[2] for r in reasons].count("no 'class' ticked") == 2
    assert sum("several classes ticked" in r[2] for r in reasons) == 2 and len(reasons) == 4
    assert captured.err.count("facade-wwr: warning:") == 4
    assert "window 3535, building 309" in captured.out

    coco = COCO(str(train))
    # the self-crossing polygon: COCO area follows the rasterised mask, never the shoelace formula
    for ann in coco.loadAnns(coco.getAnnIds()):
        assert ann["area"] > 0
    sample = coco.loadAnns(coco.getAnnIds())[::97]
    for ann in sample:
        assert coco.annToMask(ann).sum() == ann["area"]

    val = tmp_path / "val.json"
    assert (
        main(
            [
                "via2coco",
                "--via",
                str(real_data / "val/via_region_data.json"),
                "--images",
                str(real_data / "val"),
                "--out",
                str(val),
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "val.summary.json").read_text())
    assert summary["annotations"] == {"window": 86, "building": 13}
    assert summary["tagged_points"] == 6 and summary["skipped_regions"] == []
    tagged = json.loads(val.read_text())["tagged_points"]
    assert sorted(p["tagged_id"] for p in tagged) == [f"id_{i}" for i in range(1, 7)]


def test_log_option_keeps_messages_in_the_log_and_shows_errors_and_first_warnings(tmp_path: Path) -> None:
    """`facade-wwr --log FILE` (how every workflow rule runs): stderr goes to FILE; the terminal still gets
    the first 5 warnings, a count of the rest, and the one-line error."""
    import subprocess
    import sys

    photo(tmp_path, "a.jpg")
    doors = [poly([i, i + 5, i + 5], [1, 1, 9], {"door": True}) for i in range(7)]
    via = via_export(tmp_path, {"a.jpg": [WINDOW, *doors]})
    log = tmp_path / "logs" / "via2coco.log"
    args = [sys.executable, "-m", "facade_wwr.cli", "--log", str(log), "via2coco", "--via", str(via)]
    args += ["--images", str(tmp_path), "--out", str(tmp_path / "c.json")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    terminal = done.stderr.splitlines()
    assert len(terminal) == 6 and all("unknown class 'door'" in line for line in terminal[:5]), terminal
    assert terminal[5] == f"facade-wwr: 2 more warnings in {log}"
    assert log.read_text().count("unknown class 'door'") == 7
    assert "c.json: 1 images" in done.stdout  # the result line stays on stdout

    failed = subprocess.run([*args[:-2], "--out", str(via)], capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert failed.stderr.splitlines()[-1].startswith("facade-wwr via2coco: error: ")
    assert failed.stderr.splitlines()[-1] in log.read_text()
