"""facade-wwr predict: per-photo Parquet files by the contract, odd photos, unreadable photos, batching."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils

from facade_wwr import masks as rle_masks
from facade_wwr import predictions
from facade_wwr.checkpoints import file_id
from facade_wwr.cli import main
from facade_wwr.engines import RawDetections
from facade_wwr.errors import UserError, Warnings
from facade_wwr.inference import background_batches, encode_instances, load_predictor, piece_scores, predict_photos
from tests.helpers import make_data, untrained_model

CAP = ["--max-detections", "20"]  # an untrained network finds hundreds of instances; 20 keep tests quick


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("predict")
    data = make_data(root / "data", train=1, val=1, photos=2)
    model = untrained_model(root / "model", ["window", "building"])
    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (80, 120, 3), dtype=np.uint8)
    Image.fromarray(rgb[..., 0]).save(photos / "gray.png")  # grayscale PNG
    Image.fromarray(np.dstack([rgb, np.full((80, 120), 128, np.uint8)])).save(photos / "alpha.png")  # RGBA
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise for display
    Image.fromarray(rgb).save(photos / "rotated.jpg", exif=exif)  # stored 120x80, displayed 80x120
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return {"model": model, "model_dir": model.parent, "demo": data["photos"], "photos": photos, "data": data}


def _check_file(path: Path, width: int, height: int, model_id: str) -> pd.DataFrame:
    """Everything the contract promises about one prediction file."""
    p = predictions.read(path)
    assert (p.width, p.height, p.engine, p.model) == (width, height, "torchvision", model_id)
    t = pd.read_parquet(path)  # plain pandas reads it too
    assert list(t.columns) == predictions.COLUMNS
    assert t["instance"].tolist() == list(range(len(t)))
    assert (np.diff(t["score"].to_numpy()) <= 0).all() and ((t["score"] >= 0) & (t["score"] <= 1)).all()
    assert set(zip(t["category_id"], t["category"])) <= {(0, "window"), (1, "building")}
    assert ((t["x0"] >= 0) & (t["x1"] <= width) & (t["y0"] >= 0) & (t["y1"] <= height)).all()
    for counts, area in zip(t["mask_rle"], t["mask_area"]):
        m = mask_utils.decode({"size": [height, width], "counts": counts.encode()})
        assert m.shape == (height, width) and int(m.sum()) == area
    return t


def test_predict_command(setup: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "pred"
    photos = [str(p) for p in sorted(setup["photos"].iterdir())] + [str(p) for p in setup["demo"]]
    assert main(["predict", "--model", str(setup["model_dir"]), "--out", str(out), *CAP, *photos]) == 0
    captured = capsys.readouterr()
    assert "broken.jpg: unreadable or corrupt image" in captured.err and "skipped" in captured.err
    assert "predict 6/6 photos" in captured.err  # progress line
    assert "5 prediction files" in captured.out and "1 unreadable photos skipped" in captured.out
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["alpha.parquet", "gray.parquet", "rotated.parquet"] + [Path(p).stem + ".parquet" for p in setup["demo"]]
    )
    model_id = file_id(setup["model"])
    assert len(model_id) == 12
    _check_file(out / "gray.parquet", 120, 80, model_id)
    _check_file(out / "alpha.parquet", 120, 80, model_id)
    rotated = _check_file(out / "rotated.parquet", 80, 120, model_id)  # EXIF orientation honoured
    assert predictions.read(out / "rotated.parquet").image == "rotated.jpg"
    demo = _check_file(out / (setup["demo"][0].stem + ".parquet"), 96, 96, model_id)
    assert 0 < len(demo) <= 20 and 0 < len(rotated) <= 20


def test_npz_side_car_and_photo_list(setup: dict, tmp_path: Path) -> None:
    listing = tmp_path / "photos.txt"
    listing.write_text(f"# shard 0\n{setup['demo'][0]}\n\n{setup['photos'] / 'rotated.jpg'}\n")
    out = tmp_path / "pred"
    args = ["predict", "--model", str(setup["model"]), "--out", str(out), "--photos-from", str(listing), "--npz"]
    assert main(args + CAP + ["--min-score", "0.2", "--quiet"]) == 0
    for stem, (w, h) in ((setup["demo"][0].stem, (96, 96)), ("rotated", (80, 120))):
        table = _check_file(out / f"{stem}.parquet", w, h, file_id(setup["model"]))
        dense = predictions.read_dense(out / f"{stem}.npz")
        assert dense.shape == (len(table), h, w)
        for m, counts in zip(dense, table["mask_rle"]):
            assert (m == mask_utils.decode({"size": [h, w], "counts": counts.encode()}).astype(bool)).all()


def test_batched_equals_one_at_a_time(setup: dict, tmp_path: Path) -> None:
    predictor = load_predictor(setup["model"], "cpu", 0.05, 20)
    photos = setup["demo"]
    predict_photos(predictor, photos, tmp_path / "batched", batch_size=2, progress=False)
    for p in photos:
        predict_photos(predictor, [p], tmp_path / "single", batch_size=1, progress=False, add=True)
    for p in photos:
        a = predictions.read(tmp_path / "batched" / f"{p.stem}.parquet").table
        b = predictions.read(tmp_path / "single" / f"{p.stem}.parquet").table
        assert len(a) == len(b)
        np.testing.assert_allclose(a["score"], b["score"], atol=1e-4)
        np.testing.assert_allclose(a[["x0", "y0", "x1", "y1"]], b[["x0", "y0", "x1", "y1"]], atol=0.05)
        assert (a["category_id"] == b["category_id"]).all()


def test_next_batch_runs_while_the_last_is_written(setup: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The writer thread encodes batch k while the network runs batch k + 1 (on a GPU the two overlap): the
    first encoding waits until the second pass has begun, which would never happen if they took turns. An
    error while writing reaches the caller, and is still told when the network fails meanwhile."""
    predictor = load_predictor(setup["model"], "cpu", 0.05, 20)
    photos = [*setup["demo"], setup["photos"] / "gray.png", setup["photos"] / "alpha.png"]
    second_pass = threading.Event()
    passes, encoded = [], []
    detect, encode = predictor.detect, predictor.encode

    def watched_detect(batch):
        passes.append([p.path.name for p in batch])
        if len(passes) == 2:
            second_pass.set()
        return detect(batch)

    def watched_encode(batch, raws, dense=False):
        if not encoded:
            assert second_pass.wait(timeout=30), "the next batch did not start while this one was encoded"
        encoded.append([p.path.name for p in batch])
        return encode(batch, raws, dense)

    predictor.detect, predictor.encode = watched_detect, watched_encode
    summary = predict_photos(predictor, photos, tmp_path / "pred", batch_size=2, progress=False)
    assert summary["written"] == 4 and passes == encoded == [[p.name for p in photos[:2]], [p.name for p in photos[2:]]]
    assert sorted(p.name for p in (tmp_path / "pred").iterdir()) == sorted(f"{p.stem}.parquet" for p in photos)

    def failing_encode(batch, raws, dense=False):
        raise UserError("disk full")

    predictor.encode = failing_encode
    with pytest.raises(UserError, match="disk full"):
        predict_photos(predictor, photos, tmp_path / "fail", batch_size=2, progress=False)
    assert "also failed" not in capsys.readouterr().err

    # the network fails on the second batch while the writer fails on the first: both are told
    def failing_detect(batch):
        if batch[0].path.name == "gray.png":
            raise RuntimeError("CUDA out of memory")
        return detect(batch)

    predictor.detect = failing_detect
    with pytest.raises(RuntimeError, match="out of memory"):
        predict_photos(predictor, photos, tmp_path / "fail", batch_size=2, progress=False)
    assert "facade-wwr: writing predictions also failed: disk full" in capsys.readouterr().err


def test_strict_and_input_errors(setup: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = ["predict", "--model", str(setup["model_dir"]), "--out", str(tmp_path / "p")]
    assert main(model + ["--strict", str(setup["photos"] / "broken.jpg")]) == 1
    assert "broken.jpg: unreadable or corrupt image" in capsys.readouterr().err
    assert main(model) == 1
    assert "no photos given" in capsys.readouterr().err
    twins = tmp_path / "twins"
    twins.mkdir()
    for name in ("a.png", "a.jpg"):
        Image.new("RGB", (40, 30)).save(twins / name)
    assert main(model + [str(twins / "a.png"), str(twins / "a.jpg")]) == 1
    assert "would both write" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path), "--out", str(tmp_path / "p"), str(twins / "a.png")]) == 1
    assert "model.pt: model checkpoint not found" in capsys.readouterr().err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "model.pt").write_bytes(b"junk")
    assert main(["predict", "--model", str(tmp_path / "junk"), "--out", str(tmp_path / "p"), str(twins / "a.png")]) == 1
    assert "model.pt: not a PyTorch file; train one with" in capsys.readouterr().err
    assert main(model + ["--photos-from", str(tmp_path / "nope.txt")]) == 1
    assert "nope.txt: photo list not found" in capsys.readouterr().err
    assert main(model + ["--device", "gpu", str(twins / "a.png")]) == 1
    assert "device 'gpu' is not auto, cpu, cuda or cuda:N" in capsys.readouterr().err
    (tmp_path / "afile").touch()  # an output folder that cannot be made: one line, not a traceback
    out = ["--out", str(tmp_path / "afile" / "p")]
    assert main(["predict", "--model", str(setup["model_dir"]), *out, str(twins / "a.png")]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"facade-wwr predict: error: {tmp_path}/afile")
    with pytest.raises(UserError, match="unreadable"):
        predict_photos(
            load_predictor(setup["model"], "cpu"),
            [setup["photos"] / "broken.jpg"],
            tmp_path / "q",
            warnings=Warnings(strict=True),
            progress=False,
        )
    assert not (tmp_path / "q" / "broken.parquet").exists()


def test_encoding_from_the_box_matches_full_image_pasting() -> None:
    """Every RLE (encoded from its box alone) equals its mask pasted into the whole photo; boxes run over
    the photo's edges."""
    from facade_wwr.inference import paste_mask

    n, h, w = 40, 60, 90
    g = torch.Generator().manual_seed(1)
    xy = torch.rand(n, 2, generator=g) * torch.tensor([80.0, 50.0])
    boxes = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=g) * 40], 1)
    probs = torch.rand(n, 28, 28, generator=g)
    raw = RawDetections(boxes.numpy(), np.linspace(1, 0.1, n, dtype=np.float32), np.zeros(n, np.int64), probs)
    rles, areas, dense = encode_instances(raw, h, w, dense=True)
    expected = np.zeros((n, h, w), dtype=bool)
    for i in range(n):
        y0, y1, x0, x1, local = paste_mask(probs[i], boxes[i].numpy(), h, w, offset=raw.mask_offset)
        expected[i, y0:y1, x0:x1] = local
    assert len(rles) == n and (dense == expected).all() and expected.any(axis=(1, 2)).all()
    assert areas == [int(m.sum()) for m in expected]
    assert (
        mask_utils.decode([{"size": [h, w], "counts": r.encode()} for r in rles]).transpose(2, 0, 1) == expected
    ).all()


def test_a_piece_keeps_the_share_of_its_score_that_is_new() -> None:
    """A strip inside a wall found whole keeps only the score of its uncovered share; a neighbour that
    touches keeps all; another class is not discounted; what counts is the union of the higher-scored masks;
    an empty mask keeps its score."""
    h, w = 40, 60
    wall = np.zeros((h, w), bool)
    wall[5:35, 0:30] = True
    strip = np.zeros((h, w), bool)
    strip[5:35, 20:40] = True  # half of it inside the wall
    neighbour = np.zeros((h, w), bool)
    neighbour[5:35, 40:60] = True
    window = np.zeros((h, w), bool)
    window[10:15, 22:26] = True
    inside_both = np.zeros((h, w), bool)
    inside_both[5:35, 25:45] = True  # a quarter in the wall, the strip covers the rest but a quarter
    empty = np.zeros((h, w), bool)
    stack = [wall, strip, neighbour, window, inside_both, empty]
    rles = rle_masks.encode_many(np.stack(stack))
    areas = [int(m.sum()) for m in stack]
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], np.float32)
    classes = np.array([1, 1, 1, 0, 1, 1])
    out = piece_scores(scores, classes, rles, areas, h, w)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.9, 0.8 * 0.5, 0.7, 0.6, 0.5 * 0.0, 0.4], atol=1e-6)
    # the network's order decides, not the discounted one; the same in any row order
    order = np.array([5, 3, 1, 4, 0, 2])
    again = piece_scores(scores[order], classes[order], [rles[i] for i in order], [areas[i] for i in order], h, w)
    np.testing.assert_allclose(again, out[order], atol=1e-6)
    assert piece_scores(np.zeros(0, np.float32), np.zeros(0, np.int64), [], [], h, w).shape == (0,)


def test_predicted_scores_are_the_discounted_ones(setup: dict, tmp_path: Path) -> None:
    """What predict writes: the network's scores, each discounted for what its mask repeats, and sorted."""
    predictor = load_predictor(setup["model"], device="cpu", min_score=0.0)
    photos = setup["demo"][:2]
    batch = next(iter(background_batches(photos, 2, predictor.min_size, predictor.max_size)))
    predict_photos(predictor, photos, tmp_path / "pred", progress=False)
    discounted = 0
    for photo, raw in zip(batch, predictor.detect(batch)):
        written = predictions.read(tmp_path / "pred" / f"{photo.path.stem}.parquet")
        rles, areas, _ = encode_instances(raw, photo.height, photo.width)
        expected = piece_scores(raw.scores, raw.category_ids, rles, areas, photo.height, photo.width)
        assert len(raw.scores) > 0
        np.testing.assert_allclose(written.table["score"].to_numpy(), np.sort(expected)[::-1], rtol=1e-6)
        discounted += int((expected < raw.scores - 1e-6).sum())
    assert discounted > 0  # an untrained model's masks overlap: some scores do change


def test_photos_of_a_coco_file(setup: dict, tmp_path: Path) -> None:
    """--coco predicts every image of a COCO file (the workflow's val predictions for `evaluate`)."""
    from facade_wwr.coco import load_coco

    coco_path = setup["data"]["val"]
    out = tmp_path / "pred"
    assert main(["predict", "--model", str(setup["model"]), "--out", str(out), "--coco", str(coco_path), *CAP]) == 0
    names = sorted(im["file_name"] for im in load_coco(coco_path)["images"])
    assert sorted(predictions.read(p).image for p in out.glob("*.parquet")) == names


def test_large_jpeg_decoded_at_reduced_scale(tmp_path: Path) -> None:
    """libjpeg's reduced-scale decoding gives the input size, the displayed photo size and the same picture."""
    from facade_wwr.images import input_size, load_for_model, open_image

    y, x = np.mgrid[0:1200, 0:1600]
    rgb = np.dstack([x * 255 // 1600, y * 255 // 1200, (x + y) % 256]).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "big.jpg"
    Image.fromarray(rgb).save(path, exif=exif, quality=95)
    im, size = load_for_model(path, 256, 448)
    assert size == (1200, 1600) and im.size == input_size(1200, 1600, 256, 448) == (256, 341)
    reference = np.asarray(open_image(path).resize(im.size, Image.Resampling.BILINEAR), dtype=np.int16)
    assert np.abs(np.asarray(im, dtype=np.int16) - reference)[..., :2].mean() < 2.0


def test_sixteen_bit_grayscale_and_oversized_photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 16-bit grayscale PNG keeps its picture (Pillow's RGB conversion alone clips it white); a photo over
    Pillow's decompression-bomb limit is a one-line error naming it."""
    from facade_wwr.images import load_for_model, open_image

    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (32, 1))
    path = tmp_path / "gray16.png"
    Image.fromarray(ramp).save(path)
    expected = np.rint(ramp / 257.0).astype(np.int16)
    for im in (open_image(path), load_for_model(path, 32, 64)[0]):
        pixels = np.asarray(im, dtype=np.int16)
        assert pixels.shape == (32, 64, 3) and np.abs(pixels[..., 0] - expected).max() <= 1
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    with pytest.raises(UserError, match=r"gray16.png: image too large to open \(Image size \(2048 pixels\)"):
        load_for_model(path, 32, 64)
