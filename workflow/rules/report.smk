# Report stage: figures for `snakemake --report report.html` (metrics, loss curve, histogram, overlays).


rule wwr_histogram:
    input:
        RESULTS / "buildings.parquet",
    output:
        report(RESULTS / "report/wwr_histogram.png", category="Buildings", caption="../report/histogram.rst"),
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "wwr_histogram.log",
    script:
        "../scripts/wwr_histogram.py"


rule sample_overlays:
    input:
        overlays=lambda wildcards: expand(RESULTS / "overlays/{shard}", shard=shards()),
    output:
        report(
            directory(RESULTS / "report/overlays"),
            patterns=[f"{{name}}.{config['analysis']['overlay_format']}"],
            category="Overlays",
            caption="../report/overlays.rst",
        ),
    params:
        n=8,
        suffix=f".{config['analysis']['overlay_format']}",
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "sample_overlays.log",
    script:
        "../scripts/sample_overlays.py"


rule provenance:
    input:
        model=RESULTS / "model/model.pt",
        buildings=RESULTS / "buildings.csv",
        table=RESULTS / "buildings.parquet",
        coco=expand(RESULTS / "coco/{split}.summary.json", split=("train", "val")),
    output:
        RESULTS / "provenance.json",
    params:
        config_sha256=CONFIG_SHA256,  # the script records the config itself (snakemake.config)
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "provenance.log",
    script:
        "../scripts/provenance.py"


rule report_summary:
    input:
        metrics=RESULTS / "model/metrics.json",
        evaluation=RESULTS / "evaluation/wwr.json",
        buildings=RESULTS / "buildings.parquet",
        provenance=RESULTS / "provenance.json",
        footprints=RESULTS / "footprints.csv" if GEO else [],
        geo=RESULTS / "evaluation/geo.json" if GEO and GEO.get("truth") else [],
    output:
        REPORT_SUMMARY,
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "report_summary.log",
    script:
        "../scripts/report_summary.py"
