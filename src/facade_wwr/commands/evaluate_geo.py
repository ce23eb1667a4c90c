"""facade-wwr evaluate-geo: link tables against the synthetic city's truth -> geo.json."""

from __future__ import annotations

import argparse
import json

from facade_wwr.commands import options


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "links", nargs="+", metavar="LINKS", help="link tables written by 'link' (.parquet files or folders of them)"
    )
    p.add_argument("--truth", required=True, metavar="DIR", help="the city written by 'demo-city' (its truth_*.csv)")
    p.add_argument("--out", required=True, metavar="JSON", help="where to write the figures")
    p.add_argument(
        "--max-view-angle",
        type=options.within(0.0, 90.0, "deg"),
        default=75.0,
        metavar="DEG",
        help="truth walls seen farther than this from their normal are left out, as link flags them edge_on "
        "(geo.max_view_angle; default: 75)",
    )
    options.add_min_wall_m2(p)
    p.add_argument("--quiet", action="store_true", help="do not print the summary")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from facade_wwr import geo_evaluation, link_tables
    from facade_wwr.fileio import atomic_path, refuse_overwrites

    files = link_tables.files(args.links)
    truth_paths = [Path(args.truth) / name for name in geo_evaluation.TRUTH_FILES]
    refuse_overwrites([*files, *truth_paths], [args.out])
    truth = geo_evaluation.read_truth(args.truth)
    result = geo_evaluation.evaluate(link_tables.read(files), truth, args.max_view_angle, args.min_wall_m2)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(geo_evaluation.as_json(result), indent=2) + "\n", encoding="utf-8")
    if not args.quiet:
        print("\n".join(f"{args.out}: {line}" for line in geo_evaluation.summary_lines(result)))
    return 0
