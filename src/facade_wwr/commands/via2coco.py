"""facade-wwr via2coco: VIA annotation files -> one COCO instances file (+ .summary.json)."""

from __future__ import annotations

import argparse

from facade_wwr import DEFAULT_CLASSES
from facade_wwr.commands import options
from facade_wwr.errors import UserError, Warnings


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--via",
        action="append",
        required=True,
        metavar="VIA_JSON",
        help="VIA export or project file; repeat with --images for several sources",
    )
    p.add_argument(
        "--images",
        action="append",
        required=True,
        metavar="DIR",
        help="folder with the photos of the matching --via file",
    )
    p.add_argument("--out", required=True, metavar="COCO_JSON", help="COCO file to write (summary beside it)")
    p.add_argument("--class-attribute", default="class", help="VIA region attribute holding the class (default: class)")
    p.add_argument(
        "--classes",
        default=",".join(DEFAULT_CLASSES),
        help="class names in category-id order (default: window,building)",
    )
    p.add_argument("--keep-empty", action="store_true", help="keep images without annotations as negatives")
    options.add_strict(p)
    p.add_argument("--quiet", action="store_true", help="do not print the summary")


def run(args: argparse.Namespace) -> int:
    from facade_wwr.coco import Source, format_summary, via_to_coco

    if len(args.via) != len(args.images):
        raise UserError(
            f"{len(args.via)} --via files but {len(args.images)} --images folders: give one folder per file"
        )
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    if len(classes) < 1 or len(set(classes)) != len(classes):
        raise UserError(f"--classes {args.classes!r}: give distinct, comma-separated class names")
    from facade_wwr.coco import summary_path
    from facade_wwr.fileio import refuse_overwrites
    from facade_wwr.images import IMAGE_SUFFIXES

    refuse_overwrites(args.via, [args.out, summary_path(args.out)], [(i, IMAGE_SUFFIXES) for i in args.images])
    summary = via_to_coco(
        [Source(v, i) for v, i in zip(args.via, args.images)],
        args.out,
        classes=classes,
        class_attribute=args.class_attribute,
        keep_empty=args.keep_empty,
        warnings=Warnings(strict=args.strict),
    )
    if not args.quiet:
        print(format_summary(summary))
    return 0
