"""What the tests share (test modules import from here, never from each other): small data and models made
the way a user's would be, and running the Snakemake workflow in a scratch copy of the project.

The data are the project's own synthetic facades (``facade_wwr.demo``) at a small size, converted with
``via2coco``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
import yaml

from facade_wwr.coco import Source, load_coco, via_to_coco
from facade_wwr.demo import generate
from facade_wwr.engines import get_engine
from facade_wwr.errors import Warnings
from facade_wwr.settings import ModelSettings, TrainSettings

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "workflow", "config", "profiles")


def copy_workflow(dest: Path, config: dict[str, Any] | None = None) -> Path:
    """Copy the workflow into ``dest`` (results and logs stay there); optionally replace its config."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    if config is not None:
        (dest / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def _top_level_modules(dist: importlib.metadata.Distribution) -> set[str]:
    """The importable top-level names a distribution installs."""
    names = set()
    for file in dist.files or []:
        first = file.parts[0] if file.parts else ""
        if first in ("..", "__pycache__") or first.endswith((".dist-info", ".data", ".pth")):
            continue
        names.add(first.split(".")[0] if len(file.parts) == 1 else first)
    return names


def declared_only_env(folder: Path) -> dict[str, str]:
    """Environment variables under which Python can import only what facade-wwr declares: its
    ``pyproject.toml`` dependencies (no extras) and theirs, as after a plain ``pip install -e .``. Every other
    installed distribution (the ``[test]`` extra's pytest and what it brought, say) is unimportable, through a
    ``sitecustomize`` module written into ``folder``."""
    import tomllib
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    wanted: dict[str, importlib.metadata.Distribution] = {}
    todo = [
        (Requirement(r), ("",)) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ]
    todo.append((Requirement("facade-wwr"), ("",)))
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        if name in wanted or (req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras)):
            continue
        try:
            wanted[name] = importlib.metadata.distribution(req.name)
        except importlib.metadata.PackageNotFoundError:
            continue
        todo += [(Requirement(r), ("", *req.extras)) for r in wanted[name].requires or []]
    allowed = set().union(*(_top_level_modules(d) for d in wanted.values()))
    others = [d for d in importlib.metadata.distributions() if canonicalize_name(d.metadata["Name"]) not in wanted]
    blocked = set().union(*(_top_level_modules(d) for d in others)) - allowed - set(sys.stdlib_module_names)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import sys\n"
        f"BLOCKED = {sorted(blocked)!r}\n"
        "class Undeclared:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in BLOCKED:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (undeclared)', name=name)\n"
        "sys.meta_path.insert(0, Undeclared())\n"
    )
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)}


def default_config() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def tiny_config() -> dict[str, Any]:
    """The default workflow config at the smallest sizes that still run every stage."""
    config = default_config()
    config["demo"].update(train=6, val=3, photos=6, seed=1, blocks=1, size="192x144")
    config["preview"]["n"] = 2
    config["predict"].update(shard_size=2, batch_size=2)
    config["train"].update(max_iter=2, ims_per_batch=2)
    return config


def own_data_config(demo: Path, photos: Path | None = None) -> dict[str, Any]:
    """tiny_config() pointed at a flat demo data set made by the test in ``demo`` (demo generation off), as a
    user's own data would be; ``photos`` (default: the demo's) is predict.images, with no tagged points."""
    config = tiny_config()
    config["demo"]["enabled"] = False
    for split in ("train", "val"):
        config["data"][split] = {"via": str(demo / split / "via_region_data.json"), "images": str(demo / split)}
    config["predict"].update(images=str(photos or demo / "photos"), tagged=None)
    return config


def snakemake(
    workdir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: int = 1800,
    new_session: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run snakemake from the test's Python environment in ``workdir``; output captured as text.

    ``new_session`` puts snakemake and its jobs in a process group of their own, so that a test can kill
    the whole run without killing pytest.
    """
    bin_dir = str(Path(sys.executable).parent)
    full_env = {**os.environ, **(env or {})}
    full_env["PATH"] = full_env.get("PATH", "") + os.pathsep + bin_dir  # a test's own PATH entries come first
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        env=full_env,
        text=True,
        capture_output=True,
        timeout=timeout,
        start_new_session=new_session,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def jobs_run(proc: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """Rule -> number of jobs from the 'Job stats' table snakemake prints (empty when nothing ran)."""
    counts: dict[str, int] = {}
    lines = (proc.stdout + proc.stderr).splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip().startswith("Job stats:"))
    except StopIteration:
        return counts
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        if parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def coco_splits(folder: Path, out: Path) -> dict[str, Path]:
    """``folder/<split>/via_region_data.json`` (a demo or the real data set) converted into ``out/<split>.json``
    for train and val, quietly; returns their paths."""
    paths = {}
    for split in ("train", "val"):
        paths[split] = out / f"{split}.json"
        source = Source(str(folder / split / "via_region_data.json"), str(folder / split))
        via_to_coco([source], paths[split], warnings=Warnings(quiet=True))
    return paths


#: the small architecture at a tiny input size: a training iteration takes about a second on 2 cores
SMALL = ModelSettings(architecture="maskrcnn_resnet18_fpn_small", weights="none", min_size=96, max_size=128)
FAST = TrainSettings(
    max_iter=2,
    ims_per_batch=2,
    optimizer="adamw",
    base_lr=1e-3,
    weight_decay=0.05,
    warmup_iters=1,
    grad_clip=10.0,
    roi_batch_size_per_image=64,
    rpn_batch_size_per_image=64,
    checkpoint_period=0,
    log_period=1,
    num_workers=0,
    device="cpu",
)


def make_data(out: Path, train: int = 4, val: int = 2, photos: int = 2, size: int = 96, seed: int = 3) -> dict:
    """Demo data in ``out`` plus ``train.json`` / ``val.json``; returns their paths."""
    generate(out / "demo", train=train, val=val, photos=photos, seed=seed, size=size)
    paths = coco_splits(out / "demo", out)
    paths["photos"] = sorted((out / "demo" / "photos").glob("*.jpg"))
    return paths


def with_classes(coco_path: Path, out: Path, classes: list[str]) -> Path:
    """A copy of a COCO file with other class names (and possibly more classes than annotated)."""
    coco = load_coco(coco_path)
    coco["categories"] = [{"id": i, "name": n, "supercategory": "facade"} for i, n in enumerate(classes)]
    for im in coco["images"]:
        im["path"] = str((coco_path.parent / im["path"]).resolve())
    out.write_text(json.dumps(coco))
    return out


def untrained_model(out_dir: Path, classes: list[str], model: ModelSettings = SMALL, seed: int = 0) -> Path:
    """A ``model.pt`` of a randomly initialised network, written the way ``train`` writes it."""
    from facade_wwr.checkpoints import header, save_model
    from facade_wwr.training import prepare_settings

    engine = get_engine(model.engine)
    model = prepare_settings(engine, model)
    torch.manual_seed(seed)
    module = engine.build(model, FAST, classes)
    path = out_dir / "model.pt"
    out_dir.mkdir(parents=True, exist_ok=True)
    save_model(path, header(engine.name, model, FAST, classes), module, 0)
    return path


def ground_truth_predictions(images: Path, via: Path, out: Path, names: list[str] | None = None) -> list[Path]:
    """Prediction files made from a VIA file's polygons (``via2coco`` + ``predictions.from_coco``, score 1), one
    ``out/<stem>.parquet`` per annotated photo (or only those in ``names``); returns their paths."""
    from facade_wwr import predictions

    out.mkdir(parents=True, exist_ok=True)
    coco_path = out.parent / f".{out.name}.coco.json"
    via_to_coco([Source(str(via), str(images))], coco_path, warnings=Warnings(quiet=True))
    coco = load_coco(coco_path)
    written = []
    for image in coco["images"]:
        if names is not None and image["file_name"] not in names:
            continue
        table = predictions.from_coco(coco, image["id"])
        path = out / f"{Path(image['file_name']).stem}.parquet"
        predictions.write(path, table, image["file_name"], image["width"], image["height"], "truth", "truth")
        written.append(path)
    return written
