"""The detectron2 engine: same interface, same files. Skipped where detectron2 is not installed.

To run these: build detectron2 from its repository into an environment with torch 2.14.1 and
torchvision 0.29.1 (``pip install --no-build-isolation 'git+https://github.com/facebookresearch/detectron2.git'``,
with ``setuptools<81``), install facade-wwr there, then ``pytest tests/test_detectron2.py``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

pytest.importorskip("detectron2", reason="detectron2 is not installed (see the README's Engines section)")

from facade_wwr import device, inference, predictions  # noqa: E402
from facade_wwr.cli import main  # noqa: E402
from facade_wwr.engines import get_engine  # noqa: E402
from facade_wwr.errors import UserError  # noqa: E402
from facade_wwr.settings import ModelSettings  # noqa: E402
from tests.helpers import FAST, make_data  # noqa: E402

pytestmark = pytest.mark.detectron2

ZOO = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"
D2 = ModelSettings(engine="detectron2", architecture=ZOO, weights="none", min_size=96, max_size=128)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return make_data(tmp_path_factory.mktemp("d2_data"))


def _train(data: dict, out: Path, max_iter: int) -> None:
    args = ["train", "--train", str(data["train"]), "--val", str(data["val"]), "--out", str(out)]
    args += ["--engine", "detectron2", "--architecture", ZOO, "--weights", "none", "--device", "cpu"]
    args += ["--max-iter", str(max_iter)]
    for s in (
        "model.min_size=96",
        "model.max_size=128",
        "model.detections_per_image=50",
        "train.roi_batch_size_per_image=64",
        "train.rpn_batch_size_per_image=64",
        "train.optimizer=adamw",
        "train.base_lr=0.0001",
        "train.warmup_iters=1",
        "train.log_period=1",
        "train.num_workers=0",
    ):
        args += ["--set", s]
    assert main(args) == 0


@pytest.fixture(scope="module")
def trained(data: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("d2") / "model"
    _train(data, out, max_iter=2)
    return out


def test_heads_follow_the_classes() -> None:
    engine = get_engine("detectron2")
    for classes in (["window", "building"], ["window", "building", "door"]):
        net = engine.build(D2, FAST, classes)
        assert net.roi_heads.box_predictor.cls_score.out_features == len(classes) + 1
        assert net.roi_heads.mask_head.predictor.out_channels == len(classes)
    assert engine.default_sizes(ZOO) == (800, 1333)
    with pytest.raises(UserError, match="not a detectron2 model-zoo config"):
        engine.build(dataclasses.replace(D2, architecture="nope/none.yaml"), FAST, ["a"])
    with pytest.raises(UserError, match="train.roi_balanced_classes: true is for the torchvision engine"):
        engine.build(D2, dataclasses.replace(FAST, roi_balanced_classes=True), ["a"])


def test_backbone_normalises_when_trained_from_scratch(data: dict) -> None:
    """weights: none trains BatchNorm (the zoo's FrozenBN of a random init normalises nothing: the first loss
    was ~200); pretrained weights keep FrozenBN unless model.freeze_batchnorm is false."""
    from detectron2.layers import FrozenBatchNorm2d

    from facade_wwr.training import CocoTrainSet

    engine = get_engine("detectron2")

    def norms(settings: ModelSettings) -> set[type]:
        net = engine.build(settings, FAST, ["window", "building"])
        return {type(m) for m in net.backbone.bottom_up.modules() if "Norm" in type(m).__name__}

    pretrained = dataclasses.replace(D2, weights="resources/weights/some.pth")
    assert norms(D2) == {torch.nn.BatchNorm2d}
    assert norms(pretrained) == {FrozenBatchNorm2d}
    # the stem and the first stage stay frozen (FREEZE_AT 2), the later stages train their BatchNorm
    assert norms(dataclasses.replace(pretrained, freeze_batchnorm=False)) == {torch.nn.BatchNorm2d, FrozenBatchNorm2d}

    torch.manual_seed(0)
    net = engine.build(D2, FAST, ["window", "building"]).train()
    samples = CocoTrainSet(data["train"], 96, 128)
    losses = engine.losses(net, [samples[(0, False)], samples[(1, False)]], torch.device("cpu"))
    assert sum(v.item() for v in losses.values()) < 10


def test_same_files_as_torchvision(trained: Path) -> None:
    names = {p.name for p in trained.iterdir()}
    assert {"model.pt", "last.pt", "settings.json", "metrics.jsonl", "metrics.json", "loss.png"} <= names
    ckpt = torch.load(trained / "model.pt", map_location="cpu", weights_only=True)
    assert ckpt["engine"] == "detectron2" and ckpt["architecture"] == ZOO
    lines = [json.loads(x) for x in (trained / "metrics.jsonl").read_text().splitlines()]
    assert {"loss_cls", "loss_box_reg", "loss_mask", "loss_rpn_cls", "loss_rpn_loc"} <= set(lines[-1])
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["engine"] == "detectron2" and set(metrics["segm"]["per_class"]) == {"window", "building"}
    assert 0.0 <= metrics["segm"]["AP50"] <= 1.0


def test_predict_writes_the_contract(trained: Path, data: dict, tmp_path: Path) -> None:
    out = tmp_path / "pred"
    assert main(["predict", "--model", str(trained), "--out", str(out), "--npz", *map(str, data["photos"])]) == 0
    for photo in data["photos"]:
        p = predictions.read(out / f"{photo.stem}.parquet")
        assert (p.engine, p.width, p.height, len(p.model)) == ("detectron2", 96, 96, 12)
        t = p.table
        assert len(t) <= 50 and (t["score"] >= 0.05).all()
        assert set(t["category"]) <= {"window", "building"}
        for counts, area in zip(t["mask_rle"], t["mask_area"]):
            assert int(mask_utils.area({"size": [96, 96], "counts": counts.encode()})) == area
        assert predictions.read_dense(out / f"{photo.stem}.npz").shape == (len(t), 96, 96)


def test_mixed_precision(data: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """detectron2's network under the autocast that CUDA runs it in: training with loss scaling (in bfloat16,
    as tests/test_train.py does for torchvision) and prediction in float16 (the CPU's slow float16 kernels)."""
    monkeypatch.setattr(device, "AMP_DTYPES", {"cuda": torch.float16, "cpu": torch.bfloat16})
    model = tmp_path / "model"
    _train(data, model, max_iter=2)
    assert json.loads((model / "settings.json").read_text())["amp"] is True
    assert torch.load(model / "last.pt", weights_only=True)["scaler"]["scale"] > 0

    monkeypatch.setattr(device, "AMP_DTYPES", {"cuda": torch.float16, "cpu": torch.float16})
    predictor = inference.load_predictor(model, device="cpu", min_score=0.0, amp=True)
    raws = predictor.detect([inference.prepare(photo, 96, 128) for photo in data["photos"]])
    assert sum(len(r.scores) for r in raws) > 0
    for raw in raws:
        assert raw.mask_probs.dtype == torch.float32 and torch.isfinite(raw.mask_probs).all()
        assert np.isfinite(raw.boxes).all() and ((raw.scores >= 0) & (raw.scores <= 1)).all()


def test_model_zoo_pickle_goes_to_detectron2s_checkpointer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model-zoo .pkl (a pickle) is handed to detectron2's own checkpointer; facade-wwr never unpickles."""
    from detectron2.checkpoint import DetectionCheckpointer

    loaded = []
    monkeypatch.setattr(DetectionCheckpointer, "load", lambda self, path, *a, **k: loaded.append(path) or {})
    path = tmp_path / "model_final_test.pkl"
    path.write_bytes(b"not read by facade-wwr")
    settings = dataclasses.replace(D2, weights=str(path))
    engine = get_engine("detectron2")
    net = engine.build(settings, FAST, ["window", "building"])
    notes = engine.load_pretrained(net, settings, ["window", "building"])
    assert loaded == [str(path)] and "detectron2's checkpointer" in notes[0]


def test_a_mask_cut_as_detectron2_cuts_its_targets_pastes_back_onto_its_pixels() -> None:
    """detectron2's mask loss cuts targets with ``BitMasks.crop_and_resize`` (RoIAlign ``aligned=True``);
    the engine's ``mask_shift`` 0 pastes such cells back onto the rectangles they were cut from."""
    from detectron2.structures import BitMasks

    from facade_wwr.engines import RawDetections

    h, w = 80, 120
    rng = np.random.default_rng(0)
    ious = []
    for _ in range(40):
        bw, bh = rng.integers(3, 40, size=2)
        x, y = rng.integers(0, w - bw), rng.integers(0, h - bh)
        mask = torch.zeros((1, h, w), dtype=torch.bool)
        mask[0, y : y + bh, x : x + bw] = True
        box = torch.tensor([[x, y, x + bw, y + bh]], dtype=torch.float32)
        cells = BitMasks(mask).crop_and_resize(box, 28).float()
        raw = RawDetections.from_network(
            box, torch.ones(1), torch.zeros(1, dtype=torch.int64), cells, (h, w), (h, w), mask_shift=0.0
        )
        y0, y1, x0, x1, local = inference.paste_mask(raw.mask_probs[0], raw.boxes[0], h, w, offset=raw.mask_offset)
        pasted = np.zeros((h, w), dtype=bool)
        pasted[y0:y1, x0:x1] = local
        truth = mask[0].numpy()
        ious.append((pasted & truth).sum() / (pasted | truth).sum())
    assert min(ious) > 0.9 and np.mean(ious) > 0.97
