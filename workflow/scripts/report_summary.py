"""The report's first page (results/report/summary.rst): what the run found, and whether it means anything.

The checks are the commands' own (weak_model after train, found_nothing after evaluate, meaningless after
merge), made again on the outputs the page describes; each problem is printed on the terminal once more, at
the end of the run, where a user looks.
"""

import json
import sys
from pathlib import Path

from facade_wwr import tables
from facade_wwr.coco_metrics import format_metrics, weak_model
from facade_wwr.fileio import write_text
from facade_wwr.wwr_evaluation import format_summary, found_nothing

snakemake = snakemake  # noqa: F821 (injected by Snakemake's script directive)


def text(value) -> str:
    """Plain text in reStructuredText: markup characters escaped."""
    out = str(value).replace("\\", "\\\\")
    for c in "*`_|":
        out = out.replace(c, "\\" + c)
    return out


def geo_lines(inputs) -> list[str]:
    """The geographic stages' figures, where they ran: footprints seen, and the scores against the demo city."""
    out = []
    if inputs.get("footprints"):
        import pandas as pd

        footprints = pd.read_csv(inputs.footprints)
        seen = int(footprints["wwr"].notna().sum())
        out.append(
            f"- **Footprints**: {seen} of {len(footprints)} footprints seen, WWR per orientation in "
            "results/footprints.gpkg and results/footprints_cea.csv (map under Footprints)"
        )
    if inputs.get("geo"):
        from facade_wwr.geo_evaluation import summary_lines

        result = json.loads(open(inputs.geo, encoding="utf-8").read())
        out.append(f"- **Geography** against the demo city's truth: {text('; '.join(summary_lines(result)))}")
    return out


inputs = snakemake.input
metrics = json.loads(open(inputs.metrics, encoding="utf-8").read())
evaluation = json.loads(open(inputs.evaluation, encoding="utf-8").read())
provenance = json.loads(open(inputs.provenance, encoding="utf-8").read())
table, info = tables.read(inputs.buildings)
problems = [
    p
    for p in (
        weak_model(metrics, inputs.metrics),
        found_nothing(evaluation, inputs.evaluation),
        tables.meaningless(table, info, Path(inputs.buildings).with_suffix(".csv")),
    )
    if p
]

lines = ["facade-wwr results", "==================", ""]
if problems:
    lines += ["**The model found (almost) nothing: these results mean nothing yet.**", ""]
    lines += [f"- {text(p)}" for p in problems] + [""]
windows = info.instances.get("window", {})
kept = tables.kept_windows(info).removeprefix(", ")
seen = f"window scores seen {windows['min']:.3f}-{windows['max']:.3f}" if windows.get("seen") else "no window seen"
threshold = "" if info.score_threshold is None else f", score threshold {info.score_threshold:g}"
lines += [
    "What the run measured:",
    "",
    f"- **Evaluation** on the annotated val photos: {text(format_summary(evaluation).splitlines()[0])}",
    f"- **COCO evaluation** of the model on val: {text(format_metrics(metrics))}",
    f"- **Building table**: {len(table)} buildings on {len(info.photos)} photos, {text(kept)}; {seen}{threshold}",
    *geo_lines(inputs),
    f"- **Provenance**: model {provenance['model_sha256'][:12]}, config {provenance['config_sha256'][:12]}, "
    f"facade-wwr {text(provenance['facade_wwr_version'])} (results/provenance.json)",
    "",
    "Street photos, predicted by a Mask R-CNN trained on VIA polygons, give each building's window percentage "
    "(window pixels / building pixels of its visible facade): the table and its histogram are under Buildings, "
    "sample overlays under Overlays, the model's COCO metrics and loss under Model, and the window percentages "
    "measured against the annotated val photos under Evaluation.",
    "",
]
# Jinja renders this page (the report's own templating): {% raw %} keeps braces in file names as they are.
write_text(snakemake.output[0], "{% raw %}\n" + "\n".join(lines) + "\n{% endraw %}\n")
for problem in problems:
    print(f"facade-wwr: warning: {problem}", file=sys.stderr)
with open(snakemake.log[0], "w") as log:
    print(f"{len(problems)} problems", *problems, sep="\n", file=log)
