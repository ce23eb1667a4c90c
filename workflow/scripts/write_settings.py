"""Write the config sections a stage depends on to a YAML file (a rule output, so Snakemake reruns the
stage exactly when those sections change, and the stage's own command reads them back)."""

import yaml

snakemake = snakemake  # noqa: F821 (injected by Snakemake's script directive)

with open(snakemake.log[0], "w") as log, open(snakemake.output[0], "w") as out:
    yaml.safe_dump(dict(snakemake.params.sections), out, sort_keys=False)
    print(f"wrote {snakemake.output[0]}", file=log)
