"""facade-wwr analyze: prediction files -> building table (+ unmatched tagged points, optional overlays)."""

from __future__ import annotations

import argparse
from pathlib import Path

from facade_wwr.commands import options
from facade_wwr.errors import UserError, Warnings


def configure(p: argparse.ArgumentParser) -> None:
    options.add_predictions(p)
    p.add_argument("--out", required=True, metavar="TABLE.parquet", help="building table to write (Parquet)")
    p.add_argument("--tagged", metavar="VIA_JSON", help="VIA file whose point regions carry a tagged_id")
    p.add_argument(
        "--unmatched",
        metavar="CSV",
        help="where to list tagged points that matched no building (default: <out stem>.unmatched.csv)",
    )
    p.add_argument(
        "--tagged-scope",
        choices=("all", "inputs"),
        default="all",
        help="all: also report points on photos with no prediction file among the inputs (default); "
        "inputs: leave those to 'merge' (for runs that see one shard of the photos)",
    )
    options.add_score_threshold(p)
    p.add_argument("--overlays", metavar="DIR", help="draw masks, IDs and window percentages on each photo here")
    p.add_argument("--photos", metavar="DIR", help="folder of the photos (needed with --overlays)")
    p.add_argument(
        "--overlay-format", choices=("jpg", "png"), default="jpg", help="overlay image format (default: jpg)"
    )
    options.add_mixed_models(p)
    options.add_strict(p)


def run(args: argparse.Namespace) -> int:
    from facade_wwr import analysis, predictions, tables

    if args.overlays and not args.photos:
        raise UserError("--overlays needs --photos DIR (the folder holding the photos)")
    out = Path(args.out)
    if out.suffix.lower() != ".parquet":
        raise UserError(f"--out {out}: the building table is written as Parquet, give a .parquet path")
    from facade_wwr.fileio import refuse_overwrites
    from facade_wwr.images import IMAGE_SUFFIXES

    refuse_overwrites(
        [*args.predictions, args.tagged],
        [out, args.unmatched or tables.unmatched_path(out)],
        [(args.photos, IMAGE_SUFFIXES), *((p, (".parquet",)) for p in args.predictions)],
        [args.overlays],
    )
    warnings = Warnings(strict=args.strict)
    on_photo = None
    if args.overlays:
        Path(args.overlays).mkdir(parents=True, exist_ok=True)  # there even when no photo has predictions
        on_photo = overlay_writer(args.overlays, args.photos, args.overlay_format)
    result = analysis.analyze_files(
        predictions.files(args.predictions, warnings),
        threshold=args.score_threshold,
        tagged=args.tagged,
        tagged_scope=args.tagged_scope,
        mixed_models=args.mixed_models,
        warnings=warnings,
        on_photo=on_photo,
    )
    tables.write(out, result.table, result.info)
    if args.tagged or args.unmatched:  # an explicit --unmatched is always written (header only without points)
        tables.write_unmatched(args.unmatched or tables.unmatched_path(out), result.report)
    problem = tables.meaningless(result.table, result.info, out)
    if problem:
        warnings.warn(problem)
    print(
        f"{out}: {len(result.table)} buildings on {len(result.info.photos)} photos{tables.kept_windows(result.info)}"
        + (f", {len(result.report)} unmatched tagged points" if args.tagged else "")
    )
    return 0


def overlay_writer(folder: str, photos: str, fmt: str):
    """A callback drawing one photo's overlay right after its analysis (one photo in memory at a time)."""
    from facade_wwr import drawing
    from facade_wwr.predictions import photo_of

    def write(result) -> None:
        _, photo = photo_of(result.pred, photos, result.source)
        drawing.save(drawing.draw_analysis(photo, result), drawing.output_path(folder, result.pred.image, fmt), fmt)

    return write
