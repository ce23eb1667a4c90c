# Analysis stage: per-shard building tables (CPU, parallel) -> one building CSV; WWR evaluation on val.


rule analyze:
    input:
        predictions=RESULTS / "predictions/{shard}",
        tagged=tagged_input,
    output:
        table=RESULTS / "analysis/{shard}.parquet",
        unmatched=RESULTS / "analysis/{shard}.unmatched.csv" if config["predict"]["tagged"] else [],
        overlays=directory(RESULTS / "overlays/{shard}") if config["analysis"]["overlays"] else [],
    params:
        threshold=config["analysis"]["score_threshold"],
        # a shard sees only its photos: points on other photos are left to merge (--tagged-scope inputs)
        tagged=lambda wildcards, input, output: (
            f"--tagged {shlex.quote(input.tagged[0])} --tagged-scope inputs --unmatched {output.unmatched}"
            if input.tagged
            else ""
        ),
        overlays=lambda wildcards, output: (
            f"--overlays {output.overlays} --photos {shlex.quote(config['predict']['images'])}"
            f" --overlay-format {config['analysis']['overlay_format']}"
            if output.overlays
            else ""
        ),
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "analyze/{shard}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "facade-wwr --log {log} analyze {input.predictions} --out {output.table}"
        " --score-threshold {params.threshold} {params.tagged} {params.overlays}"


rule merge:
    input:
        tables=shard_tables,
        links=shard_links,
    output:
        csv=report(RESULTS / "buildings.csv", category="Buildings", caption="../report/buildings.rst"),
        parquet=RESULTS / "buildings.parquet",
        unmatched=RESULTS / "buildings.unmatched.csv" if config["predict"]["tagged"] else [],
    params:
        unmatched=lambda wildcards, output: f"--unmatched {output.unmatched}" if output.unmatched else "",
        links=lambda wildcards, input: f"--links {' '.join(input.links)}" if input.links else "",
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "merge.log",
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "facade-wwr --log {log} merge {input.tables} --out {output.csv} {params.unmatched} {params.links}"


rule evaluate:
    input:
        coco=RESULTS / "coco/val.json",
        predictions=RESULTS / "evaluation/predictions",
    output:
        metrics=report(RESULTS / "evaluation/wwr.json", category="Evaluation", caption="../report/wwr.rst"),
        scatter=report(RESULTS / "evaluation/wwr_scatter.png", category="Evaluation", caption="../report/scatter.rst"),
    params:
        threshold=config["analysis"]["score_threshold"],
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "evaluate.log",
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "facade-wwr --log {log} evaluate --coco {input.coco} --pred-dir {input.predictions} --out {output.metrics}"
        " --plot {output.scatter} --score-threshold {params.threshold}"
