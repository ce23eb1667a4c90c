# Prediction stage: one GPU job per shard of photos; the model is loaded once per shard.


rule predict:
    input:
        model=RESULTS / "model/model.pt",
        photos=shard_photos,
    output:
        directory(RESULTS / "predictions/{shard}"),
    # printed instead of the job's inputs, which list every photo of the shard
    message:
        "predict: the photos of shard {wildcards.shard} -> {output} (threads: {threads}, log: {log})"
    params:
        batch_size=config["predict"]["batch_size"],
        min_score=config["predict"]["min_score"],
        npz="--npz" if config["predict"]["npz"] else "",
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "predict/{shard}.log",
    benchmark:
        BENCHMARKS / "predict/{shard}.tsv"
    threads: 4
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=120,
    shell:
        "facade-wwr --log {log} predict --model $(dirname {input.model}) --out {output} --batch-size {params.batch_size}"
        " --min-score {params.min_score} {params.npz} {input.photos:q}"


rule predict_val:
    input:
        model=RESULTS / "model/model.pt",
        coco=RESULTS / "coco/val.json",
    output:
        directory(RESULTS / "evaluation/predictions"),
    params:
        batch_size=config["predict"]["batch_size"],
        min_score=config["predict"]["min_score"],
    conda:
        "../envs/facade-wwr.yaml"
    log:
        LOGS / "predict_val.log",
    threads: 4
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=60,
    shell:
        "facade-wwr --log {log} predict --model $(dirname {input.model}) --out {output} --batch-size {params.batch_size}"
        " --min-score {params.min_score} --coco {input.coco}"
