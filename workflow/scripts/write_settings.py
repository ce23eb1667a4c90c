"""Write the config sections a stage depends on to a YAML file (a rule output, so Snakemake reruns the
stage exactly when those sections change, and the stage's own command reads them back)."""

import yaml

from facade_wwr.fileio import write_text

snakemake = snakemake  # noqa: F821 (injected by Snakemake's script directive)

write_text(snakemake.output[0], yaml.safe_dump(dict(snakemake.params.sections), sort_keys=False))
with open(snakemake.log[0], "w") as log:
    print(f"wrote {snakemake.output[0]}", file=log)
