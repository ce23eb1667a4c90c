"""facade-wwr to-via: prediction files -> a VIA 2 file of polygons to correct (pre-annotation)."""

from __future__ import annotations

import argparse

from facade_wwr.commands import options
from facade_wwr.errors import Warnings


def configure(p: argparse.ArgumentParser) -> None:
    options.add_predictions(p)
    p.add_argument("--out", required=True, metavar="VIA_JSON", help="VIA file to write")
    options.add_score_threshold(p, default=0.5)
    p.add_argument(
        "--tolerance",
        type=options.pixels,
        default=1.0,
        metavar="PX",
        help="simplify outlines within PX pixels; 0 keeps every corner (default: 1.0)",
    )
    p.add_argument(
        "--min-iou",
        type=options.fraction,
        default=0.9,
        metavar="F",
        help="simplify a mask more finely (0.75 px, then not at all) where its simplified polygon would "
        "overlap its full outline with IoU below F: tiny windows (default: 0.9)",
    )
    p.add_argument("--class-attribute", default="class", help="VIA region attribute holding the class (default: class)")
    p.add_argument(
        "--class-style",
        choices=("checkbox", "radio"),
        default="checkbox",
        help='checkbox writes {"window": true}, radio (also for dropdown) writes "window" (default: checkbox)',
    )
    p.add_argument("--tagged", metavar="VIA_JSON", help="VIA file whose tagged_id points are carried over")
    p.add_argument(
        "--photos",
        metavar="DIR",
        help="folder of the photos: their byte sizes make the keys VIA matches on import (without it: -1)",
    )
    p.add_argument(
        "--project",
        action="store_true",
        help="write a VIA 2 project (Project > Load) that also defines the class, score and tagged_id attributes",
    )
    options.add_mixed_models(p)
    options.add_strict(p)
    p.add_argument("--quiet", action="store_true", help="do not print the summary")


def run(args: argparse.Namespace) -> int:
    from facade_wwr import predictions
    from facade_wwr.to_via import Options, write_via

    options = Options(
        score_threshold=args.score_threshold,
        tolerance=args.tolerance,
        min_iou=args.min_iou,
        class_attribute=args.class_attribute,
        class_style=args.class_style,
        mixed_models=args.mixed_models,
    )
    from facade_wwr.fileio import refuse_overwrites
    from facade_wwr.images import IMAGE_SUFFIXES

    refuse_overwrites(
        [*args.predictions, args.tagged],
        [args.out],
        [(args.photos, IMAGE_SUFFIXES), *((p, (".parquet",)) for p in args.predictions)],
    )
    warnings = Warnings(strict=args.strict)
    summary = write_via(
        predictions.files(args.predictions, warnings),
        args.out,
        options,
        tagged=args.tagged,
        photos=args.photos,
        project=args.project,
        warnings=warnings,
    )
    if not args.quiet:
        print(summary.format())
    return 0
