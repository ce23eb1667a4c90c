"""Overlays: translucent masks in two colour families, ID and percentage labels sized to the photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from facade_wwr import analysis, drawing, masks, predictions

GREY = (100, 100, 100)


def scene(tmp_path: Path, w: int, h: int) -> tuple[Image.Image, analysis.PhotoResult]:
    """A grey photo with one building (left half, rows h/4..) holding one window, and a window outside it."""
    b = np.zeros((h, w), bool)
    b[h // 4 :, : w // 2] = True
    win = np.zeros((h, w), bool)
    win[h // 3 : h // 3 + h // 10, w // 10 : w // 10 + w // 10] = True
    out = np.zeros((h, w), bool)
    out[h - h // 8 :, w - w // 8 :] = True
    stack = np.stack([b, win, out])
    table = predictions.make_table(
        "p.jpg",
        ["building", "window", "window"],
        [1, 0, 0],
        [0.9, 0.9, 0.9],
        np.array([[0, h // 4, w // 2, h]] * 3, dtype=np.float32),
        masks.encode_many(stack),
        [int(m.sum()) for m in stack],
    )
    path = tmp_path / "p.parquet"
    predictions.write(path, table, "p.jpg", w, h, "test", "m")
    result = analysis.analyze_predictions(predictions.read(path), path)
    return Image.new("RGB", (w, h), GREY), result


def test_overlay_colours_and_untouched_background(tmp_path: Path) -> None:
    photo, result = scene(tmp_path, 320, 240)
    pixels = np.asarray(drawing.draw_analysis(photo, result)).astype(int)
    assert pixels.shape == (240, 320, 3)
    r, g, b = pixels[230, 10]  # building only (near its bottom-left corner, away from the label)
    assert r > 150 and b < 100  # warm family
    r, g, b = pixels[85, 36]  # window inside the building
    assert b > r  # cool family on top of the building
    r, g, b = pixels[235, 315]  # window outside every building: still painted
    assert b > r
    assert (pixels[5, 300] == GREY).all()  # background untouched
    assert (pixels[5:50, 200:310] == GREY).all()


def test_label_is_written_on_the_building(tmp_path: Path) -> None:
    photo, result = scene(tmp_path, 320, 240)
    assert list(result.table["id"]) == ["b_0"] and result.table["window_percentage"][0] == 24 * 32 / (180 * 160)
    assert drawing.building_label("b_0", result.table["window_percentage"][0]) == "b_0\n2.7%"
    pixels = np.asarray(drawing.draw_analysis(photo, result))
    building = np.zeros((240, 320), bool)
    building[60:, :160] = True
    white = (pixels > 200).all(axis=2)  # the text
    dark = pixels.mean(axis=2) < 60  # the box behind it
    assert white[building].sum() > 20 and dark[building].sum() > 200  # inside the building's area
    assert white[~building].sum() == 0 and dark[~building].sum() == 0


def test_font_scales_with_the_photo() -> None:
    assert drawing.font_size(256, 256) == 11
    assert drawing.font_size(1920, 1080) == 30
    assert drawing.font_size(4000, 3000) == 84
    font = drawing.load_font(drawing.font_size(4000, 3000))
    left, top, right, bottom = font.getbbox("b_10")
    assert bottom - top > 50  # a scalable font, not the fixed 11 px bitmap


def test_photo_without_buildings_and_saving(tmp_path: Path) -> None:
    empty = predictions.make_table("e.jpg", [], [], [], np.zeros((0, 4)), [], [])
    predictions.write(tmp_path / "e.parquet", empty, "e.jpg", 64, 48, "test", "m")
    result = analysis.analyze_predictions(predictions.read(tmp_path / "e.parquet"), tmp_path / "e.parquet")
    image = drawing.draw_analysis(Image.new("RGB", (64, 48), GREY), result)
    assert (np.asarray(image) == GREY).all()
    for fmt in ("jpg", "png"):
        path = drawing.output_path(tmp_path / "ov", "e.photo.jpg", fmt)
        assert path.name == f"e.photo.{fmt}"
        drawing.save(image, path, fmt)
        with Image.open(path) as im:
            assert im.format == {"jpg": "JPEG", "png": "PNG"}[fmt] and im.size == (64, 48)
    assert sorted(p.name for p in (tmp_path / "ov").iterdir()) == ["e.photo.jpg", "e.photo.png"]


def test_labels_keep_off_each_other_and_inside_the_photo() -> None:
    """Neighbouring buildings' labels overlapped and were cut at the border: each label now moves off those
    placed before it, and stays inside the photo with a margin."""
    from PIL import ImageDraw

    size = (400, 300)
    draw = ImageDraw.Draw(Image.new("RGBA", size))
    font = drawing.load_font(14)
    taken: list = []
    for xy in [(200, 150)] * 5 + [(399, 0), (0, 299)]:
        drawing.draw_label(draw, xy, "b_12\n45.0%", font, size, taken)
    for i, a in enumerate(taken):
        assert 0 < a[0] and 0 < a[1] and a[2] < size[0] and a[3] < size[1], a
        for b in taken[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def test_tagged_ids_are_written_and_points_marked(tmp_path: Path) -> None:
    photo, result = scene(tmp_path, 320, 240)
    assert drawing.building_label("b_0", 0.5, "id_5") == "b_0\n50.0%\nid_5"
    result.table.loc[0, ["tagged_id", "tagged_id_coords"]] = ["id_5", "[200, 40]"]
    result.unmatched.append({"file_name": "p.jpg", "tagged_id": "id_9", "x": 250.0, "y": 30.0, "via_region": 1})
    assert drawing.tagged_marks(result) == [(40.0, 200.0, ""), (250.0, 30.0, "id_9")]
    pixels = np.asarray(drawing.draw_analysis(photo, result)).astype(int)
    assert (pixels[200, 40] > 240).all()  # the attached point: a white dot
    r, g, b = pixels[30, 250]
    assert r > 200 and g < 100  # the point in no building: red
    assert (pixels[40:60, 220:280].min(axis=2) > 200).any()  # its ID written below it
