# facade-wwr: window-to-wall ratios of buildings from street-level photos.
#
#   VIA exports -> COCO datasets -> train -> evaluate
#   photos -> shards -> predict (GPU) -> analyze (CPU) -> merge -> results/buildings.csv -> report
#   footprints -> index; per shard: link (CPU) -> aggregate -> results/footprints.gpkg, CEA table (geo: on)
#
# Run: snakemake --cores all          (workstation; see profiles/local)
#      snakemake --profile profiles/slurm   (cluster with GPU partitions)

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/preannotate.smk"


if GEO:

    include: "workflow/rules/geo.smk"


# The report's first page: what the run found, and whether it means anything (rule report_summary).
report: str(REPORT_SUMMARY.resolve()) if REPORT_SUMMARY.is_file() else "workflow/report/workflow.rst"


rule all:
    input:
        all_outputs,
    default_target: True
