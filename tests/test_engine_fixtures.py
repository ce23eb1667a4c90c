"""Small data and models shared by the engine, train and predict tests (imported by those files).

The data are the project's own synthetic facades (``facade_wwr.demo``) at a small size, converted with
``via2coco``, so every test runs on photos and COCO files made exactly as a user's would be.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from facade_wwr.coco import Source, load_coco, via_to_coco
from facade_wwr.demo import generate
from facade_wwr.engines import ModelSettings, TrainSettings, get_engine
from facade_wwr.errors import Warnings

#: the small architecture at a tiny input size: a training iteration takes about a second on 2 cores
SMALL = ModelSettings(architecture="maskrcnn_resnet18_fpn_small", weights="none", min_size=96, max_size=128)
FAST = TrainSettings(
    max_iter=2,
    ims_per_batch=2,
    optimizer="adamw",
    base_lr=1e-3,
    weight_decay=0.05,
    warmup_iters=1,
    grad_clip=10.0,
    roi_batch_size_per_image=64,
    rpn_batch_size_per_image=64,
    checkpoint_period=0,
    log_period=1,
    num_workers=0,
    device="cpu",
)


def make_data(out: Path, train: int = 4, val: int = 2, photos: int = 2, size: int = 96, seed: int = 3) -> dict:
    """Demo data in ``out`` plus ``train.json`` / ``val.json``; returns their paths."""
    generate(out / "demo", train=train, val=val, photos=photos, seed=seed, size=size)
    paths = {}
    for split in ("train", "val"):
        paths[split] = out / f"{split}.json"
        via_to_coco(
            [Source(str(out / "demo" / split / "via_region_data.json"), str(out / "demo" / split))],
            paths[split],
            warnings=Warnings(quiet=True),
        )
    paths["photos"] = sorted((out / "demo" / "photos").glob("*.jpg"))
    return paths


def with_classes(coco_path: Path, out: Path, classes: list[str]) -> Path:
    """A copy of a COCO file with other class names (and possibly more classes than annotated)."""
    coco = load_coco(coco_path)
    coco["categories"] = [{"id": i, "name": n, "supercategory": "facade"} for i, n in enumerate(classes)]
    for im in coco["images"]:
        im["path"] = str((coco_path.parent / im["path"]).resolve())
    out.write_text(json.dumps(coco))
    return out


def untrained_model(out_dir: Path, classes: list[str], model: ModelSettings = SMALL, seed: int = 0) -> Path:
    """A ``model.pt`` of a randomly initialised network, written the way ``train`` writes it."""
    from facade_wwr.training import checkpoint_header, prepare_settings, save_model

    engine = get_engine(model.engine)
    model = prepare_settings(engine, model)
    torch.manual_seed(seed)
    module = engine.build(model, FAST, classes)
    path = out_dir / "model.pt"
    out_dir.mkdir(parents=True, exist_ok=True)
    save_model(path, checkpoint_header(engine.name, model, FAST, classes), module, 0)
    return path


def test_make_data(tmp_path: Path) -> None:
    paths = make_data(tmp_path)
    train = load_coco(paths["train"])
    assert [c["name"] for c in train["categories"]] == ["window", "building"]
    assert len(train["images"]) == 4 and train["annotations"]
    assert len(paths["photos"]) == 2
