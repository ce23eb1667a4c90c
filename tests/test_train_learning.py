"""Learning is real: the small variant, trained from scratch on demo data on the CPU for a few minutes,
reaches a val mask AP50 far above the same network untrained.

The recipe is DESIGN.md's: 256 px, batch 4, AdamW 1e-3 (weight decay 0.05), 50 warm-up iterations and a
cosine decay over the run, gradient clipping at 10, 128 sampled anchors and ROIs per image. 100
iterations take about 3.5 minutes on 2 quiet cores (150 iterations reached mask AP50 0.82).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from facade_wwr.coco import Source, via_to_coco
from facade_wwr.demo import generate
from facade_wwr.engines import ModelSettings, TrainSettings, get_engine
from facade_wwr.errors import Warnings
from facade_wwr.evaluation_coco import evaluate
from facade_wwr.inference import pick_device, predictor_from_module
from facade_wwr.training import prepare_settings, train

pytestmark = pytest.mark.slow

MODEL = ModelSettings(architecture="maskrcnn_resnet18_fpn_small", weights="none")
RECIPE = TrainSettings(
    max_iter=100,
    ims_per_batch=4,
    optimizer="adamw",
    base_lr=1e-3,
    weight_decay=0.05,
    warmup_iters=50,
    lr_schedule="cosine",
    grad_clip=10.0,
    roi_batch_size_per_image=128,
    rpn_batch_size_per_image=128,
    checkpoint_period=0,
    log_period=10,
    num_workers=0,
    seed=42,
    device="cpu",
)


def _untrained_ap50(val: Path) -> float:
    """The very network the run starts from (same seed, same settings), evaluated the same way."""
    engine = get_engine("torchvision")
    model = prepare_settings(engine, MODEL)
    torch.manual_seed(RECIPE.seed)
    module = engine.build(model, RECIPE, ["window", "building"]).eval()
    predictor = predictor_from_module(engine, module, ["window", "building"], model, pick_device("cpu"), "untrained")
    predictor.configure(0.05, model.detections_per_image)
    return evaluate(predictor, val, batch_size=4)["segm"]["AP50"]


def test_small_variant_learns_on_demo_data(tmp_path: Path) -> None:
    generate(tmp_path / "demo", train=60, val=20, photos=0, seed=0)
    coco = {}
    for split in ("train", "val"):
        coco[split] = tmp_path / f"{split}.json"
        via_to_coco(
            [Source(str(tmp_path / "demo" / split / "via_region_data.json"), str(tmp_path / "demo" / split))],
            coco[split],
            warnings=Warnings(quiet=True),
        )
    doc = train(coco["train"], coco["val"], tmp_path / "model", MODEL, RECIPE)
    trained = doc["segm"]["AP50"]
    untrained = _untrained_ap50(coco["val"])
    print(f"val mask AP50: untrained {untrained:.3f}, after {RECIPE.max_iter} iterations {trained:.3f}")
    print(f"per class: {json.dumps(doc['segm']['per_class'])}")
    assert untrained < 0.1
    assert trained >= 0.5
    assert trained > untrained + 0.4
    assert doc["segm"]["per_class"]["window"]["AP50"] >= 0.5
