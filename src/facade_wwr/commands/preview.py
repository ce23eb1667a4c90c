"""facade-wwr preview: ground-truth masks and class names drawn on sample images of a COCO file."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--coco", required=True, metavar="COCO.json", help="COCO instances file (e.g. from via2coco)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the preview images")
    p.add_argument("-n", type=int, default=8, help="number of images to draw (default: 8; 0 = all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the (deterministic) sample (default: 0)")
    p.add_argument("--format", choices=("jpg", "png"), default="jpg", help="image format (default: jpg)")


def run(args: argparse.Namespace) -> int:
    from facade_wwr import drawing
    from facade_wwr.errors import UserError

    if args.n < 0:
        raise UserError(f"-n {args.n}: give a number of images >= 0")
    from facade_wwr.coco import image_path, load_coco
    from facade_wwr.fileio import refuse_overwrites
    from facade_wwr.images import IMAGE_SUFFIXES

    photos = [image_path(args.coco, im) for im in load_coco(args.coco)["images"]]
    folders = {p.parent for p in photos}
    refuse_overwrites([args.coco, *photos], [], [(f, IMAGE_SUFFIXES) for f in folders], [args.out])
    written = drawing.write_previews(args.coco, args.out, args.n, args.seed, args.format)
    print(f"{args.out}: {len(written)} preview images")
    return 0
