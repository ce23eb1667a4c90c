"""facade-wwr preview: ground-truth masks and class names on a deterministic sample of images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facade_wwr import drawing
from facade_wwr.cli import main

GREY = (100, 100, 100)


@pytest.fixture
def small_coco(tmp_path: Path) -> Path:
    """Five 120x90 grey photos, each with one building (left half) holding a window, converted by via2coco."""
    images = tmp_path / "images"
    images.mkdir()
    via = {}
    for i in range(5):
        name = f"img_{i}.png"
        Image.new("RGB", (120, 90), GREY).save(images / name)
        via[name] = {
            "filename": name,
            "regions": [
                {
                    "shape_attributes": {"name": "rect", "x": 0, "y": 20, "width": 60, "height": 69},
                    "region_attributes": {"class": "building"},
                },
                {
                    "shape_attributes": {"name": "rect", "x": 10, "y": 30, "width": 20, "height": 20},
                    "region_attributes": {"class": "window"},
                },
            ],
        }
    (tmp_path / "via.json").write_text(json.dumps(via))
    coco = tmp_path / "coco.json"
    argv = ["via2coco", "--via", str(tmp_path / "via.json"), "--images", str(images), "--out", str(coco), "--quiet"]
    assert main(argv) == 0
    return coco


def test_sample_is_deterministic_and_bounded() -> None:
    images = [{"file_name": f"{c}.jpg"} for c in "edcba"]
    first = drawing.sample_images(images, 3, seed=0)
    assert first == drawing.sample_images(list(reversed(images)), 3, seed=0)  # order of the COCO file is irrelevant
    assert len(first) == 3 and first == sorted(first, key=lambda im: im["file_name"])
    assert (
        drawing.sample_images(images, 0, 0)
        == drawing.sample_images(images, 9, 0)
        == sorted(images, key=lambda im: im["file_name"])
    )
    assert {im["file_name"] for s in range(20) for im in drawing.sample_images(images, 1, s)} == {
        f"{c}.jpg" for c in "abcde"
    }


def test_preview_draws_masks_and_legend(small_coco: Path, tmp_path: Path) -> None:
    out = tmp_path / "previews"
    assert main(["preview", "--coco", str(small_coco), "--out", str(out), "-n", "2", "--seed", "1"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 2 and all(n.startswith("img_") and n.endswith(".jpg") for n in written)
    again = tmp_path / "again"
    assert main(["preview", "--coco", str(small_coco), "--out", str(again), "-n", "2", "--seed", "1"]) == 0
    assert sorted(p.name for p in again.iterdir()) == written
    assert main(["preview", "--coco", str(small_coco), "--out", str(again), "-n", "0", "--format", "png"]) == 0
    assert len(list(again.glob("*.png"))) == 5
    pixels = np.asarray(Image.open(again / "img_0.png")).astype(int)
    r, g, b = pixels[80, 45]  # building only: warm
    assert r > 140 and b < 90
    r, g, b = pixels[45, 20]  # window: cool
    assert b > r
    assert (pixels[80, 100] == GREY).all()  # background untouched
    assert pixels.shape[0] > 90 and pixels.shape[1] == 120  # the legend is a strip below the 120x90 photo
    assert (pixels[:5, :5] == GREY).all() and (pixels[:5, -5:] == GREY).all()  # it covers nothing of the photo
    assert (pixels[95:, :].max(axis=2) > 200).any()  # its text


def test_a_small_photos_preview_keeps_the_photo_whole(real_coco: dict[str, Path], tmp_path: Path) -> None:
    """The legend once covered most of a 101x101 photo of the real training set."""
    from facade_wwr.coco import load_coco

    coco = load_coco(real_coco["train"])
    image = next(im for im in coco["images"] if (im["width"], im["height"]) == (101, 101))
    drawn = np.asarray(drawing.preview_image(real_coco["train"], coco, image))
    assert drawn.shape[1] == 101 and 101 < drawn.shape[0] <= 140
    assert (drawn[101:].max(axis=2) > 200).any()  # the legend's text, below the photo


def test_preview_errors(small_coco: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "p"
    Image.new("RGB", (121, 90), GREY).save(tmp_path / "images" / "img_0.png")
    assert main(["preview", "--coco", str(small_coco), "--out", str(out), "-n", "0"]) == 1
    assert "img_0.png: image is 121x90 but" in capsys.readouterr().err
    (tmp_path / "images" / "img_0.png").unlink()
    assert main(["preview", "--coco", str(small_coco), "--out", str(out), "-n", "0"]) == 1
    assert "img_0.png: image not found" in capsys.readouterr().err
    assert main(["preview", "--coco", str(tmp_path / "nope.json"), "--out", str(out)]) == 1
    assert "nope.json: file not found" in capsys.readouterr().err
    assert main(["preview", "--coco", str(small_coco), "--out", str(out), "-n", "-1"]) == 1


def test_preview_of_the_real_val_set(real_coco: dict[str, Path], tmp_path: Path) -> None:
    assert main(["preview", "--coco", str(real_coco["val"]), "--out", str(tmp_path), "-n", "8"]) == 0
    (path,) = tmp_path.iterdir()
    assert path.name == "_0CfAgwU4GRi9S6yzBbnxQ.jpg"
    with Image.open(path) as im:
        assert im.size[0] == 2048 and 1536 < im.size[1] < 1536 + 150  # the photo, and the legend below it
