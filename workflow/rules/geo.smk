# Geographic stage: footprints -> an index read near the photos; per shard, link each building to its
# footprint by camera pose and measure its walls (CPU, parallel); every footprint's WWR per orientation;
# evaluation against the demo city's truth. Only included while the stage is on (common.smk: GEO).


rule index_footprints:
    input:
        GEO["footprints"],
    output:
        FOOTPRINT_INDEX,
    params:
        columns=footprint_columns(),
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "geo/index_footprints.log",
    resources:
        mem_mb=8000,
        runtime=60,
    shell:
        "facade-wwr --log {log} index-footprints {input:q} --out {output} {params.columns} --quiet"


rule link:
    input:
        predictions=RESULTS / "predictions/{shard}",
        footprints=FOOTPRINT_INDEX,
        poses=pose_inputs,
        photos=link_photos,
    output:
        links=RESULTS / "links/{shard}.parquet",
        overlays=directory(RESULTS / "geo_overlays/{shard}") if GEO["overlays"] else [],
    # printed instead of the job's inputs, which list every photo of the shard
    message:
        "link: the buildings of shard {wildcards.shard} -> {output.links} (log: {log})"
    params:
        poses=" ".join(f"--poses {shlex.quote(source)}" for source in GEO["poses"]),
        photos=shlex.quote(config["predict"]["images"]),
        threshold=config["analysis"]["score_threshold"],
        geo=geo_options(),
        refine="" if GEO["refine"] else "--no-refine",
        overlays=lambda wildcards, output: (
            f"--overlays {output.overlays} --overlay-format {config['analysis']['overlay_format']}"
            if output.overlays
            else ""
        ),
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "link/{shard}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "facade-wwr --log {log} link {input.predictions} --footprints {input.footprints} {params.poses}"
        " --photos {params.photos} --out {output.links} --score-threshold {params.threshold} {params.geo}"
        " {params.refine} {params.overlays} --quiet"


rule aggregate:
    input:
        links=shard_links,
        footprints=FOOTPRINT_INDEX,
        cea_architecture=cea_architecture_input,
    output:
        gpkg=RESULTS / "footprints.gpkg",
        csv=report(RESULTS / "footprints.csv", category="Footprints", caption="../report/footprints.rst"),
        cea=RESULTS / "footprints_cea.csv",
        map=report(RESULTS / "report/footprints_map.png", category="Footprints", caption="../report/footprints_map.rst"),
        dbf=RESULTS / "cea/architecture.dbf" if GEO.get("cea_architecture") else [],
    params:
        columns=footprint_columns(),
        min_wall_m2=GEO["min_wall_m2"],
        cea=lambda wildcards, input, output: (
            f"--cea-architecture {shlex.quote(input.cea_architecture[0])} --cea-architecture-out {output.dbf}"
            if output.dbf
            else ""
        ),
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "geo/aggregate.log",
    resources:
        mem_mb=8000,
        runtime=60,
    shell:
        "facade-wwr --log {log} aggregate {input.links} --footprints {input.footprints} {params.columns}"
        " --min-wall-m2 {params.min_wall_m2} --out {output.gpkg} --csv {output.csv} --cea {output.cea}"
        " --map {output.map} {params.cea} --quiet"


rule evaluate_geo:
    input:
        links=shard_links,
        truth=geo_truth_inputs,
    output:
        report(RESULTS / "evaluation/geo.json", category="Evaluation", caption="../report/geo.rst"),
    params:
        truth=lambda wildcards: shlex.quote(GEO["truth"]),
        max_view_angle=GEO["max_view_angle"],
        min_wall_m2=GEO["min_wall_m2"],
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "geo/evaluate_geo.log",
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "facade-wwr --log {log} evaluate-geo {input.links} --truth {params.truth} --out {output}"
        " --max-view-angle {params.max_view_angle} --min-wall-m2 {params.min_wall_m2} --quiet"
