"""facade-wwr predict: photos -> one Parquet prediction file per photo (masks as COCO RLE)."""

from __future__ import annotations

import argparse

from facade_wwr.commands import options


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("photos", nargs="*", metavar="PHOTO", help="photos to predict")
    p.add_argument("--model", required=True, metavar="MODEL_DIR", help="a folder written by `facade-wwr train`")
    p.add_argument("--out", required=True, metavar="PRED_DIR", help="folder for <photo stem>.parquet files")
    p.add_argument("--photos-from", metavar="FILE", help="text file with one photo path per line (added to PHOTO)")
    p.add_argument("--coco", metavar="COCO_JSON", help="also predict every image of a COCO file (e.g. the val set)")
    p.add_argument("--batch-size", type=int, default=4, help="photos per network pass (default: 4)")
    p.add_argument(
        "--min-score",
        type=float,
        default=0.05,
        help="floor score of kept instances (default: 0.05); the real threshold is applied in analysis",
    )
    p.add_argument("--max-detections", type=int, help="instances per photo at most (default: the model's, 300)")
    p.add_argument("--npz", action="store_true", help="also write <stem>.npz with bit-packed dense masks")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--threads", type=int, default=2, help="background threads decoding photos (default: 2)")
    p.add_argument(
        "--add",
        action="store_true",
        help="add to a folder that holds this model's prediction files of other photos (refused otherwise)",
    )
    options.add_strict(p, "an unreadable photo is an error, not a warning")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    from facade_wwr.errors import UserError, Warnings

    photos = list(args.photos)
    if args.photos_from:
        from facade_wwr.inference import read_photo_list

        photos += read_photo_list(args.photos_from)
    if args.coco:
        from facade_wwr.coco import image_path, load_coco

        photos += [str(image_path(args.coco, im)) for im in load_coco(args.coco)["images"]]
    if not photos:
        raise UserError("no photos given (PHOTO arguments, --photos-from FILE or --coco FILE)")
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: must be at least 1")
    if not 0.0 <= args.min_score < 1.0:
        raise UserError(f"--min-score {args.min_score}: must be in [0, 1)")
    if args.max_detections is not None and args.max_detections < 1:
        raise UserError(f"--max-detections {args.max_detections}: must be at least 1")

    from pathlib import Path

    from facade_wwr.fileio import refuse_overwrites
    from facade_wwr.images import IMAGE_SUFFIXES

    folders = {Path(p).parent for p in photos}
    refuse_overwrites(photos, [], [(f, IMAGE_SUFFIXES) for f in folders], [args.out])

    from facade_wwr.device import amp_active, describe_device
    from facade_wwr.inference import load_predictor, predict_photos

    predictor = load_predictor(args.model, args.device, args.min_score, args.max_detections, amp=not args.no_amp)
    summary = predict_photos(
        predictor,
        photos,
        args.out,
        batch_size=args.batch_size,
        npz=args.npz,
        warnings=Warnings(strict=args.strict),
        threads=max(1, args.threads),
        progress=not args.quiet,
        add=args.add,
    )
    skipped = f", {len(summary['skipped'])} unreadable photos skipped" if summary["skipped"] else ""
    precision = ", mixed precision" if amp_active(predictor.device, predictor.amp) else ""
    print(
        f"{args.out}: {summary['written']} prediction files, {summary['instances']} instances "
        f"in {summary['seconds']:.1f} s on {describe_device(predictor.device)}{precision}{skipped}"
    )
    return 0
