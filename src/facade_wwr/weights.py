"""Pretrained checkpoints: where they come from, where they are cached, how they are checked and loaded.

Downloading is its own step (``facade-wwr download-weights``) so that it can run where there is internet
(a login node); training only ever reads the cached file and, when it is missing, says which file to put
where. torchvision's checkpoints carry the first hex digits of their sha256 in their file names (the
convention ``torch.hub`` checks), so every download and every later use is verified against it.
detectron2 publishes no checksums: the sha256 of the first download is recorded beside the file
(``<file>.sha256``) and checked on every later use, unless the user pins one with ``--sha256``.

facade-wwr never unpickles: ``.pt``/``.pth`` files go through ``torch.load(weights_only=True)``, and
detectron2's model-zoo ``.pkl`` files (pickles) are left to the detectron2 engine, which hands them to
detectron2's own checkpointer after their sha256 was checked here.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facade_wwr.errors import UserError
from facade_wwr.fileio import atomic_path, sha256, write_text

KINDS = ("coco", "imagenet")
DETECTRON2_PREFIX = "https://dl.fbaipublicfiles.com/detectron2/"
#: detectron2 model-zoo checkpoints of the Mask R-CNN configs (from detectron2's model_zoo.py), so that
#: ``download-weights`` works on a login node without detectron2 installed.
DETECTRON2_COCO = {
    "COCO-InstanceSegmentation/mask_rcnn_R_50_C4_1x": "137259246/model_final_9243eb.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_DC5_1x": "137260150/model_final_4f86c3.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x": "137260431/model_final_a54504.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_C4_3x": "137849525/model_final_4ce675.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_DC5_3x": "137849551/model_final_84107b.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x": "137849600/model_final_f10217.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_101_C4_3x": "138363239/model_final_a2914c.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_101_DC5_3x": "138363294/model_final_0464b7.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x": "138205316/model_final_a3ec72.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_X_101_32x8d_FPN_3x": "139653917/model_final_2d9806.pkl",
}
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,64})\.")


@dataclass(frozen=True)
class WeightsFile:
    """One downloadable checkpoint. ``sha256`` is a full digest or a prefix of one ("" when none is known)."""

    engine: str
    architecture: str
    kind: str
    url: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def path(self, weights_dir: str | os.PathLike[str]) -> Path:
        """Cache location: ``<weights_dir>/<engine>/<name>``; detectron2 names (all ``model_final_*``) are
        prefixed with the config name so that two configs never share a file."""
        name = self.filename
        if self.engine == "detectron2":
            name = self.architecture.replace(".yaml", "").replace("/", "__") + "__" + name
        return Path(weights_dir) / self.engine / name


def _hash_from_name(url: str) -> str:
    m = _HASH_IN_NAME.search(url.rsplit("/", 1)[-1])
    return m.group(1) if m else ""


def _torchvision_entry(architecture: str, kind: str) -> WeightsFile | None:
    from torchvision.models import ResNet18_Weights, ResNet50_Weights
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_V2_Weights

    table = {
        ("maskrcnn_resnet50_fpn_v2", "coco"): MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
        ("maskrcnn_resnet50_fpn_v2", "imagenet"): ResNet50_Weights.IMAGENET1K_V1,
        ("maskrcnn_resnet18_fpn_small", "imagenet"): ResNet18_Weights.IMAGENET1K_V1,
    }
    enum = table.get((architecture, kind))
    if enum is None:
        return None
    return WeightsFile("torchvision", architecture, kind, enum.url, _hash_from_name(enum.url))


def _detectron2_entry(architecture: str, kind: str) -> WeightsFile | None:
    if kind != "coco":
        return None
    name = architecture.replace(".yaml", "").replace(".py", "")
    suffix = DETECTRON2_COCO.get(name)
    if suffix is not None:
        return WeightsFile("detectron2", architecture, kind, f"{DETECTRON2_PREFIX}{name}/{suffix}", "")
    try:  # any other model-zoo config, when detectron2 is installed
        from detectron2 import model_zoo
    except ImportError:
        return None
    try:
        url = model_zoo.get_checkpoint_url(architecture)
    except RuntimeError:
        return None
    return WeightsFile("detectron2", architecture, kind, url, "")


def catalogue(engine: str, architecture: str, kind: str) -> WeightsFile:
    """The official checkpoint for ``kind`` (coco / imagenet) of an architecture; UserError when none exists."""
    if kind not in KINDS:
        raise UserError(f"weights {kind!r}: downloadable weights are {' or '.join(KINDS)}")
    if engine == "torchvision":
        entry = _torchvision_entry(architecture, kind)
    elif engine == "detectron2":
        entry = _detectron2_entry(architecture, kind)
    else:
        raise UserError(f"unknown engine {engine!r}: choose torchvision or detectron2")
    if entry is None:
        raise UserError(
            f"no {kind} checkpoint is published for {engine} architecture {architecture}: "
            "use weights: none, another kind, or the path of a checkpoint"
        )
    return entry


# ---------------------------------------------------------------------------------------------- checking


sha256_of = sha256  # the file's hex digest (fileio.sha256)


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def expected_sha256(entry: WeightsFile, path: Path, pinned: str = "") -> str:
    """The digest (or prefix) a cached file must match: pinned > published > recorded at first download."""
    if pinned:
        return pinned.lower()
    if entry.sha256:
        return entry.sha256
    record = _record_path(path)
    return record.read_text(encoding="utf-8").split()[0] if record.is_file() else ""


def verify(path: Path, expected: str, source: str) -> str:
    """Check ``path`` against a digest or digest prefix; return its full sha256."""
    actual = sha256_of(path)
    if expected and not actual.startswith(expected):
        raise UserError(
            f"{path}: checksum mismatch (sha256 {actual[:16]}..., expected {expected[:16]}...); "
            f"delete it and download it again from {source}"
        )
    return actual


# ---------------------------------------------------------------------------------------------- downloading

Downloader = Callable[[str, Path], None]


def urllib_download(url: str, dest: Path) -> None:
    """Stream ``url`` into ``dest`` (``file://`` URLs work too)."""
    request = urllib.request.Request(url, headers={"User-Agent": "facade-wwr"})
    with urllib.request.urlopen(request, timeout=60) as response, open(dest, "wb") as out:
        while block := response.read(1 << 20):
            out.write(block)


def download(
    entry: WeightsFile,
    weights_dir: str | os.PathLike[str],
    sha256: str = "",
    downloader: Downloader | None = None,
    force: bool = False,
) -> tuple[Path, bool]:
    """Make sure ``entry`` is cached and verified; return its path and whether it was downloaded now.

    A cached file that verifies is reused without any network access. A download goes to a temporary
    sibling and is renamed only after it verifies, so a failed or interrupted one leaves nothing behind.
    """
    path = entry.path(weights_dir)
    if path.is_file() and not force:
        verify(path, expected_sha256(entry, path, sha256), entry.url)
        return path, False
    fetch = downloader or urllib_download
    with atomic_path(path) as tmp:
        try:
            fetch(entry.url, tmp)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            reason = getattr(e, "reason", e)
            raise UserError(
                f"cannot download {entry.url} ({reason}); without internet, fetch that URL elsewhere and "
                f"place the file at {path}" + (f" (its sha256 starts with {entry.sha256})" if entry.sha256 else "")
            ) from None
        expected = sha256.lower() or entry.sha256
        digest = verify(tmp, expected, entry.url)
    if not entry.sha256:
        write_text(_record_path(path), f"{digest}  {path.name}\n")
    return path, True


def cached(entry: WeightsFile, weights_dir: str | os.PathLike[str]) -> Path:
    """The verified cached file of ``entry``, or a UserError saying how to get it (no network access here)."""
    path = entry.path(weights_dir)
    if not path.is_file():
        raise UserError(
            f"weights: {entry.kind} needs {path}: run `facade-wwr download-weights --engine {entry.engine} "
            f"--architecture {entry.architecture} --kind {entry.kind} --dest {weights_dir}` where there is "
            f"internet, or download {entry.url} and place it there"
        )
    verify(path, expected_sha256(entry, path), entry.url)
    return path


# ---------------------------------------------------------------------------------------------- loading


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Tensors of a checkpoint file: a state dict, a facade-wwr ``model.pt``/``last.pt`` (its ``model``
    entry) or a ``{"model": state_dict}`` checkpoint. A detectron2 model-zoo ``.pkl`` is a pickle: it is
    refused here and read only by the detectron2 engine, through detectron2's own checkpointer."""
    import torch

    from facade_wwr.checkpoints import torch_load

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: weights file not found")
    if path.suffix == ".pkl":  # a pickle: facade-wwr never unpickles; detectron2's checkpointer reads these
        raise UserError(f"{path}: a detectron2 model-zoo .pkl file; only model.engine: detectron2 can start from it")
    data = torch_load(path, "expected a state dict of weights")
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        data = data["model"]
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not any(isinstance(v, torch.Tensor) for v in data.values()):
        raise UserError(f"{path}: holds no tensors (expected a state dict)")
    return {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}


def resolve(weights: str, engine: str, architecture: str, weights_dir: str | os.PathLike[str]) -> Path | None:
    """The file behind a ``model.weights`` setting: None for ``none``, the cached official checkpoint for
    ``coco``/``imagenet``, else the given path (which must exist)."""
    if weights == "none":
        return None
    if weights in KINDS:
        return cached(catalogue(engine, architecture, weights), weights_dir)
    path = Path(weights)
    if not path.is_file():
        raise UserError(f"model.weights: {weights}: no such checkpoint file (or use coco, imagenet or none)")
    return path


def load_matching(module: Any, state: dict[str, Any], source: str) -> list[str]:
    """Load the tensors of ``state`` whose names and shapes match ``module``; return notes on the rest.

    Class-specific layers (a COCO head with 81 or 91 classes) differ in shape and are left at their
    random initialisation, which is what fine-tuning on our classes wants.
    """
    own = module.state_dict()
    usable = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    if not usable:
        raise UserError(f"{source}: none of its tensors fit this architecture (wrong engine or architecture?)")
    mismatched = sorted(k for k in state if k in own and k not in usable)
    missing = sorted(k for k in own if k not in usable)
    module.load_state_dict(usable, strict=False)
    notes = [f"loaded {len(usable)} of {len(own)} tensors from {source}"]
    if mismatched:
        notes.append(f"kept random init for {len(mismatched)} tensors of another shape: {', '.join(mismatched[:6])}")
    if missing and len(missing) > len(mismatched):
        notes.append(f"{len(missing) - len(mismatched)} tensors not in the checkpoint kept their initialisation")
    return notes
