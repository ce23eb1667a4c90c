"""Histogram of window percentages over all buildings of results/buildings.parquet."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from facade_wwr.fileio import atomic_path  # noqa: E402

snakemake = snakemake  # noqa: F821 (injected by Snakemake's script directive)

table = pd.read_parquet(snakemake.input[0])
fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
ax.hist(100 * table["window_percentage"].dropna(), bins=20, range=(0, 100), color="#3b78b0", edgecolor="white")
ax.set_xlabel("window percentage of the visible facade (%)")
ax.set_ylabel("buildings")
ax.set_title(f"{len(table)} buildings in {table['file_name'].nunique()} photos")
fig.tight_layout()
with atomic_path(snakemake.output[0]) as tmp:
    fig.savefig(tmp)
with open(snakemake.log[0], "w") as log:
    print(f"{len(table)} buildings", file=log)
