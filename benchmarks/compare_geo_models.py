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

COLUMNS = ("wwr", *(f"wwr_{o}" for o in aggregate.ORIENTATIONS))


def errors(work: Path, truth: dict[str, pd.DataFrame]) -> dict[str, pd.Series]:
    """Per column, the absolute error in points of every footprint the set's links gave a value."""
    links = link_tables.read([work / "links.parquet"])
    photos = set(links.attrs["photos"])
    predicted = aggregate.aggregate(links).set_index("footprint_id")
    visible = geo_evaluation.visible_truth(truth["truth_views.csv"], photos, 75.0).set_index("footprint_id")
    return {c: ((predicted[c] - visible[c].reindex(predicted.index)).abs() * 100.0).dropna() for c in COLUMNS}


def same_truth(a: dict, b: dict) -> bool:
    """Whether two sets' cities have the same truth (``demo-city`` writes the same files from the same seed)."""
    return all(
        (Path(a["truth"]) / name).read_bytes() == (Path(b["truth"]) / name).read_bytes()
        for name in geo_evaluation.TRUTH_FILES
    )


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
    total = {c: [0.0, 0.0, 0] for c in COLUMNS}
    print(f"{'set':12s} | footprints both saw: A / B summed error, points (n) per overall, N, E, S, W")
    for folder, about in sets:
        truth = geo_evaluation.read_truth(about["truth"])
        a, b = errors(args.work_a / folder, truth), errors(args.work_b / folder, truth)
        cells = []
        for c in COLUMNS:
            both = a[c].index.intersection(b[c].index)
            total[c][0] += a[c][both].sum()
            total[c][1] += b[c][both].sum()
            total[c][2] += len(both)
            only_a, only_b = a[c].drop(both), b[c].drop(both)
            cells.append(
                f"{a[c][both].sum():5.1f} / {b[c][both].sum():5.1f} ({len(both)}; only A {len(only_a)}, "
                f"only B {len(only_b)}{f' at {only_b.mean():.1f}' if len(only_b) else ''})"
            )
        print(f"{about['name']:12s} | " + " | ".join(cells))
    print(
        "summed over the sets: "
        + ", ".join(f"{c[4:] or 'overall'} {t[0]:.1f} / {t[1]:.1f} ({t[2]})" for c, t in total.items())
    )


if __name__ == "__main__":
    main()
