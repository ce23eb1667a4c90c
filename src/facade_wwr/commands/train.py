"""facade-wwr train: train a Mask R-CNN on COCO files, evaluate it on val, write MODEL_DIR."""

from __future__ import annotations

import argparse
from pathlib import Path

from facade_wwr.commands import options


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train", required=True, metavar="TRAIN_JSON", help="COCO file to train on (from via2coco)")
    p.add_argument("--val", metavar="VAL_JSON", help="COCO file to evaluate on (box and mask AP by pycocotools)")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="folder for model.pt, metrics and plots")
    p.add_argument(
        "--config",
        action="append",
        metavar="YAML",
        help="workflow config file: its model and train sections are used (repeatable: later files override "
        "earlier ones key by key)",
    )
    p.add_argument("--max-iter", type=int, help="training iterations (train.max_iter)")
    p.add_argument("--engine", choices=("torchvision", "detectron2"), help="model.engine")
    p.add_argument("--architecture", help="model.architecture")
    p.add_argument("--weights", help="model.weights: coco, imagenet, none or a checkpoint path")
    p.add_argument("--device", help="train.device: auto, cpu, cuda or cuda:N")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override any setting, e.g. --set train.base_lr=0.001 (repeatable)",
    )
    p.add_argument("--restart", action="store_true", help="ignore MODEL_DIR/last.pt and start from scratch")
    options.add_strict(p)


def run(args: argparse.Namespace) -> int:
    from facade_wwr.errors import Warnings
    from facade_wwr.settings import load_settings, parse_assignment

    overrides = [parse_assignment(a) for a in args.set]
    named = {
        ("train", "max_iter"): args.max_iter,
        ("model", "engine"): args.engine,
        ("model", "architecture"): args.architecture,
        ("model", "weights"): args.weights,
        ("train", "device"): args.device,
    }
    overrides += [(section, key, value) for (section, key), value in named.items() if value is not None]
    model, train = load_settings(args.config, overrides)
    from facade_wwr.fileio import refuse_overwrites
    from facade_wwr.training import OUTPUT_FILES

    start = model.weights if model.weights not in ("coco", "imagenet", "none") else None  # a checkpoint path
    refuse_overwrites([args.train, args.val, start, *(args.config or [])], [Path(args.out) / f for f in OUTPUT_FILES])

    from facade_wwr.coco_metrics import format_metrics, weak_model
    from facade_wwr.training import train as run_training

    warnings = Warnings(strict=args.strict)
    doc = run_training(args.train, args.val, args.out, model, train, restart=args.restart, warnings=warnings)
    if doc["segm"] is not None:
        print(f"{args.out}: {format_metrics(doc)}")
        problem = weak_model(doc, args.out)
        if problem:
            warnings.warn(problem)
    else:
        print(f"{args.out}: trained {doc['iteration']} iterations (no evaluation: no --val annotations)")
    return 0
