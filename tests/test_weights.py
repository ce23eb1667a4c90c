"""Pretrained weights: catalogue, download with checksum, cache reuse, offline message, safe loading.

No test touches the network: downloads are ``file://`` URLs of checkpoints the tests write, or a
downloader that fails the way an offline machine does.
"""

from __future__ import annotations

import hashlib
import urllib.error
from pathlib import Path

import pytest
import torch

from facade_wwr import weights
from facade_wwr.cli import main
from facade_wwr.engines import get_engine
from facade_wwr.errors import UserError
from facade_wwr.settings import ModelSettings
from tests.helpers import FAST, SMALL, untrained_model


def _checkpoint(folder: Path, stem: str = "tiny_coco") -> tuple[Path, str]:
    """A small state dict saved under torchvision's naming scheme ``<stem>-<sha256 prefix>.pth``."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "tmp.pth"
    torch.save({"a.weight": torch.arange(6.0).reshape(2, 3), "a.bias": torch.zeros(2)}, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = folder / f"{stem}-{digest[:8]}.pth"
    tmp.rename(path)
    return path, digest


def _entry(path: Path, sha: str | None = None, engine: str = "torchvision") -> weights.WeightsFile:
    sha = weights._hash_from_name(path.name) if sha is None else sha
    return weights.WeightsFile(engine, "maskrcnn_tiny", "coco", path.as_uri(), sha)


def _no_network(url: str, dest: Path) -> None:
    raise AssertionError(f"network used for {url}")


# ---------------------------------------------------------------------------------------------- catalogue


def test_catalogue_torchvision() -> None:
    e = weights.catalogue("torchvision", "maskrcnn_resnet50_fpn_v2", "coco")
    assert e.url.startswith("https://download.pytorch.org/models/maskrcnn_resnet50_fpn_v2_coco-")
    assert len(e.sha256) >= 8 and e.sha256 in e.filename
    assert e.path("resources/weights") == Path("resources/weights/torchvision") / e.filename
    assert "resnet18" in weights.catalogue("torchvision", "maskrcnn_resnet18_fpn_small", "imagenet").url
    with pytest.raises(UserError, match="no coco checkpoint is published.*maskrcnn_resnet18_fpn_small"):
        weights.catalogue("torchvision", "maskrcnn_resnet18_fpn_small", "coco")


def test_catalogue_detectron2_without_detectron2() -> None:
    e = weights.catalogue("detectron2", "COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x.yaml", "coco")
    assert e.url == (
        "https://dl.fbaipublicfiles.com/detectron2/COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x/"
        "138205316/model_final_a3ec72.pkl"
    )
    assert e.sha256 == ""  # detectron2 publishes none: recorded at first download
    assert e.path("w").name == "COCO-InstanceSegmentation__mask_rcnn_R_101_FPN_3x__model_final_a3ec72.pkl"


# ---------------------------------------------------------------------------------------------- download


def test_download_verify_and_reuse(tmp_path: Path) -> None:
    src, digest = _checkpoint(tmp_path / "server")
    dest = tmp_path / "weights"
    path, fetched = weights.download(_entry(src), dest)
    assert fetched and path == dest / "torchvision" / src.name
    assert path.read_bytes() == src.read_bytes()
    # cached: verified again, never downloaded again
    again, fetched = weights.download(_entry(src), dest, downloader=_no_network)
    assert again == path and not fetched
    assert weights.cached(_entry(src), dest) == path
    assert weights.download(_entry(src), dest, sha256=digest, downloader=_no_network)[0] == path


def test_checksum_mismatch_leaves_nothing(tmp_path: Path) -> None:
    src, _ = _checkpoint(tmp_path / "server")
    dest = tmp_path / "weights"
    with pytest.raises(UserError, match="checksum mismatch"):
        weights.download(_entry(src, sha="00000000"), dest)
    assert not any(p.is_file() for p in dest.rglob("*"))
    # a cached file that was altered afterwards is refused too
    weights.download(_entry(src), dest)
    cached = dest / "torchvision" / src.name
    cached.write_bytes(cached.read_bytes() + b"x")
    with pytest.raises(UserError, match=f"{cached.name}: checksum mismatch.*download it again"):
        weights.cached(_entry(src), dest)


def test_offline_message_names_the_file(tmp_path: Path) -> None:
    src, _ = _checkpoint(tmp_path / "server")
    entry = _entry(src)

    def offline(url: str, dest: Path) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    with pytest.raises(UserError) as e:
        weights.download(entry, tmp_path / "weights", downloader=offline)
    message = str(e.value)
    assert "cannot download" in message and "name resolution" in message
    assert f"place the file at {tmp_path / 'weights' / 'torchvision' / src.name}" in message
    assert entry.sha256 in message
    # a missing file:// source is the same kind of failure
    with pytest.raises(UserError, match="cannot download"):
        weights.download(_entry(tmp_path / "gone-12345678.pth"), tmp_path / "weights")
    assert not (tmp_path / "weights" / "torchvision" / src.name).exists()


def test_training_never_downloads(tmp_path: Path) -> None:
    with pytest.raises(UserError) as e:
        weights.resolve("coco", "torchvision", "maskrcnn_resnet50_fpn_v2", tmp_path / "w")
    message = str(e.value)
    assert "facade-wwr download-weights --engine torchvision --architecture maskrcnn_resnet50_fpn_v2" in message
    assert str(tmp_path / "w" / "torchvision" / "maskrcnn_resnet50_fpn_v2_coco-") in message


def test_detectron2_checksum_recorded_at_first_download(tmp_path: Path) -> None:
    src, digest = _checkpoint(tmp_path / "server", stem="model_final_a3ec72")
    entry = _entry(src, sha="", engine="detectron2")
    path, _ = weights.download(entry, tmp_path / "w")
    record = path.with_name(path.name + ".sha256")
    assert record.read_text().split()[0] == digest
    path.write_bytes(b"tampered")
    with pytest.raises(UserError, match="checksum mismatch"):
        weights.cached(entry, tmp_path / "w")


def test_download_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    src, _ = _checkpoint(tmp_path / "server")
    monkeypatch.setattr(weights, "catalogue", lambda engine, arch, kind: _entry(src))
    dest = tmp_path / "weights"
    assert main(["download-weights", "--architecture", "maskrcnn_resnet50_fpn_v2", "--dest", str(dest)]) == 0
    assert "downloaded and verified" in capsys.readouterr().out
    assert main(["download-weights", "--dest", str(dest)]) == 0
    assert "already cached, verified" in capsys.readouterr().out
    cfg = tmp_path / "config.yaml"
    cfg.write_text("model:\n  weights: none\n")
    assert main(["download-weights", "--config", str(cfg)]) == 0
    assert "nothing to download" in capsys.readouterr().out
    monkeypatch.setattr(weights, "catalogue", lambda engine, arch, kind: _entry(src, sha="ffffffff"))
    assert main(["download-weights", "--dest", str(tmp_path / "other")]) == 1
    assert "error: " in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- loading


def test_load_state_dict_formats(tmp_path: Path) -> None:
    model_pt = untrained_model(tmp_path / "m", ["window", "building"])
    state = weights.load_state_dict(model_pt)
    assert "roi_heads.box_predictor.cls_score.weight" in state
    plain, _ = _checkpoint(tmp_path)
    assert set(weights.load_state_dict(plain)) == {"a.weight", "a.bias"}
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="junk.pth: not a PyTorch file; expected a state dict"):
        weights.load_state_dict(tmp_path / "junk.pth")
    with pytest.raises(UserError, match="weights file not found"):
        weights.load_state_dict(tmp_path / "missing.pth")


def test_a_model_zoo_pickle_is_never_unpickled_here(tmp_path: Path) -> None:
    """facade-wwr reads no pickle: a .pkl is refused before a byte of it is read (only detectron2 reads it)."""
    pkl = tmp_path / "model_final.pkl"
    pkl.write_bytes(b"\x80\x02 not even read")
    with pytest.raises(UserError, match="model_final.pkl: a detectron2 model-zoo .pkl file; only model.engine"):
        weights.load_state_dict(pkl)


def test_checkpoint_path_as_starting_weights(tmp_path: Path) -> None:
    """weights: PATH loads every tensor that fits; the class heads of another class count stay random."""
    source = untrained_model(tmp_path / "three", ["window", "building", "door"], seed=1)
    engine = get_engine("torchvision")
    settings = ModelSettings(**{**SMALL.__dict__, "weights": str(source)})
    torch.manual_seed(5)
    module = engine.build(settings, FAST, ["window", "building"])
    notes = engine.load_pretrained(module, settings, ["window", "building"])
    theirs = weights.load_state_dict(source)
    ours = module.state_dict()
    assert torch.equal(ours["backbone.body.layer1.0.conv1.weight"], theirs["backbone.body.layer1.0.conv1.weight"])
    assert ours["roi_heads.box_predictor.cls_score.weight"].shape[0] == 3
    assert "kept random init for 6 tensors" in " ".join(notes)
    with pytest.raises(UserError, match="no such checkpoint file"):
        engine.load_pretrained(module, ModelSettings(**{**SMALL.__dict__, "weights": "nope.pt"}), ["a"])
