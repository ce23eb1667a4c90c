"""facade-wwr merge: building tables -> one CSV plus a Parquet twin (and the unmatched tagged points)."""

from __future__ import annotations

import argparse
from pathlib import Path

from facade_wwr.commands import options
from facade_wwr.errors import UserError, Warnings


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("tables", nargs="*", metavar="TABLE.parquet", help="building tables written by 'analyze'")
    p.add_argument("--out", required=True, metavar="CSV", help="merged CSV; the Parquet twin goes beside it")
    options.add_mixed_models(p)
    p.add_argument(
        "--links",
        nargs="+",
        metavar="LINKS",
        help="link tables written by 'link' (.parquet files or folders): fill footprint_id, joined on file_name and id",
    )
    p.add_argument(
        "--unmatched",
        metavar="CSV",
        help="where to list tagged points that matched no building, when the tables were analysed with "
        "--tagged (default: <out stem>.unmatched.csv)",
    )


def run(args: argparse.Namespace) -> int:
    from facade_wwr import tables

    out = Path(args.out)
    if out.suffix.lower() != ".csv":
        raise UserError(f"--out {out}: give a .csv path (the Parquet twin is written beside it)")
    from facade_wwr import link_tables
    from facade_wwr.fileio import refuse_overwrites

    links = link_tables.files(args.links) if args.links else []
    outputs = [out, tables.parquet_twin(out), args.unmatched or tables.unmatched_path(out)]
    refuse_overwrites([*args.tables, *links], outputs)
    merged = tables.merge(args.tables, mixed_models=args.mixed_models)
    linked = ""
    if links:
        merged.table, count = tables.with_footprints(merged.table, link_tables.read(links))
        linked = f", {count} linked to a footprint"
    tables.write_csv(out, merged.table)
    tables.write(tables.parquet_twin(out), merged.table, merged.info)
    summary = (
        f"{out}: {len(merged.table)} buildings on {len(merged.photos)} photos{linked}{tables.kept_windows(merged.info)}"
    )
    warnings = Warnings()
    problem = tables.meaningless(merged.table, merged.info, out)
    if problem:
        warnings.warn(problem)
    if merged.tagged or args.unmatched:
        for row in merged.unmatched:
            if row["reason"] == tables.NO_PREDICTION:
                warnings.warn(f"image {row['file_name']}: tagged point {row['tagged_id']} has no prediction file")
        path = args.unmatched or tables.unmatched_path(out)
        tables.write_unmatched(path, merged.unmatched)
        summary += f", {len(merged.unmatched)} unmatched tagged points ({path})"
    print(summary)
    return 0
