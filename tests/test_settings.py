"""One rule per setting: `facade-wwr train --set` and the workflow refuse the same values, each in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from facade_wwr.cli import main
from facade_wwr.errors import UserError
from facade_wwr.settings import check, finite_problem, load_settings
from tests.helpers import copy_workflow, default_config, snakemake

#: (section, key, value, what the message says)
BAD = [
    ("train", "momentum", -1, "train.momentum: must not be negative"),
    ("train", "base_lr", 0, "train.base_lr: must be positive"),
    ("train", "base_lr", float("nan"), "train.base_lr: nan is not a finite number"),
    ("train", "weight_decay", float("inf"), "train.weight_decay: inf is not a finite number"),
    ("train", "grad_clip", float("nan"), "train.grad_clip: nan is not a finite number"),
    ("train", "max_iter", 0, "train.max_iter: must be at least 1"),
    ("train", "optimizer", "adam", "train.optimizer: 'adam' is not one of sgd, adamw"),
    ("train", "device", "gpu", "train.device: 'gpu' is not auto, cpu, cuda or cuda:N"),
    ("model", "min_size", 16, "model.min_size: must be at least 32"),
    ("model", "engine", "mmdet", "model.engine: 'mmdet' is not one of torchvision, detectron2"),
]


@pytest.mark.parametrize("section, key, value, message", BAD)
def test_cli_refuses(section: str, key: str, value, message: str, tmp_path: Path, capsys) -> None:
    argv = ["train", "--train", str(tmp_path / "t.json"), "--out", str(tmp_path / "m"), "--set"]
    assert main([*argv, f"{section}.{key}={value}"]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_workflow_refuses_the_same(tmp_path: Path) -> None:
    """Each bad value in the workflow config stops `snakemake -n` before any job, with the same words."""
    for section, key, value, message in BAD:
        config = default_config()
        config[section][key] = value
        wf = copy_workflow(tmp_path / f"{section}-{key}-{value}", config)
        proc = snakemake(wf, "-n", "--cores", "1", check=False)
        assert proc.returncode != 0 and message in proc.stdout + proc.stderr, (section, key, value)
    for section, key in (("predict", "min_score"), ("analysis", "score_threshold"), ("preannotate", "tolerance")):
        config = default_config()
        config[section][key] = float("nan")
        proc = snakemake(copy_workflow(tmp_path / f"{section}-{key}", config), "-n", "--cores", "1", check=False)
        assert proc.returncode != 0 and f"config: {section}.{key}: nan is not a finite number" in proc.stdout


def test_numbers_spelt_as_text_are_numbers() -> None:
    """YAML reads 1e-3 as text: the CLI and the workflow take it as the number it spells."""
    assert check("train", {"base_lr": "1e-3", "max_iter": "100", "warmup_iters": 5.0}) == {
        "base_lr": 0.001,
        "max_iter": 100,
        "warmup_iters": 5,
    }


def test_every_number_of_a_config_is_finite(tmp_path: Path) -> None:
    assert finite_problem({"analysis": {"score_threshold": float("nan")}}) == (
        "analysis.score_threshold: nan is not a finite number"
    )
    assert finite_problem({"data": {"train": [{"via": "a"}]}, "predict": {"min_score": 0.05}}) is None
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"train": {"momentum": float("nan")}}))
    with pytest.raises(UserError, match="train.momentum: nan is not a finite number"):
        load_settings(cfg)


def test_an_installed_package_finds_its_schema(tmp_path: Path) -> None:
    """The schema ships inside the package: a plain (non-editable) install reads it away from the repository."""
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ there
    shutil.copytree(root / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(tmp_path)], check=True)
    wheel = next(tmp_path.glob("facade_wwr-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(tmp_path / "site"), str(wheel)], check=True)
    code = "from facade_wwr import settings; print(settings.__file__, sorted(settings.schema()['$defs']))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site")},
        text=True,
        capture_output=True,
        check=True,
    ).stdout
    assert str(tmp_path / "site") in out and "['model', 'train']" in out


def test_messages_name_what_is_wrong(tmp_path: Path) -> None:
    """A typo in --set blames --set, not the config file before it; integers spelt as text stay exact."""
    cfg = tmp_path / "ok.yaml"
    cfg.write_text("train:\n  max_iter: 5\n")
    with pytest.raises(UserError, match=r"^--set: unknown setting train.lr "):
        load_settings(cfg, [("train", "lr", 0.1)])
    with pytest.raises(UserError, match="section model must be a mapping"):
        check("model", "resnet50")
    assert check("train", {"seed": "12345678901234567891"})["seed"] == 12345678901234567891


@pytest.mark.slow
def test_the_workflow_reads_numbers_spelt_as_text_and_says_things_once(tmp_path: Path) -> None:
    config = default_config()
    config["predict"]["min_score"] = "5e-2"  # as YAML reads 5e-2
    config["analysis"]["score_threshold"] = "7e-1"
    config["predict"]["tagged"] = ""  # empty means none, also after the paths are normalised
    proc = snakemake(copy_workflow(tmp_path / "ok", config), "-n", "-p", "--cores", "1")
    assert "--tagged" not in proc.stdout
    config = default_config()
    config["train"]["foo"] = 1
    proc = snakemake(copy_workflow(tmp_path / "typo", config), "-n", "--cores", "1", check=False)
    assert "config: unknown setting train.foo" in proc.stdout and "config: config:" not in proc.stdout
    config["train"] = "fast"
    proc = snakemake(copy_workflow(tmp_path / "flat", config), "-n", "--cores", "1", check=False)
    assert "config: section train must be a mapping" in proc.stdout
