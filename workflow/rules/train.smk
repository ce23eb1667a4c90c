# Training stage: COCO datasets -> model (GPU when available) with COCO evaluation on val.


localrules:
    train_settings,
    train_runtime,
    download_weights,


rule download_weights:
    output:
        # only asked for when model.weights is coco or imagenet (see pretrained_weights in common.smk)
        weights=pretrained_weights() or "resources/weights/.unused",
    params:
        engine=lambda wildcards: model_setting("engine"),
        architecture=lambda wildcards: model_setting("architecture"),
        kind=lambda wildcards: model_setting("weights"),
        dest=lambda wildcards, output: Path(output.weights).parent.parent,  # <weights_dir>/<engine>/<file>
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "download_weights.log",
    shell:
        "facade-wwr --log {log} download-weights --engine {params.engine} --architecture '{params.architecture}'"
        " --kind {params.kind} --dest {params.dest}"


rule train_settings:
    output:
        RESULTS / "model/train-config.yaml",
    params:
        sections=train_sections(),
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "train_settings.log",
    script:
        "../scripts/write_settings.py"


rule train_runtime:
    output:
        RESULTS / "model/train-runtime.yaml",
    params:
        sections=train_runtime_sections(),
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "train_runtime.log",
    script:
        "../scripts/write_settings.py"


rule train:
    input:
        train=RESULTS / "coco/train.json",
        val=RESULTS / "coco/val.json",
        settings=RESULTS / "model/train-config.yaml",
        runtime=ancient(RESULTS / "model/train-runtime.yaml"),  # edits never retrain (see common.smk)
        weights=weights_input,
    output:
        model=RESULTS / "model/model.pt",
        metrics=report(RESULTS / "model/metrics.json", category="Model", caption="../report/metrics.rst"),
        loss=report(RESULTS / "model/loss.png", category="Model", caption="../report/loss.rst"),
    params:
        out=RESULTS / "model",
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "train.log",
    benchmark:
        BENCHMARKS / "train.tsv"
    threads: 4
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=360,
    shell:
        "facade-wwr --log {log} train --train {input.train} --val {input.val} --config {input.settings}"
        " --config {input.runtime} --out {params.out}"
