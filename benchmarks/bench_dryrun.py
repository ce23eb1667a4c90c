"""How long `snakemake -n` takes on folders of 1,000 and 10,000 photos (jobs grow with shards, not photos),
without and with the geographic stages (geo.footprints set: index, a link job per shard, aggregate).

    python benchmarks/bench_dryrun.py [--counts 1000 10000] [--shard-size 50]

Photos are empty placeholder files (a dry run never opens them); the workflow is copied to a scratch folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import copy_workflow, default_config, snakemake  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--shard-size", type=int, default=50)
    args = parser.parse_args()
    for count in args.counts:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            photos = work / "photos"
            photos.mkdir()
            for i in range(count):
                (photos / f"photo_{i:06d}.jpg").touch()
            (work / "train.json").write_text(json.dumps({}))
            config = default_config()
            config["demo"]["enabled"] = False
            config["data"]["train"] = {"via": "train.json", "images": "photos"}
            config["data"]["val"] = {"via": "train.json", "images": "photos"}
            config["predict"].update(images="photos", tagged=None, shard_size=args.shard_size)
            (work / "footprints.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": []}))
            for geo in (False, True):
                config["geo"]["footprints"] = "footprints.geojson" if geo else None
                copy_workflow(work, config)
                start = time.perf_counter()
                proc = snakemake(work, "-n", "--quiet", "rules")
                seconds = time.perf_counter() - start
                kinds = ("predict ", "analyze ", "link ")
                jobs = dict.fromkeys(
                    " ".join(line.split()) for line in proc.stdout.splitlines() if line.startswith(kinds)
                )
                print(
                    f"{count:>6} photos, shard_size {args.shard_size}, geographic stages {'on' if geo else 'off'}: "
                    f"snakemake -n took {seconds:.1f} s ({' / '.join(' '.join(j.split()) for j in jobs)})"
                )


if __name__ == "__main__":
    main()
