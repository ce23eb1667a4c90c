"""facade-wwr download-weights: fetch an engine's official pretrained checkpoint, verify it, cache it."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="YAML", help="take engine, architecture, kind and folder from its model section")
    p.add_argument("--engine", choices=("torchvision", "detectron2"), help="default: torchvision")
    p.add_argument("--architecture", help="default: maskrcnn_resnet50_fpn_v2 (torchvision)")
    p.add_argument("--kind", choices=("coco", "imagenet"), help="coco (default) or imagenet (torchvision backbones)")
    p.add_argument("--dest", metavar="DIR", help="weights folder (default: resources/weights)")
    p.add_argument("--sha256", default="", help="pin the expected sha256 (or a prefix of it)")
    p.add_argument("--force", action="store_true", help="download again even when a verified copy is cached")


def run(args: argparse.Namespace) -> int:
    from facade_wwr import weights
    from facade_wwr.settings import load_settings

    overrides = [
        ("model", key, value)
        for key, value in (("engine", args.engine), ("architecture", args.architecture), ("weights_dir", args.dest))
        if value is not None
    ]
    if args.engine == "detectron2" and args.architecture is None:
        overrides.append(("model", "architecture", "COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x.yaml"))
    model, _ = load_settings(args.config, overrides)
    kind = args.kind or (model.weights if model.weights in weights.KINDS else None)
    if kind is None:
        if args.config:
            print(f"{args.config}: model.weights is {model.weights!r}: nothing to download")
            return 0
        kind = "coco"
    entry = weights.catalogue(model.engine, model.architecture, kind)
    path, fetched = weights.download(entry, model.weights_dir, sha256=args.sha256, force=args.force)
    state = "downloaded and verified" if fetched else "already cached, verified"
    print(f"{path}: {state} ({entry.engine} {entry.architecture} {entry.kind})")
    return 0
