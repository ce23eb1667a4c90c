"""The two checkpoint formats and their rules: ``model.pt`` (weights to predict with) and ``last.pt`` (a run
to resume).

Both are plain ``torch.save`` dicts of tensors and JSON-able values, read with ``weights_only=True`` (no
pickle of code), and share one header (:func:`header`): enough to rebuild the network, plus the training
data's fingerprint and the facade-wwr version, so that a run never resumes on other data, nor one written
by another version. A file is written from an in-memory archive, so the same tensors give the same bytes
(``torch.save`` to a path records the temporary file's name inside the archive) and hence the same model id.
"""

from __future__ import annotations

import dataclasses
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from facade_wwr import __version__
from facade_wwr.errors import UserError
from facade_wwr.fileio import atomic_path, sha256
from facade_wwr.settings import RESUMABLE_CHANGES, ModelSettings, TrainSettings

MODEL_FORMAT = "facade-wwr/model/1"
LAST_FORMAT = "facade-wwr/last/1"


def header(
    engine: str, model: ModelSettings, train: TrainSettings, classes: Sequence[str], train_data: str = ""
) -> dict[str, Any]:
    """The JSON-able metadata stored in ``model.pt`` and ``last.pt``; ``train_data`` is the fingerprint of the
    training set (:meth:`facade_wwr.training.CocoTrainSet.fingerprint`)."""
    return {
        "engine": engine,
        "facade_wwr": __version__,
        "train_data": train_data,
        "architecture": model.architecture,
        "classes": list(classes),
        "model_settings": dataclasses.asdict(model),
        # the settings that decide what is learnt: how a run went (RESUMABLE_CHANGES) would change the model id
        "train_settings": {k: v for k, v in dataclasses.asdict(train).items() if k not in RESUMABLE_CHANGES},
    }


def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def save(path: str | Path, data: dict[str, Any]) -> None:
    """Write a checkpoint atomically; the same data always gives the same bytes."""
    buffer = io.BytesIO()
    torch.save(data, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def save_model(path: str | Path, head: dict[str, Any], module: torch.nn.Module, iteration: int) -> None:
    """Write ``model.pt``: the weights (a plain state dict) and the metadata of :func:`header`."""
    save(path, dict(head, format=MODEL_FORMAT, iteration=iteration, model=cpu_state(module)))


def file_id(path: str | Path) -> str:
    """The model id written into prediction files: the first 12 hex digits of the checkpoint's sha256."""
    return sha256(path)[:12]


def model_file(path: str | Path) -> Path:
    """``MODEL_DIR`` or a checkpoint file inside it."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise UserError(f"{path}: model checkpoint not found (train one with `facade-wwr train`)")
    return path


def torch_load(path: str | Path, fix: str) -> Any:
    """``torch.load(weights_only=True)``; a failure is one line saying what the file is, then ``fix`` (never
    torch's own advice, which is to unpickle the file). A file that cannot be read is an OSError, as it is."""
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols: not the user's concern here
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as e:  # pickled objects, a damaged archive, or no torch file at all
        with open(path, "rb") as f:
            head = f.read(4)
        if head.startswith(b"PK"):  # a zip archive: torch's format since 1.6
            pickled = type(e).__name__ == "UnpicklingError"  # torch refused an object it would have to unpickle
            why = "it holds pickled Python objects (a model saved whole?)" if pickled else "a damaged PyTorch file"
        elif head[:1] == b"\x80":  # a pickle's protocol byte
            why = "a pickle"
        else:
            why = "not a PyTorch file"
        never = ", which facade-wwr never loads" if "pickle" in why else ""
        raise UserError(f"{path}: {why}{never}; {fix}") from None


def read_model(path: Path) -> dict[str, Any]:
    """A ``model.pt``; anything else is a one-line UserError."""
    ckpt = torch_load(path, "train one with `facade-wwr train`")
    if not isinstance(ckpt, dict) or "model" not in ckpt or "engine" not in ckpt or "classes" not in ckpt:
        raise UserError(f"{path}: not a facade-wwr model checkpoint (train one with `facade-wwr train`)")
    return ckpt


def read_last(path: Path) -> dict[str, Any]:
    """A ``last.pt``; anything else is a one-line UserError."""
    ckpt = torch_load(path, "rerun with --restart")
    if not isinstance(ckpt, dict) or ckpt.get("format") != LAST_FORMAT:
        raise UserError(f"{path}: not a facade-wwr training checkpoint; rerun with --restart")
    return ckpt


def resume_difference(ckpt: dict[str, Any], head: dict[str, Any]) -> str | None:
    """Why a checkpoint cannot be resumed with this header (the first difference), or None if it can.

    Only logging, checkpointing, loader processes and the device may change between an interrupted run
    and its resumption; anything else would make the result differ from an uninterrupted run.
    """
    if ckpt.get("facade_wwr") != head["facade_wwr"]:
        was = f"facade-wwr {ckpt['facade_wwr']}" if ckpt.get("facade_wwr") else "an earlier facade-wwr"
        return f"written by {was}, this is {head['facade_wwr']}"
    if ckpt.get("train_data") != head["train_data"]:
        return "written for other training data (the COCO file or one of its photos changed)"
    for key in ("engine", "classes"):
        if ckpt.get(key) != head[key]:
            return f"written for {key} {ckpt.get(key)!r}, now {head[key]!r}"
    for section in ("model_settings", "train_settings"):
        old, new = ckpt.get(section, {}), head[section]
        for key in sorted((set(old) | set(new)) - RESUMABLE_CHANGES):
            if old.get(key) != new.get(key):
                name = ("model." if section == "model_settings" else "train.") + key
                return f"written with {name}={old.get(key)!r}, now {new.get(key)!r}"
    return None
