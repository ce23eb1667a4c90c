"""facade-wwr demo-data: write a deterministic synthetic facade data set (VIA exports, photos, true WWR)."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", metavar="OUT", help="folder to write (an earlier demo data set there is replaced)")
    p.add_argument("--train", type=int, default=60, metavar="N", help="annotated training photos (default: 60)")
    p.add_argument("--val", type=int, default=20, metavar="M", help="annotated validation photos (default: 20)")
    p.add_argument(
        "--photos", type=int, default=10, metavar="K", help="photos to analyse, with tagged points (default: 10)"
    )
    p.add_argument(
        "--seed", type=int, default=0, metavar="S", help="random seed; same arguments, same bytes (default: 0)"
    )
    p.add_argument("--size", type=int, default=256, metavar="PX", help="width and height of each photo (default: 256)")
    p.add_argument("--quiet", action="store_true", help="do not print the summary")


def run(args: argparse.Namespace) -> int:
    from facade_wwr.demo import format_summary, generate

    summary = generate(args.out, train=args.train, val=args.val, photos=args.photos, seed=args.seed, size=args.size)
    if not args.quiet:
        print(format_summary(summary))
    return 0
