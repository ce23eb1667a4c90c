"""Copy the first N overlay images (by name) into one folder for the report."""

import shutil
from pathlib import Path

snakemake = snakemake  # noqa: F821 (injected by Snakemake's script directive)

suffix = snakemake.params.suffix
images = sorted((p for d in snakemake.input.overlays for p in Path(d).glob(f"*{suffix}")), key=lambda p: p.name)
out = Path(snakemake.output[0])
out.mkdir(parents=True, exist_ok=True)
for path in images[: snakemake.params.n]:
    shutil.copyfile(path, out / path.name)
with open(snakemake.log[0], "w") as log:
    print(f"{min(len(images), snakemake.params.n)} of {len(images)} overlays copied", file=log)
