# Pre-annotation: the model's predictions on predict.images as a VIA file to correct (not part of `all`):
#   snakemake --cores all preannotate


rule preannotate:
    input:
        predictions=preannotate_inputs,
        tagged=tagged_input,
    output:
        PREANNOTATIONS,
    params:
        photos=shlex.quote(config["predict"]["images"]),
        threshold=config["preannotate"]["score_threshold"],
        tolerance=config["preannotate"]["tolerance"],
        style=config["preannotate"]["class_style"],
        attribute=config["data"]["class_attribute"],
        tagged=lambda wildcards, input: f"--tagged {shlex.quote(input.tagged[0])}" if input.tagged else "",
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "preannotate.log",
    shell:
        "facade-wwr --log {log} to-via {input.predictions:q} --out {output:q} --photos {params.photos} --score-threshold {params.threshold}"
        " --tolerance {params.tolerance} --class-style {params.style} --class-attribute {params.attribute:q}"
        " {params.tagged}"
