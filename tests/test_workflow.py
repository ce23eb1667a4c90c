"""End-to-end runs of the Snakemake workflow on a tiny demo: outputs, incremental reruns, faults, lint."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from facade_wwr.cli import main
from facade_wwr.demo import generate
from tests.helpers import copy_workflow, declared_only_env, jobs_run, own_data_config, snakemake, tiny_config


def test_lint_reports_nothing() -> None:
    proc = snakemake(Path(__file__).resolve().parents[1], "--lint")
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_a_wrong_config_key_or_type_stops_before_any_job(tmp_path: Path) -> None:
    config = tiny_config()
    config["analysis"]["score_treshold"] = 0.5
    copy_workflow(tmp_path, config)
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0 and "score_treshold" in proc.stdout + proc.stderr
    config = tiny_config()
    config["predict"]["shard_size"] = "many"
    copy_workflow(tmp_path, config)
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0 and "shard_size" in proc.stdout + proc.stderr
    assert not (tmp_path / "results" / "demo").exists()


def test_a_failed_job_says_its_error_on_the_terminal(tmp_path: Path) -> None:
    """weights: coco offline: the terminal shows the one-line error (URL, where to put the file, its sha256),
    not only logs/download_weights.log; and the slurm profile shows a failed job's log."""
    config = tiny_config()
    config["model"].update(architecture="maskrcnn_resnet50_fpn_v2", weights="coco", weights_dir=str(tmp_path / "w"))
    wf = copy_workflow(tmp_path / "wf", config)
    closed = "http://127.0.0.1:9"  # a proxy nobody listens on: offline at once, whether or not there is internet
    env = {"https_proxy": closed, "HTTPS_PROXY": closed}
    proc = snakemake(wf, "--cores", "1", "download_weights", env=env, check=False)
    assert proc.returncode != 0
    line = next(x for x in proc.stderr.splitlines() if x.startswith("facade-wwr download-weights: error:"))
    assert "cannot download https://download.pytorch.org/models/maskrcnn_resnet50_fpn_v2_coco-" in line
    assert f"place the file at {tmp_path / 'w' / 'torchvision'}" in line and "its sha256 starts with" in line
    assert line in (wf / "logs" / "download_weights.log").read_text()
    profile = yaml.safe_load((wf / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["show-failed-logs"] is True  # a SLURM job's stderr is in a file on the cluster


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"), tiny_config())
    proc = snakemake(workdir, "--cores", "2")
    (workdir / "terminal.txt").write_text(proc.stderr)  # what the user saw (Snakemake writes to stderr)
    return workdir


@pytest.mark.slow
def test_complete_run_writes_every_output(complete_run: Path) -> None:
    results = complete_run / "results"
    table = pd.read_csv(results / "buildings.csv", keep_default_na=False)
    assert list(table.columns[:8]) == [
        "file_name",
        "id",
        "tagged_id",
        "tagged_id_coords",
        "category",
        "pixel_area",
        "building_area_perc_of_image",
        "window_percentage",
    ]
    assert (results / "buildings.parquet").is_file()
    photos = sorted(p.name for p in (results / "demo" / "photos").glob("*") if p.suffix != ".json")
    assert set(table["file_name"]) <= set(photos)
    for name in (
        "model/model.pt",
        "model/metrics.json",
        "model/loss.png",
        "evaluation/wwr.json",
        "evaluation/wwr_scatter.png",
        "report/wwr_histogram.png",
        "coco/train.json",
        "coco/val.json",
    ):
        assert (results / name).is_file(), name
    predictions = sorted(p.name for p in (results / "predictions").glob("*/*.parquet"))
    assert len(predictions) == len(photos)
    assert len(list((results / "previews" / "train").glob("*.jpg"))) == 2
    overlays = list((results / "overlays").glob("*/*.jpg"))
    assert len(overlays) == len(photos)
    for log in ("train.log", "merge.log", "via2coco_train.log", "geo/aggregate.log"):
        assert (complete_run / "logs" / log).is_file()
    # the geographic stages, on in the demo city: one link table per shard, footprints, CEA table, map, figures
    assert "footprint_id" in table.columns
    shards = sorted(p.name for p in (results / "predictions").iterdir())
    assert sorted(p.stem for p in (results / "links").glob("*.parquet")) == shards
    footprints = gpd.read_file(results / "footprints.gpkg")
    truth = pd.read_csv(results / "demo" / "truth_footprints.csv")
    assert set(footprints["footprint_id"]) == set(truth["footprint_id"])
    cea = pd.read_csv(results / "footprints_cea.csv")
    assert list(cea.columns[:5]) == ["Name", "wwr_north", "wwr_east", "wwr_south", "wwr_west"]
    assert (results / "report" / "footprints_map.png").stat().st_size > 10_000
    geo = json.loads((results / "evaluation" / "geo.json").read_text())
    assert geo["links"]["photos"] == len(photos) and geo["links"]["visible_buildings"] > 0


@pytest.mark.slow
def test_a_model_that_found_nothing_is_said_on_the_terminal_and_the_report(complete_run: Path) -> None:
    """Two iterations find nothing. Each step says so where the user looks (not only in logs/), the run ends
    with those warnings once more, and the report's first page says it."""
    terminal = (complete_run / "terminal.txt").read_text().splitlines()
    warnings = [line for line in terminal if line.startswith("facade-wwr: warning: results/")]
    said = {line.split(":")[2].strip() for line in warnings}
    assert {"results/model", "results/evaluation/wwr.json", "results/buildings.csv"} <= said, warnings
    assert any(re.search(r"val mask AP50 0\.0[0-4]\d .*near zero.*train longer", line) for line in warnings)
    assert any(re.search(r"model: 0/\d+ annotated val buildings found", line) for line in warnings)
    assert any("building scores seen" in line and "mean nothing" in line for line in warnings)
    last = terminal[-30:]  # the end of the run repeats them
    assert any("results/model/metrics.json: val mask AP50" in line for line in last), last
    page = (complete_run / "results" / "report" / "summary.rst").read_text()
    assert "**The model found (almost) nothing: these results mean nothing yet.**" in page
    assert re.search(r"model: 0/\d+ buildings found \(recall 0.000\)", page)


def change_photo(path: Path) -> None:
    pixels = np.asarray(Image.open(path).convert("RGB")).copy()
    pixels[:10, :10] = 255 - pixels[:10, :10]
    Image.fromarray(pixels).save(path)


@pytest.mark.slow
def test_incremental_reruns(complete_run: Path) -> None:
    run = complete_run
    assert jobs_run(snakemake(run, "--cores", "2")) == {}, "a rerun with nothing changed must do nothing"

    photos = sorted(p for p in (run / "results" / "demo" / "photos").iterdir() if p.suffix != ".json")
    change_photo(photos[0])
    ran = jobs_run(snakemake(run, "--cores", "2"))
    assert ran.get("predict") == 1 and ran.get("analyze") == 1 and ran.get("merge") == 1, ran
    assert "train" not in ran and "predict_val" not in ran

    Image.open(photos[1]).save(photos[1].with_name("added_photo.png"))
    ran = jobs_run(snakemake(run, "--cores", "2"))
    assert ran.get("predict") == 1 and ran.get("analyze") == 1 and ran.get("merge") == 1, ran
    assert "train" not in ran

    config_path = run / "config" / "config.yaml"
    config = config_path.read_text()
    config_path.write_text(config.replace("score_threshold: 0.7", "score_threshold: 0.5"))
    ran = jobs_run(snakemake(run, "--cores", "2"))
    assert "train" not in ran and "predict" not in ran and "predict_val" not in ran, ran
    assert ran.get("analyze", 0) >= 2 and ran.get("merge") == 1 and ran.get("evaluate") == 1, ran

    config_path.write_text(config_path.read_text().replace("max_iter: 2", "max_iter: 3"))
    ran = jobs_run(snakemake(run, "--cores", "2"))
    assert ran.get("train") == 1 and ran.get("predict_val") == 1 and ran.get("merge") == 1, ran
    assert ran.get("predict") == ran.get("analyze") >= 2, ran
    assert jobs_run(snakemake(run, "--cores", "2")) == {}


@pytest.mark.slow
def test_footprints_or_geo_settings_rerun_no_training_prediction_or_analysis(complete_run: Path) -> None:
    run = complete_run
    config_path = run / "config" / "config.yaml"
    original = config_path.read_text()
    footprints = run / "results" / "demo" / "footprints.geojson"
    before = footprints.read_bytes()
    expensive = {"demo_data", "via2coco", "train", "predict", "predict_val", "analyze", "evaluate"}
    try:
        config_path.write_text(original.replace("max_distance: 150", "max_distance: 120"))
        ran = jobs_run(snakemake(run, "--cores", "2"))
        assert ran.get("link", 0) >= 2 and ran.get("aggregate") == 1 and ran.get("evaluate_geo") == 1, ran
        assert not expensive & set(ran) and "index_footprints" not in ran, ran
        city = json.loads(before)
        city["features"][0]["properties"]["height"] = 31.5
        footprints.write_text(json.dumps(city))
        ran = jobs_run(snakemake(run, "--cores", "2"))
        assert ran.get("index_footprints") == 1 and ran.get("link", 0) >= 2 and ran.get("aggregate") == 1, ran
        assert not expensive & set(ran), ran
    finally:
        config_path.write_text(original)
        footprints.write_bytes(before)
    snakemake(run, "--cores", "2")


def respelled(value, key=""):
    """The same config in other words: every mapping's keys in reverse order, every path as ./PATH/."""
    if isinstance(value, dict):
        return {k: respelled(value[k], k) for k in reversed(list(value))}
    if isinstance(value, list):
        return [respelled(v, key) for v in value]
    if key in ("via", "images", "tagged", "weights_dir") and isinstance(value, str):
        return f"./{value}/" if key != "via" else f"./{value}"
    return value


@pytest.mark.slow
def test_a_config_that_means_the_same_plans_nothing(complete_run: Path) -> None:
    """Reordered mappings and respelled paths (the same values) rerun nothing: no demo, COCO or training."""
    config_path = complete_run / "config" / "config.yaml"
    original = config_path.read_text()
    try:
        config = respelled(yaml.safe_load(original))
        assert config != yaml.safe_load(original) and list(config["demo"]) != list(yaml.safe_load(original)["demo"])
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        proc = snakemake(complete_run, "-n", "--cores", "2")
        assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    finally:
        config_path.write_text(original)


def test_odd_photo_folders_are_told_before_any_job(tmp_path: Path) -> None:
    """An empty predict.images warns (an error under data.strict), and preannotate says why it cannot run;
    a.jpg beside a.png is refused whatever their shards; links to photos elsewhere are named."""
    generate(tmp_path / "demo", train=2, val=1, photos=2, seed=2, size=96)
    photos = tmp_path / "photos"
    photos.mkdir()
    config = own_data_config(tmp_path / "demo", photos)
    wf = copy_workflow(tmp_path / "wf", config)
    out = snakemake(wf, "-n", "--cores", "1")
    assert f"facade-wwr: warning: predict.images: {photos} holds no photos" in out.stderr
    proc = snakemake(wf, "-n", "--cores", "1", "preannotate", check=False)
    assert proc.returncode != 0 and "preannotate: predict.images" in proc.stdout + proc.stderr
    assert "usage:" not in proc.stdout + proc.stderr
    config["data"]["strict"] = True
    copy_workflow(wf, config)
    proc = snakemake(wf, "-n", "--cores", "1", check=False)
    assert proc.returncode != 0 and "holds no photos" in proc.stdout + proc.stderr

    config["data"]["strict"] = False
    copy_workflow(wf, config)
    source = sorted((tmp_path / "demo" / "photos").glob("*.jpg"))
    shutil.copy(source[0], photos / "a.jpg")
    (photos / "b.jpg").symlink_to(source[1])
    out = snakemake(wf, "-n", "--cores", "1")
    assert "1 photos are links to files outside" in out.stderr and "b.jpg ->" in out.stderr
    Image.open(source[0]).save(photos / "a.png")
    proc = snakemake(wf, "-n", "--cores", "1", check=False)
    assert (
        proc.returncode != 0
        and "a.png and" in proc.stdout + proc.stderr
        and "would both write a.parquet" in (proc.stdout + proc.stderr)
    )


def test_a_photo_that_contributes_no_annotation_is_no_input_of_training(tmp_path: Path) -> None:
    """The real val set lists 19 photos without polygons (tagged points, or no regions at all): changing one
    planned via2coco and training again. Only photos that give an annotation are inputs (all with keep_empty)."""
    generate(tmp_path / "demo", train=2, val=1, photos=2, seed=2, size=96)
    val = tmp_path / "demo" / "val"
    annotated = next(val.glob("*.jpg"))
    bare, points = val / "bare.jpg", val / "points.jpg"
    for extra in (bare, points):
        shutil.copy(annotated, extra)
    via = json.loads((val / "via_region_data.json").read_text())
    point = {"shape_attributes": {"name": "point", "cx": 5, "cy": 5}, "region_attributes": {"tagged_id": "id_1"}}
    for extra, regions in ((bare, []), (points, [point])):
        via[extra.name] = {"filename": extra.name, "size": 1, "regions": regions, "file_attributes": {}}
    (val / "via_region_data.json").write_text(json.dumps(via))
    config = own_data_config(tmp_path / "demo")
    wf = copy_workflow(tmp_path / "wf", config)
    target = "results/coco/val.json"
    snakemake(wf, "--cores", "1", target)
    for extra in (bare, points):
        change_photo(extra)
        assert jobs_run(snakemake(wf, "-n", target)) == {}, extra.name
    change_photo(annotated)
    assert jobs_run(snakemake(wf, "-n", target)).get("via2coco") == 1
    config["data"]["keep_empty"] = True  # negatives are training photos: their changes count
    copy_workflow(wf, config)
    snakemake(wf, "--cores", "1", target)
    change_photo(bare)
    assert jobs_run(snakemake(wf, "-n", target)).get("via2coco") == 1


def test_a_dry_run_reads_well_and_overlay_format_is_a_setting(tmp_path: Path) -> None:
    """via2coco and predict jobs say what they do instead of listing every photo (via2coco printed all 130 of
    the real training set); analysis.overlay_format reaches analyze and the report; a bad one stops at once."""
    generate(tmp_path / "demo", train=3, val=1, photos=3, seed=2, size=96)
    config = tiny_config()
    config["demo"]["enabled"] = False
    for split in ("train", "val"):
        config["data"][split] = {"via": str(tmp_path / "demo" / split / "via_region_data.json")}
        config["data"][split]["images"] = str(tmp_path / "demo" / split)
    config["predict"].update(images=str(tmp_path / "demo" / "photos"), tagged=None, shard_size=50)
    config["analysis"]["overlay_format"] = "png"
    wf = copy_workflow(tmp_path / "wf", config)
    proc = snakemake(wf, "-n", "-p", "--cores", "1")
    out = proc.stdout + proc.stderr
    via = config["data"]["train"]["via"]
    assert f"via2coco: {via} -> results/coco/train.json (log: logs/via2coco_train.log)" in out
    assert (
        "predict: the photos of shard s000 -> results/predictions/s000 (threads: 1, log: logs/predict/s000.log)" in out
    )
    assert not [line for line in out.splitlines() if line.startswith("    input:") and ".jpg" in line]
    assert "--overlay-format png" in out
    config["analysis"]["overlay_format"] = "gif"
    copy_workflow(wf, config)
    proc = snakemake(wf, "-n", check=False)
    assert proc.returncode != 0 and "overlay_format" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_runtime_settings_annotated_photos_and_an_unreadable_shard(complete_run: Path, tmp_path: Path) -> None:
    run = complete_run
    snakemake(run, "--cores", "2")
    config_path = run / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["train"].update(num_workers=1, log_period=1, checkpoint_period=7)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    ran = jobs_run(snakemake(run, "--cores", "2"))
    assert not {"train", "predict", "analyze"} & set(ran), f"how a run goes is no reason to retrain: {ran}"

    train_photo = sorted((run / "results" / "demo" / "train").glob("*.jpg"))[0]
    change_photo(train_photo)  # same name and size: the COCO file stays the same
    ran = jobs_run(snakemake(run, "--cores", "2"))
    assert ran.get("via2coco") == 1 and ran.get("train") == 1 and ran.get("merge") == 1, ran
    log = (run / "logs" / "train.log").read_text()
    assert "one of its photos changed); starting over" in log and "resuming from" not in log
    assert "train 1/" in log, "the runtime settings reach the next training (log_period 1)"

    shard = sorted((run / "results" / "predictions").iterdir())[0]
    photos = [next((run / "results" / "demo" / "photos").glob(p.stem + ".*")) for p in shard.glob("*.parquet")]
    for photo in photos:
        (tmp_path / photo.name).write_bytes(photo.read_bytes())
        photo.write_bytes(b"not a photo")
    ran = jobs_run(snakemake(run, "--cores", "2"))
    assert ran.get("predict") == 1 and ran.get("analyze") == 1 and ran.get("merge") == 1, ran
    assert "no prediction files in this folder" in (run / "logs" / "analyze" / f"{shard.name}.log").read_text()
    table = pd.read_csv(run / "results" / "buildings.csv", keep_default_na=False)
    assert not {p.name for p in photos} & set(table["file_name"])
    for photo in photos:
        photo.write_bytes((tmp_path / photo.name).read_bytes())
    ran = jobs_run(snakemake(run, "--cores", "2"))
    assert ran.get("predict") == 1 and ran.get("analyze") == 1, ran
    assert len(list(shard.glob("*.parquet"))) == len(photos)


@pytest.mark.slow
def test_a_broken_via_file_is_not_passed_over(complete_run: Path) -> None:
    """A VIA file edited into invalid JSON makes via2coco run (and fail with its one-line error); an error
    raised while Snakemake lists a rule's inputs made it keep the old COCO file and say nothing."""
    via = complete_run / "results" / "demo" / "val" / "via_region_data.json"
    saved, times = via.read_bytes(), via.stat()
    try:
        via.write_text('{"broken": ')
        ran = jobs_run(snakemake(complete_run, "-n"))
        assert ran.get("via2coco") == 1, ran
    finally:
        via.write_bytes(saved)
        os.utime(via, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert jobs_run(snakemake(complete_run, "-n")) == {}


SHIM = """#!{python}
# Test shim for facade-wwr: fails (or dies half-way) for one shard, runs the real command otherwise.
import os, sys
args = sys.argv[1:]
if "analyze" in args[:3] and "{shard}" in " ".join(args):  # after --log LOG
    if "{mode}" == "kill":  # die half-way, as facade-wwr writes: into a temporary sibling, renamed at the end
        out = args[args.index("--out") + 1]
        open(os.path.join(os.path.dirname(out), ".half.tmp.parquet"), "w").write("half a table")
        os.killpg(os.getpgid(0), 9)  # the whole run dies: snakemake, its jobs, this one
    sys.exit(3)
from facade_wwr.cli import main
sys.exit(main(args))
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fail", "kill"])
def test_a_failed_or_killed_shard_is_redone_and_nothing_else(complete_run: Path, tmp_path: Path, mode: str) -> None:
    run = complete_run
    shard = sorted(p.stem for p in (run / "results" / "analysis").glob("*.parquet"))[0]
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    shim = shim_dir / "facade-wwr"
    shim.write_text(SHIM.format(python=sys.executable, shard=shard, mode=mode))
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    stem = sorted((run / "results" / "predictions" / shard).glob("*.parquet"))[0].stem
    change_photo(next((run / "results" / "demo" / "photos").glob(f"{stem}.*")))  # reruns that shard only
    env = {"PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = snakemake(run, "--cores", "1", "--keep-going", env=env, check=False, new_session=True)
    assert proc.returncode != 0
    table_path = run / "results" / "analysis" / f"{shard}.parquet"
    assert not table_path.exists(), "nothing a rerun could trust is left behind"
    if mode == "kill":
        snakemake(run, "--unlock")  # a killed run leaves its lock behind
    ran = jobs_run(snakemake(run, "--cores", "2", "--rerun-incomplete"))
    assert ran.get("analyze") == 1 and ran.get("merge") == 1 and "predict" not in ran, ran
    table = pd.read_parquet(run / "results" / "analysis" / f"{shard}.parquet")
    assert "window_percentage" in table.columns


@pytest.mark.slow
def test_preannotate_then_correct_and_retrain(complete_run: Path, tmp_path: Path) -> None:
    """The README's loop: pre-annotate, (correct in VIA,) add the export to data.train, rerun."""
    run = complete_run
    ran = jobs_run(snakemake(run, "--cores", "2", "preannotate"))
    assert ran.get("preannotate") == 1 and "predict" not in ran, ran
    via = run / "results" / "preannotations" / "photos.json"
    entries = json.loads(via.read_text())
    photos = run / "results" / "demo" / "photos"
    assert {e["filename"] for e in entries.values()} == {
        p.name for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".png")
    }
    assert (
        main(
            [
                "via2coco",
                "--via",
                str(via),
                "--images",
                str(photos),
                "--out",
                str(tmp_path / "c.json"),
                "--strict",
                "--quiet",
                "--keep-empty",
            ]
        )
        == 0
    )

    corrected = run / "data" / "corrected.json"  # stands for the user's export after correcting in VIA
    corrected.parent.mkdir(exist_ok=True)
    corrected.write_text(via.read_text())
    config = yaml.safe_load((run / "config" / "config.yaml").read_text())
    config["data"]["train"] = [
        config["data"]["train"][0],
        {"via": "data/corrected.json", "images": "results/demo/photos"},
    ]
    (run / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    ran = jobs_run(snakemake(run, "--cores", "2"))
    assert ran.get("via2coco") == 1 and ran.get("train") == 1 and ran.get("merge") == 1, ran
    assert "demo_data" not in ran and "preview" in ran


@pytest.mark.slow
def test_html_report_has_metrics_loss_histogram_and_overlays(complete_run: Path, tmp_path: Path) -> None:
    """`snakemake --report` where only facade-wwr's own dependencies are importable (pygments came only with
    pytest, through the [test] extra)."""
    pytest.importorskip("tomllib")  # Python 3.11+ reads pyproject.toml
    env = declared_only_env(tmp_path / "site")
    blocked = subprocess.run([sys.executable, "-c", "import pytest"], env={**os.environ, **env}, capture_output=True)
    assert blocked.returncode != 0, "the test extra must be out of reach here"
    snakemake(complete_run, "--report", "report.html", env=env)
    html = (complete_run / "report.html").read_text(errors="replace")
    for name in ("metrics.json", "loss.png", "wwr_histogram.png", "wwr.json", "buildings.csv"):
        assert name in html, name
    assert ".jpg" in html  # sample overlays
    line = next(line for line in html.splitlines() if "var workflow_desc = " in line)
    first_page = json.loads(line.split(" = ", 1)[1].strip().rstrip(";"))  # the page shown when the report opens
    assert "The model found (almost) nothing: these results mean nothing yet." in first_page
    assert re.search(r"model: 0/\d+ buildings found \(recall 0.000\)", first_page)


@pytest.mark.slow
def test_provenance_describes_the_results_beside_it(complete_run: Path, tmp_path: Path) -> None:
    """After a run with another config, a plain run made only provenance.json again, recording the demo config
    beside the other config's buildings.csv. Now a missing demo set is made again (and all that follows), a run
    with another config over existing results says so, and provenance refuses to record results its config did
    not make. (Last of the complete run's tests: the refused provenance.json is removed.)"""
    run = complete_run
    demo, saved = run / "results" / "demo", tmp_path / "demo"
    shutil.move(demo, saved)
    try:
        ran = jobs_run(snakemake(run, "-n"))
        assert "demo_data" in ran, ran
    finally:
        shutil.move(saved, demo)
    assert jobs_run(snakemake(run, "-n")) == {}

    generate(tmp_path / "own", train=2, val=1, photos=2, seed=4, size=96)
    own = {split: {"via": str(tmp_path / "own" / split / "via_region_data.json")} for split in ("train", "val")}
    for split in own:
        own[split]["images"] = str(tmp_path / "own" / split)
    other = tmp_path / "other.yaml"
    other.write_text(
        yaml.safe_dump(
            {"demo": {"enabled": False}, "data": own, "predict": {"images": str(tmp_path / "own" / "photos")}}
        )
    )
    # a setting only provenance records: its rerun reason shows two hashes, not the whole config twice
    tolerance = tmp_path / "tolerance.yaml"
    tolerance.write_text(yaml.safe_dump({"preannotate": {"tolerance": 2.0}}))
    proc = snakemake(run, "-n", "--configfile", str(tolerance))
    assert set(jobs_run(proc)) == {"provenance", "report_summary", "all"}, jobs_run(proc)
    reason = next(line for line in proc.stdout.splitlines() if "Params have changed" in line)
    assert "tolerance" not in reason and len(reason) < 400, reason
    assert "another config (preannotate.tolerance differ" in proc.stderr

    proc = snakemake(run, "-n", "--configfile", str(other))
    assert (
        "facade-wwr: note: the results in results/ were made with another config (data.train, data.val, "
        "demo.enabled, predict.images differ, see results/provenance.json): the jobs that depend on them rerun"
    ) in proc.stderr
    proc = snakemake(run, "--cores", "1", "--configfile", str(other), "--allowed-rules", "provenance", check=False)
    assert proc.returncode != 0
    assert (
        "facade-wwr: error: results/provenance.json: results/coco/train.summary.json: converted from "
        f"results/demo/train/via_region_data.json, but data.train is {own['train']['via']}: these results were made "
        "with another config"
    ) in proc.stderr
    assert not (run / "results" / "provenance.json").exists()


def test_geo_section_has_the_link_defaults_and_its_checks(tmp_path: Path) -> None:
    """config.yaml's geo numbers and the schema's defaults are facade-wwr link's; a bad one stops the plan with
    link's words; the stages are off outside the demo while geo.footprints is unset."""
    from dataclasses import fields

    from facade_wwr.geo_settings import GeoSettings

    root = Path(__file__).resolve().parents[1]
    schema = yaml.safe_load((root / "workflow" / "schemas" / "config.schema.yaml").read_text())
    geo_schema = schema["properties"]["geo"]["properties"]
    geo_config = yaml.safe_load((root / "config" / "config.yaml").read_text())["geo"]
    for f in fields(GeoSettings):
        assert geo_schema[f.name]["default"] == f.default, f.name
        assert geo_config[f.name] == f.default, f.name
    assert set(geo_config) == set(geo_schema)
    config = tiny_config()
    config["geo"].update(hfov_min=80, hfov_max=60)
    copy_workflow(tmp_path, config)
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0 and "geo.hfov_min 80 is above geo.hfov_max 60" in proc.stdout + proc.stderr
    generate(tmp_path / "flat", train=2, val=1, photos=2, seed=2, size=96)
    copy_workflow(tmp_path, own_data_config(tmp_path / "flat"))
    proc = snakemake(tmp_path, "-n", "--cores", "1")
    assert "link" not in jobs_run(proc) and "aggregate" not in proc.stdout + proc.stderr
