"""facade-wwr index-footprints: any footprint file -> a spatially sorted GeoParquet file that link jobs read
only near their photos."""

from __future__ import annotations

import argparse

from facade_wwr.commands import options
from facade_wwr.errors import UserError


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("footprints", metavar="FILE", help="building footprints (any format geopandas reads)")
    p.add_argument("--out", required=True, metavar="INDEX.parquet", help="the index to write (GeoParquet)")
    options.add_footprint_columns(p)
    p.add_argument("--quiet", action="store_true", help="do not print the summary")


def run(args: argparse.Namespace) -> int:
    from facade_wwr.fileio import refuse_overwrites
    from facade_wwr.footprints import INDEX_ROW_GROUP, write_index

    if not str(args.out).lower().endswith(".parquet"):
        raise UserError(f"--out {args.out}: the index is written as GeoParquet, give a .parquet path")
    refuse_overwrites([args.footprints], [args.out])
    count = write_index(args.footprints, args.out, options.footprint_settings(args))
    if not args.quiet:
        groups = -(-count // INDEX_ROW_GROUP)
        print(f"{args.out}: {count} footprints in {groups} row groups, sorted along a Hilbert curve")
    return 0
