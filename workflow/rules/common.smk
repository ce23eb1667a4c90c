# Config validation, input functions and wildcard constraints shared by every stage.

import hashlib
import json
import os
import shlex
import sys
from pathlib import Path

import yaml

from snakemake.utils import validate

from facade_wwr.settings import RESUMABLE_CHANGES, SECTIONS, check, coerce_numbers, finite_problem
from facade_wwr.errors import UserError, Warnings
from facade_wwr.images import list_images, safe_image_path
from facade_wwr.shards import assign
from facade_wwr.via import read_via


# The model and train sections get the very check `facade-wwr train` makes (facade_wwr.settings: the package's
# schema, numbers spelt as text such as YAML's 1e-3 made numbers), so the two accept and refuse the same values;
# and JSON schema lets NaN and infinity through minimum/maximum, so every number of the config is checked.
with open(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml", encoding="utf-8") as _f:
    _numbers = coerce_numbers(dict(config), yaml.safe_load(_f))  # YAML reads 5e-2 as text: a number here
config.update(_numbers)
for _section in SECTIONS:
    try:
        config[_section] = check(_section, config.get(_section) or {}, "config")
    except UserError as e:
        raise WorkflowError(str(e))
if finite_problem(config):
    raise WorkflowError(f"config: {finite_problem(config)}")
validate(config, schema="../schemas/config.schema.yaml")

# Spellings that mean the same plan the same jobs: every mapping sorted by key (Snakemake compares dict params
# in order) and every path normalised (`./data/` is `data`), once, here; lists keep their order (the order of
# data.classes is the category ids).
PATH_KEYS = {"data.train.via", "data.train.images", "data.val.via", "data.val.images", "predict.images"}
PATH_KEYS |= {"predict.tagged", "model.weights_dir"}  # not model.weights: ./coco is a file, coco a kind
PATH_KEYS |= {"geo.footprints", "geo.truth", "geo.cea_architecture"}


def normalised(value, key=""):
    if isinstance(value, dict):
        return {k: normalised(value[k], f"{key}.{k}" if key else k) for k in sorted(value)}
    if isinstance(value, list):
        return [normalised(v, key) for v in value]
    return os.path.normpath(value) if key in PATH_KEYS and isinstance(value, str) and value else value


_normalised = normalised(config)
config.clear()
config.update(_normalised)
#: what results/provenance.json records as config_sha256 (the rule's parameter: a config edit reruns provenance)
CONFIG_SHA256 = hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

# Analysis reads category ids: window 0, building 1 (the prediction-file contract), whatever the names.
for name, index in (("window", 0), ("building", 1)):
    if name in config["data"]["classes"] and config["data"]["classes"].index(name) != index:
        raise WorkflowError(f"data.classes: {name!r} must be class {index + 1} (window first, building second)")

# Rules call the `facade-wwr` command: the one on PATH, else the one next to the Python running Snakemake,
# so that `.venv/bin/snakemake --cores all` works without activating the venv first.
shell.prefix(f'set -euo pipefail; export PATH="$PATH:{Path(sys.executable).parent}"; ')


wildcard_constraints:
    shard=r"s\d+",
    split="train|val",


RESULTS = Path("results")
LOGS = Path("logs")
BENCHMARKS = RESULTS / "benchmarks"
DEMO = RESULTS / "demo"
PREANNOTATIONS = RESULTS / "preannotations" / f"{Path(config['predict']['images']).name}.json"
#: the report's first page (written by report_summary, shown by the Snakefile's `report:`)
REPORT_SUMMARY = RESULTS / "report/summary.rst"


def sources(split):
    """The configured VIA sources of a split, always as a list of {via, images}."""
    value = config["data"][split]
    return value if isinstance(value, list) else [value]


def differences(old, new, key=""):
    """The dotted keys whose values differ between two configs (lists compared whole)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            yield from differences(old.get(k), new.get(k), f"{key}.{k}" if key else k)
    elif old != new:
        yield key


def note_another_config():
    """A run with another config over existing results says so: results/provenance.json records the config
    of the run that made them. (Its provenance job refuses to record results that this config did not make.)"""
    path = RESULTS / "provenance.json"
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(previous, dict) or previous.get("config_sha256") == CONFIG_SHA256:
        return
    changed = list(differences(previous.get("config"), json.loads(json.dumps(config, default=str))))
    if changed:
        listed = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        print(
            f"facade-wwr: note: the results in {RESULTS}/ were made with another config ({listed} differ, see "
            f"{path}): the jobs that depend on them rerun",
            file=sys.stderr,
        )


note_another_config()


def demo_ready():
    """Wait for the demo data checkpoint (only when the demo is enabled); it creates the photo folders."""
    if config["demo"]["enabled"]:
        checkpoints.demo_data.get()


def via2coco_args(wildcards):
    args = []
    for source in sources(wildcards.split):
        args += ["--via", source["via"], "--images", source["images"]]
    return " ".join(shlex.quote(a) for a in args)


def via_inputs(wildcards):
    return [source["via"] for source in sources(wildcards.split)]


_via_photos_cache = {}


def via_photos(wildcards):
    """The photos a split's VIA files annotate, so that replacing an annotated photo reruns via2coco and
    training. Photos that contribute no annotation (listed without regions, or with tagged points only) are
    left out unless data.keep_empty keeps them: touching one must not retrain. Names that are missing or
    unsafe are left out here too: via2coco reports them. Cached per state of each VIA file."""
    demo_ready()
    data = config["data"]
    photos = []
    for source in sources(wildcards.split):
        via = Path(source["via"])
        if not via.is_file():
            continue  # made by another rule: its photos are known once it has run
        key = (str(via), via.stat().st_mtime_ns, source["images"])
        if key not in _via_photos_cache:
            try:
                images = read_via(via, data["class_attribute"], data["classes"], warnings=Warnings(quiet=True)).images
            except UserError:
                # via2coco reports it. (Raised here, the error would make Snakemake keep the old COCO file.)
                continue
            names = [im.filename for im in images if im.polygons or data["keep_empty"]]
            _via_photos_cache[key] = [str(p) for p in (safe_photo(source, n) for n in names) if p]
        photos += _via_photos_cache[key]
    return photos


def safe_photo(source, name):
    """The path of an annotated photo inside the source's images folder, or None if absent or unsafe."""
    try:
        path = safe_image_path(source["images"], name, source["via"])
    except UserError:
        return None
    return path if path.is_file() else None


_shards_cache = {}


def shards():
    """{shard id: photo names} of predict.images (see facade_wwr.shards for the stable assignment).

    Computed once per state of the folder (its mtime changes when photos are added or removed), not once
    per input-function call: with 10,000 photos that is the difference between seconds and minutes.
    """
    demo_ready()
    folder = Path(config["predict"]["images"])
    if not folder.is_dir():
        raise WorkflowError(f"predict.images: {folder} is not a folder of photos")
    key = (str(folder), folder.stat().st_mtime_ns)
    if key not in _shards_cache:
        photos = list_images(folder)
        check_photo_folder(folder, photos)
        names = [p.name for p in photos]
        _shards_cache.clear()
        _shards_cache[key] = assign(names, config["predict"]["shard_size"])
    return _shards_cache[key]


def check_photo_folder(folder, photos):
    """Before any job: two photos that would write one prediction file are refused (whatever their shards); an
    empty folder is a warning (an error under data.strict); links to photos outside the folder are named."""
    stems = {}
    for photo in photos:
        if photo.stem in stems:
            raise WorkflowError(
                f"predict.images: {photo} and {stems[photo.stem]} would both write {photo.stem}.parquet: rename one"
            )
        stems[photo.stem] = photo
    if not photos:
        message = f"predict.images: {folder} holds no photos, so the building table will be empty"
        if config["data"]["strict"]:
            raise WorkflowError(message)
        print(f"facade-wwr: warning: {message}", file=sys.stderr)
    inside = folder.resolve()
    links = [p for p in photos if p.is_symlink() and not p.resolve().is_relative_to(inside)]
    if links:
        print(
            f"facade-wwr: note: predict.images: {len(links)} photos are links to files outside {folder}, read "
            f"where they point (e.g. {links[0].name} -> {links[0].resolve()})",
            file=sys.stderr,
        )


def shard_photos(wildcards):
    folder = Path(config["predict"]["images"])
    return [str(folder / name) for name in shards()[wildcards.shard]]


def shard_tables(wildcards):
    return expand(RESULTS / "analysis/{shard}.parquet", shard=shards())


def model_setting(key):
    """model.<key> from the config, else the code's default (facade_wwr.settings.ModelSettings)."""
    if key in config["model"]:
        return config["model"][key]
    from facade_wwr.settings import ModelSettings

    return getattr(ModelSettings(), key)


def weights_input(wildcards):
    """The file model.weights names (the cached download, or the user's checkpoint): replacing it retrains."""
    kind = model_setting("weights")
    if kind == "none":
        return []
    return [pretrained_weights() or kind]


def pretrained_weights():
    """The cached checkpoint that model.weights: coco|imagenet needs (downloaded by a local job), or None."""
    kind = model_setting("weights")
    if kind not in ("coco", "imagenet"):
        return None
    from facade_wwr.weights import catalogue

    try:
        entry = catalogue(model_setting("engine"), model_setting("architecture"), kind)
    except UserError as e:
        raise WorkflowError(f"model.weights: {e}")
    return str(entry.path(model_setting("weights_dir")))


# Train settings that change how a run goes, not what it learns (facade_wwr.settings.RESUMABLE_CHANGES).
# They go into model/train-runtime.yaml, an ancient() input of train: editing them rewrites that file but
# never retrains a model; the next training reads them.
TRAIN_RUNTIME_KEYS = sorted(RESUMABLE_CHANGES)


def train_sections():
    """The model and train sections that decide what a model learns (model/train-config.yaml), keys sorted:
    reordering keys in the config file changes nothing."""
    train = {k: v for k, v in sorted(config["train"].items()) if k not in TRAIN_RUNTIME_KEYS}
    return {"model": dict(sorted(config["model"].items())), "train": train}


def train_runtime_sections():
    """The train settings of TRAIN_RUNTIME_KEYS (model/train-runtime.yaml)."""
    return {"train": {k: v for k, v in sorted(config["train"].items()) if k in TRAIN_RUNTIME_KEYS}}


def preannotate_inputs(wildcards):
    if not shards():
        raise WorkflowError(f"preannotate: predict.images {config['predict']['images']} holds no photos to pre-annotate")
    return expand(RESULTS / "predictions/{shard}", shard=shards())


def tagged_input(wildcards):
    tagged = config["predict"].get("tagged")
    return [tagged] if tagged else []


def geo_settings():
    """The effective geo section, or None while the geographic stages are off: geo.footprints, else in the
    demo its city's footprints (and its truth for evaluate-geo). The numbers get facade-wwr link's check."""
    geo = dict(config.get("geo") or {})
    if not geo.get("footprints") and config["demo"]["enabled"]:
        geo["footprints"] = str(DEMO / "footprints.geojson")
        geo["truth"] = geo.get("truth") or str(DEMO)
    if not geo.get("footprints"):
        return None
    from dataclasses import fields

    from facade_wwr.geo_settings import GeoSettings

    try:
        GeoSettings(**{f.name: geo[f.name] for f in fields(GeoSettings) if f.name in geo}).check()
    except UserError as e:
        raise WorkflowError(str(e))
    return geo


GEO = geo_settings()
#: the footprint index the link jobs read (rule index_footprints)
FOOTPRINT_INDEX = RESULTS / "geo/footprints.parquet"
EXIF = "exif"


def geo_options():
    """The geo.* settings of facade-wwr link as its options (declination only where set)."""
    from dataclasses import fields

    from facade_wwr.geo_settings import GeoSettings, option_name

    options = []
    for f in fields(GeoSettings):
        value = GEO.get(f.name, f.default)
        if value is not None:
            options += [option_name(f.name), str(value)]
    return " ".join(shlex.quote(o) for o in options)


def footprint_columns():
    return " ".join(
        shlex.quote(o) for o in ("--id-column", GEO["id_column"], "--height-column", GEO["height_column"])
    )


def pose_inputs(wildcards):
    """The pose files of geo.poses (exif is read from the photos)."""
    return [source for source in GEO["poses"] if source != EXIF]


def link_photos(wildcards):
    """The shard's photos, where link reads them: EXIF poses or overlays (a replaced photo relinks)."""
    return shard_photos(wildcards) if EXIF in GEO["poses"] or GEO["overlays"] else []


def shard_links(wildcards):
    return expand(RESULTS / "links/{shard}.parquet", shard=shards()) if GEO else []


def cea_architecture_input(wildcards):
    return [GEO["cea_architecture"]] if GEO and GEO.get("cea_architecture") else []


def geo_truth_inputs(wildcards):
    from facade_wwr.geo_evaluation import TRUTH_FILES

    return [str(Path(GEO["truth"]) / name) for name in TRUTH_FILES]


def all_outputs(wildcards):
    # The demo's files are targets themselves: left to the checkpoint's dependants (whose input functions wait
    # for it), a deleted demo set was never remade where the results of another config already stood.
    outputs = [rules.demo_data.output.truth] if config["demo"]["enabled"] else []
    outputs += [
        RESULTS / "buildings.csv",
        RESULTS / "evaluation/wwr.json",
        RESULTS / "report/wwr_histogram.png",
        RESULTS / "provenance.json",
        REPORT_SUMMARY,
    ]
    if config["preview"]["n"] > 0:
        outputs.append(RESULTS / "previews/train")
    if config["analysis"]["overlays"]:
        outputs.append(RESULTS / "report/overlays")
    if GEO:
        outputs += [RESULTS / "footprints.gpkg", RESULTS / "report/footprints_map.png"]
        if GEO.get("truth"):
            outputs.append(RESULTS / "evaluation/geo.json")
    return outputs
