"""Two trained models' footprint WWR on the footprints both saw: the measurement, apart from the coverage.

Run: python benchmarks/compare_geo_models.py WORK_A WORK_B

WORK_A and WORK_B are the ``--work`` folders of two ``eval_geo_model.py`` calls (two models over the same
photo sets). A model that finds more buildings sees more footprints, often partly seen ones that are hard to
measure, so its mean errors cover another set of footprints than the other model's. This prints, per photo
set and summed over them, the absolute errors in points (against the visible-part truth of every view, as
``evaluate-geo`` computes it) summed over the footprints both models have a value for, overall and per
orientation, and how many footprints only one of them saw (with their mean error).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from facade_wwr import aggregate, geo_evaluation, link_tables
from facade_wwr.geo import ORIENTATIONS

KEYS = ("overall", *ORIENTATIONS)


def errors(work: Path, truth: dict[str, pd.DataFrame]) -> dict[str, pd.Series]:
    """Per ``overall`` and orientation, the absolute error in points of every footprint the set's links gave
    a value, scored as its ``geo.json`` was (the same view angle and wall-area limits)."""
    links = link_tables.read([work / "links.parquet"])
    scored = json.loads((work / "geo.json").read_text())
    min_wall_m2 = scored["min_wall_m2"]
    predicted = aggregate.aggregate(links, min_wall_m2)
    visible = geo_evaluation.visible_truth(
        truth["truth_views.csv"], set(links.attrs["photos"]), scored["max_view_angle"], min_wall_m2
    )
    return geo_evaluation.footprint_errors(predicted, visible)


def same_truth(a: dict, b: dict) -> bool:
    """Whether two sets' cities have the same truth (``demo-city`` writes the same files from the same seed)."""
    files = [(Path(a["truth"]) / name, Path(b["truth"]) / name) for name in geo_evaluation.TRUTH_FILES]
    return all(x.is_file() and y.is_file() and x.read_bytes() == y.read_bytes() for x, y in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_a", type=Path, help="eval_geo_model.py --work folder of model A")
    parser.add_argument("work_b", type=Path, help="eval_geo_model.py --work folder of model B")
    args = parser.parse_args()
    sets = []
    for set_a in sorted(args.work_a.glob("set*/set.json")):
        set_b = args.work_b / set_a.parent.name / "set.json"
        about_a = json.loads(set_a.read_text())
        about_b = json.loads(set_b.read_text()) if set_b.is_file() else {}
        if about_b.get("name") != about_a["name"] or not same_truth(about_a, about_b):
            sys.exit(f"{set_b}: not the same photo set as {set_a}; run eval_geo_model.py with the same --seeds")
        sets.append((set_a.parent.name, about_a))
    if not sets:
        sys.exit(f"{args.work_a}: no set*/set.json; run 'eval_geo_model.py --work {args.work_a}' first")
    total = {k: [0.0, 0.0, 0] for k in KEYS}
    print(f"{'set':12s} | footprints both saw: A / B summed error, points (n) per overall, N, E, S, W")
    for folder, about in sets:
        truth = geo_evaluation.read_truth(about["truth"])
        a, b = errors(args.work_a / folder, truth), errors(args.work_b / folder, truth)
        cells = []
        for k in KEYS:
            both = a[k].index.intersection(b[k].index)
            total[k][0] += a[k][both].sum()
            total[k][1] += b[k][both].sum()
            total[k][2] += len(both)
            only_a, only_b = a[k].drop(both), b[k].drop(both)
            cells.append(
                f"{a[k][both].sum():5.1f} / {b[k][both].sum():5.1f} ({len(both)}; only A {len(only_a)}, "
                f"only B {len(only_b)}{f' at {only_b.mean():.1f}' if len(only_b) else ''})"
            )
        print(f"{about['name']:12s} | " + " | ".join(cells))
    print("summed over the sets: " + ", ".join(f"{k} {t[0]:.1f} / {t[1]:.1f} ({t[2]})" for k, t in total.items()))


if __name__ == "__main__":
    main()
