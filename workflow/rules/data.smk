# Data stage: the demo city (optional) -> COCO datasets -> previews.


checkpoint demo_data:
    output:
        train=DEMO / "train/via_region_data.json",
        val=DEMO / "val/via_region_data.json",
        photos=DEMO / "photos/via_region_data.json",
        footprints=DEMO / "footprints.geojson",
        poses=DEMO / "poses.csv",
        truth=DEMO / "truth_footprints.csv",
        truth_views=DEMO / "truth_views.csv",
        truth_buildings=DEMO / "truth_view_buildings.csv",
    params:
        out=DEMO,
        demo=config["demo"],
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "demo_data.log",
    shell:
        "facade-wwr --log {log} demo-city {params.out} --train {params.demo[train]} --val {params.demo[val]}"
        " --photos {params.demo[photos]} --seed {params.demo[seed]} --blocks {params.demo[blocks]}"
        " --size {params.demo[size]} --quiet"


rule via2coco:
    input:
        via=via_inputs,
        photos=via_photos,
    output:
        coco=RESULTS / "coco/{split}.json",
        summary=RESULTS / "coco/{split}.summary.json",
    # printed instead of the job's inputs, which list every annotated photo
    message:
        "via2coco: {input.via} -> {output.coco} (log: {log})"
    params:
        sources=via2coco_args,
        classes=",".join(config["data"]["classes"]),
        attribute=config["data"]["class_attribute"],
        flags=" ".join(
            flag
            for flag, on in (("--keep-empty", config["data"]["keep_empty"]), ("--strict", config["data"]["strict"]))
            if on
        ),
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "via2coco_{split}.log",
    shell:
        "facade-wwr --log {log} via2coco {params.sources} --out {output.coco} --classes {params.classes:q}"
        " --class-attribute {params.attribute:q} {params.flags}"


rule preview:
    input:
        RESULTS / "coco/{split}.json",
    output:
        directory(RESULTS / "previews/{split}"),
    params:
        n=config["preview"]["n"],
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "preview_{split}.log",
    shell:
        "facade-wwr --log {log} preview --coco {input} --out {output} -n {params.n}"
