"""facade-wwr demo-city: write a synthetic neighbourhood (footprints, posed photos, VIA exports, true WWR)."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", metavar="OUT", help="folder to write (an earlier demo city there is replaced)")
    p.add_argument(
        "--seed", type=int, default=0, metavar="S", help="random seed; same arguments, same bytes (default: 0)"
    )
    p.add_argument("--blocks", type=int, default=4, metavar="N", help="city blocks on the street grid (default: 4)")
    p.add_argument("--train", type=int, default=60, metavar="N", help="annotated training photos (default: 60)")
    p.add_argument("--val", type=int, default=20, metavar="M", help="annotated validation photos (default: 20)")
    p.add_argument("--photos", type=int, default=10, metavar="K", help="photos to analyse (default: 10)")
    p.add_argument("--size", default="384x288", metavar="WxH", help="photo size in pixels (default: 384x288)")
    p.add_argument(
        "--origin", default="35.63,139.74", metavar="LAT,LON", help="WGS84 centre of the city (default: 35.63,139.74)"
    )
    p.add_argument(
        "--pose-noise",
        default="0,0",
        metavar="METRES,DEGREES",
        help="EXIF position (per axis) and heading standard deviations; poses.csv keeps the truth (default: 0,0)",
    )
    p.add_argument("--quiet", action="store_true", help="do not print the summary")


def run(args: argparse.Namespace) -> int:
    from facade_wwr.city_demo import Options, format_summary, generate, parse_origin, parse_pose_noise, parse_size

    options = Options(
        seed=args.seed,
        blocks=args.blocks,
        train=args.train,
        val=args.val,
        photos=args.photos,
        size=parse_size(args.size),
        origin=parse_origin(args.origin),
        pose_noise=parse_pose_noise(args.pose_noise),
    )
    summary = generate(args.out, options)
    if not args.quiet:
        print(format_summary(summary))
    return 0
