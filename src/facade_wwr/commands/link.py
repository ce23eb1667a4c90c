"""facade-wwr link: prediction files + footprints + camera poses -> link table (per photo, building, wall)."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from facade_wwr.commands import options
from facade_wwr.errors import UserError, Warnings
from facade_wwr.geo_settings import GeoSettings, option_name


def _geo_option(p: argparse.ArgumentParser, f) -> None:
    meta, default = f.metadata, f.default
    unit = f" {meta['unit']}" if meta["unit"] else ""
    shown = "none" if default is None else f"{default:g}{unit}" if isinstance(default, float) else default
    help_text = f"{meta['help']} (geo.{f.name}; default: {shown})"
    if meta["low"] is None:
        p.add_argument(option_name(f.name), dest=f.name, default=default, metavar="NAME", help=help_text)
        return
    kind = options.within(meta["low"], meta["high"], meta["unit"])
    p.add_argument(option_name(f.name), dest=f.name, type=kind, default=default, metavar="X", help=help_text)


def configure(p: argparse.ArgumentParser) -> None:
    options.add_predictions(p)
    p.add_argument(
        "--footprints", required=True, metavar="FILE", help="building footprints (any format geopandas reads)"
    )
    p.add_argument(
        "--poses",
        action="append",
        metavar="exif|FILE",
        help="camera pose source, repeatable, the first that has a photo wins: exif (needs --photos), a CSV or "
        "Parquet table (file_name, lat, lon, heading[, pitch, hfov, camera_height]) or Mapillary API v4 JSON "
        "(default: exif)",
    )
    p.add_argument("--out", required=True, metavar="LINKS.parquet", help="link table to write (Parquet)")
    p.add_argument("--photos", metavar="DIR", help="folder of the photos (for exif poses and overlays)")
    p.add_argument(
        "--overlays", metavar="DIR", help="draw the rendered footprint outlines and IDs over each photo here"
    )
    p.add_argument(
        "--overlay-format", choices=("jpg", "png"), default="jpg", help="overlay image format (default: jpg)"
    )
    options.add_score_threshold(p)
    p.add_argument(
        "--no-refine", action="store_true", help="link at the poses as given (only their agreement is measured)"
    )
    for f in fields(GeoSettings):
        _geo_option(p, f)
    options.add_strict(p)
    p.add_argument("--quiet", action="store_true", help="do not print the summary")


def run(args: argparse.Namespace) -> int:
    from facade_wwr import link, link_tables, predictions
    from facade_wwr.fileio import refuse_overwrites
    from facade_wwr.footprints import read_footprints, search_box
    from facade_wwr.images import IMAGE_SUFFIXES
    from facade_wwr.poses import EXIF, NotPinhole, PoseSources

    out = Path(args.out)
    if out.suffix.lower() != ".parquet":
        raise UserError(f"--out {out}: the link table is written as Parquet, give a .parquet path")
    if args.overlays and not args.photos:
        raise UserError("--overlays needs --photos DIR (the folder holding the photos)")
    settings = GeoSettings(**{f.name: getattr(args, f.name) for f in fields(GeoSettings)}).check()
    sources = args.poses or [EXIF]
    refuse_overwrites(
        [*args.predictions, args.footprints, *(s for s in sources if s != EXIF)],
        [out],
        [(args.photos, IMAGE_SUFFIXES), *((p, (".parquet",)) for p in args.predictions)],
        [args.overlays],
    )
    warnings = Warnings(strict=args.strict)
    poses = PoseSources.of(sources, args.photos, settings.declination, warnings)
    photos: list[tuple[Path, predictions.Predictions, object, str | None]] = []
    seen: dict[str, str] = {}
    for path in predictions.files(args.predictions, warnings):
        pred = predictions.read(path)
        if pred.image in seen:
            raise UserError(
                f"{path}: photo {pred.image} already has a prediction file among the inputs ({seen[pred.image]})"
            )
        seen[pred.image] = str(path)
        try:
            pose, why = poses.pose(pred.image, pred.width, pred.height)
        except NotPinhole as e:
            warnings.warn(f"{e}; photo {pred.image} skipped")
            pose, why = None, f"not pinhole: {e}"
        photos.append((path, pred, pose, why))
    radius = settings.max_distance + settings.gps_error
    boxes = [search_box(pose.lat, pose.lon, radius) for _, _, pose, _ in photos if pose is not None]
    footprints = read_footprints(args.footprints, settings, warnings, boxes=boxes or [(0.0, 0.0, 0.0, 0.0)])
    if args.overlays:
        Path(args.overlays).mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    counts = {"photos": 0, "linked": 0, "no_pose": 0, "not_aligned": 0}
    for path, pred, pose, why in photos:
        result = link.link_photo(
            pred, path, pose, footprints, settings, args.score_threshold, warnings, not args.no_refine, why
        )
        rows += result.rows
        counts["photos"] += 1
        counts["no_pose"] += pose is None
        counts["not_aligned"] += result.status == link_tables.NOT_ALIGNED
        counts["linked"] += len({r["id"] for r in result.rows if r["status"] == link_tables.LINKED})
        if args.overlays and result.camera is not None and pose is not None:
            draw_overlay(result, pose, pred, path, args)
    table = link_tables.table(rows)
    meta = {
        "photos": json.dumps(sorted(pred.image for _, pred, _, _ in photos), ensure_ascii=False),
        "footprints": str(args.footprints),
        "poses": json.dumps(sources),
        "score_threshold": repr(float(args.score_threshold)),
        "refined": json.dumps(not args.no_refine),
        "geo": json.dumps({f.name: getattr(settings, f.name) for f in fields(GeoSettings)}, ensure_ascii=False),
    }
    link_tables.write(out, table, meta)
    if not args.quiet:
        buildings = len({(r["file_name"], r["id"]) for r in rows})
        print(
            f"{out}: {len(table)} rows; {counts['linked']} of {buildings} buildings on {counts['photos']} photos "
            f"linked to a footprint ({counts['no_pose']} photos without a pose, {counts['not_aligned']} not aligned)"
        )
    return 0


def draw_overlay(result, pose, pred, source, args) -> None:
    from facade_wwr import drawing, link
    from facade_wwr.predictions import photo_of

    _, photo = photo_of(pred, args.photos, source)
    footprint, wall = link.overlay_labels(result)
    image = drawing.draw_links(
        photo,
        footprint,
        wall,
        result.scene.ids,
        result.instances.building_rles,
        link.building_labels(result),
        {link_.footprint for link_ in result.links if link_.footprint >= 0},
        link.caption(result, pose),
    )
    drawing.save(image, drawing.output_path(args.overlays, pred.image, args.overlay_format), args.overlay_format)
