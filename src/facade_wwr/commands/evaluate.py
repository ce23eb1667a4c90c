"""facade-wwr evaluate: predicted window percentages against annotated ground truth (JSON + scatter plot)."""

from __future__ import annotations

import argparse

from facade_wwr.commands import options
from facade_wwr.errors import Warnings


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--coco", required=True, metavar="GT.json", help="COCO file of annotated photos (ground truth)")
    p.add_argument("--pred-dir", required=True, metavar="DIR", help="folder of <photo stem>.parquet prediction files")
    p.add_argument("--out", required=True, metavar="METRICS.json", help="metrics to write")
    p.add_argument("--plot", metavar="SCATTER.png", help="scatter plot of predicted vs true window percentage")
    options.add_score_threshold(p)
    p.add_argument(
        "--iou-threshold", type=float, default=0.5, help="mask IoU needed to match two buildings (default: 0.5)"
    )
    options.add_mixed_models(p)
    options.add_strict(p)


def run(args: argparse.Namespace) -> int:
    from facade_wwr import wwr_evaluation
    from facade_wwr.errors import UserError
    from facade_wwr.fileio import refuse_overwrites, write_json

    if not 0.0 < args.iou_threshold <= 1.0:
        raise UserError(f"--iou-threshold {args.iou_threshold}: give a number in (0, 1]")
    refuse_overwrites([args.coco], [args.out, args.plot], [(args.pred_dir, (".parquet",))])
    warnings = Warnings(strict=args.strict)
    metrics, pairs = wwr_evaluation.evaluate(
        args.coco,
        args.pred_dir,
        args.score_threshold,
        args.iou_threshold,
        warnings,
        mixed_models=args.mixed_models,
    )
    if args.plot:
        wwr_evaluation.plot(pairs, metrics, args.plot)
    write_json(args.out, metrics)
    print(wwr_evaluation.format_summary(metrics))
    problem = wwr_evaluation.found_nothing(metrics, args.out)
    if problem:
        warnings.warn(problem)
    return 0
