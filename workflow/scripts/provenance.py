"""Record what made the results: the config, its hash, the model's hash and the package version.

The record must describe the results beside it, so they are checked against this config first: the VIA
sources each COCO file was converted from, and the photo folder and score threshold of the building table.
Results that another config made are refused in one line (the job fails), never recorded under this one.
"""

import json
import sys
from pathlib import Path

import facade_wwr
from facade_wwr import tables
from facade_wwr.fileio import sha256, write_json
from facade_wwr.images import list_images

snakemake = snakemake  # noqa: F821 (injected by Snakemake's script directive)


def mixed(config: dict, inputs) -> str | None:
    """The first result this config did not make, said in one line; None when all are its own."""
    for split, summary in zip(("train", "val"), inputs.coco):
        made = json.loads(Path(summary).read_text(encoding="utf-8"))["sources"]
        wanted = config["data"][split] if isinstance(config["data"][split], list) else [config["data"][split]]
        if made != wanted:
            return f"{summary}: converted from {made[0]['via']}, but data.{split} is {wanted[0]['via']}"
    _, info = tables.read(inputs.table)
    folder = config["predict"]["images"]
    stray = sorted(set(info.photos) - {p.name for p in list_images(folder)}) if Path(folder).is_dir() else info.photos
    if stray:
        return f"{inputs.buildings}: holds photo {stray[0]}, which predict.images ({folder}) does not"
    if info.score_threshold is not None and info.score_threshold != config["analysis"]["score_threshold"]:
        return (
            f"{inputs.buildings}: analysed at score threshold {info.score_threshold:g}, but analysis.score_threshold "
            f"is {config['analysis']['score_threshold']:g}"
        )
    return None


config = dict(snakemake.config)
problem = mixed(config, snakemake.input)
if problem:
    message = (
        f"facade-wwr: error: {snakemake.output[0]}: {problem}: these results were made with another config, and "
        "provenance would describe them wrongly; run the workflow to its end with this config (snakemake --cores all)"
        ", or with the config that made them"
    )
    with open(snakemake.log[0], "w") as log:
        print(message, file=log)
    sys.exit(message)
record = {
    "facade_wwr_version": facade_wwr.__version__,
    "config_sha256": snakemake.params.config_sha256,
    "model_sha256": sha256(snakemake.input.model),
    "buildings_sha256": sha256(snakemake.input.buildings),
    "config": config,
}
write_json(snakemake.output[0], record)
with open(snakemake.log[0], "w") as log:
    print(f"config {record['config_sha256'][:12]}, model {record['model_sha256'][:12]}", file=log)
