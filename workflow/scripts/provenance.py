"""Record what made the results: the resolved config, its hash, the model's hash and the package version."""

import hashlib
import json

import facade_wwr
from facade_wwr.fileio import sha256, write_json

snakemake = snakemake  # noqa: F821 (injected by Snakemake's script directive)


config = dict(snakemake.params.config)
canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
record = {
    "facade_wwr_version": facade_wwr.__version__,
    "config_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
    "model_sha256": sha256(snakemake.input.model),
    "buildings_sha256": sha256(snakemake.input.buildings),
    "config": config,
}
write_json(snakemake.output[0], record)
with open(snakemake.log[0], "w") as log:
    print(f"config {record['config_sha256'][:12]}, model {record['model_sha256'][:12]}", file=log)
