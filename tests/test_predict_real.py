"""The real data set through the real architecture: a short CPU run of train, evaluation and predict.

maskrcnn_resnet50_fpn_v2 from random weights at a reduced input size trains for two iterations (the
figures are meaningless; the point is that real photos, real polygons and the real network go through
every step), is evaluated on val by pycocotools, then predicts every real val photo. Its prediction
files must load with pandas, and their RLE masks must decode with pycocotools to the stated areas.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from pycocotools import mask as mask_utils

from facade_wwr.cli import main
from facade_wwr.images import image_size, list_images

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def test_real_architecture_train_evaluate_predict(
    real_data: Path, real_coco: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model_dir = tmp_path / "model"
    args = ["train", "--train", str(real_coco["train"]), "--val", str(real_coco["val"]), "--out", str(model_dir)]
    args += ["--architecture", "maskrcnn_resnet50_fpn_v2", "--weights", "none", "--max-iter", "2", "--device", "cpu"]
    for setting in (
        "model.min_size=256",
        "model.max_size=352",
        "model.detections_per_image=100",
        "train.ims_per_batch=1",
        "train.roi_batch_size_per_image=64",
        "train.rpn_batch_size_per_image=64",
        "train.num_workers=0",
        "train.log_period=1",
    ):
        args += ["--set", setting]
    assert main(args) == 0
    assert "mask AP" in capsys.readouterr().out

    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["architecture"] == "maskrcnn_resnet50_fpn_v2" and metrics["classes"] == ["window", "building"]
    final = metrics["history"][-1]
    assert final["images"] == 1  # val has one annotated photo
    for kind in ("bbox", "segm"):
        assert 0.0 <= metrics[kind]["AP50"] <= 1.0
    ckpt = torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True)
    assert ckpt["classes"] == ["window", "building"] and ckpt["iteration"] == 2
    lines = (model_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == [1, 2]

    photos = list_images(real_data / "val")
    assert len(photos) >= 2
    out = tmp_path / "pred"
    args = ["predict", "--model", str(model_dir), "--out", str(out), "--batch-size", "2", "--max-detections", "20"]
    assert main(args + [str(p) for p in photos]) == 0
    capsys.readouterr()
    instances = 0
    for photo in photos:
        path = out / f"{photo.stem}.parquet"
        table = pd.read_parquet(path)
        meta = {k.decode(): v.decode() for k, v in pq.read_schema(path).metadata.items() if not k.startswith(b"pandas")}
        width, height = image_size(photo)
        assert (int(meta["image_width"]), int(meta["image_height"])) == (width, height)
        assert meta["engine"] == "torchvision" and len(meta["model"]) == 12
        assert (table["image"] == photo.name).all()
        rles = [{"size": [height, width], "counts": c.encode()} for c in table["mask_rle"]]
        if rles:
            assert mask_utils.area(rles).tolist() == table["mask_area"].tolist()
            decoded = mask_utils.decode(rles[:5])
            assert decoded.shape == (height, width, min(5, len(rles)))
            assert decoded.reshape(-1, decoded.shape[-1]).sum(0).tolist() == table["mask_area"].tolist()[:5]
        assert (np.diff(table["score"].to_numpy()) <= 0).all()
        instances += len(table)
    assert instances > 0
