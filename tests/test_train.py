"""facade-wwr train: output files, repeatability, resumption, class handling and error messages."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import facade_wwr
from facade_wwr import checkpoints, device, masks, training
from facade_wwr.cli import main
from facade_wwr.errors import UserError, Warnings
from facade_wwr.images import load_for_model
from tests.helpers import FAST, SMALL, make_data, with_classes

CONFIG = """\
photos: ignored/by/train
model:
  engine: torchvision
  architecture: maskrcnn_resnet18_fpn_small
  weights: none
  min_size: 96
  max_size: 128
train:
  ims_per_batch: 2
  optimizer: adamw
  base_lr: 0.001
  warmup_iters: 1
  roi_batch_size_per_image: 64
  rpn_batch_size_per_image: 64
  log_period: 1
  num_workers: 0
  device: cpu
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return make_data(tmp_path_factory.mktemp("train_data"))


@pytest.fixture(scope="module")
def trained(data: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two iterations through the command line, with evaluation on val."""
    root = tmp_path_factory.mktemp("trained")
    cfg = root / "config.yaml"
    cfg.write_text(CONFIG)
    out = root / "model"
    args = ["train", "--train", str(data["train"]), "--val", str(data["val"]), "--out", str(out), "--config", str(cfg)]
    assert (
        main(args + ["--max-iter", "2", "--set", "train.eval_period=1", "--set", "model.detections_per_image=50"]) == 0
    )
    return out


def _run(data: dict, out: Path, val: bool = False, **train_changes) -> dict:
    settings = dataclasses.replace(FAST, **train_changes)
    return training.train(data["train"], data["val"] if val else None, out, SMALL, settings)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def _losses(out: Path) -> list[dict]:
    keep = ("iteration", "loss", "lr")
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k in keep or k.startswith("loss_")} for line in lines]


# ---------------------------------------------------------------------------------------------- samples


def _reference_sample(ds: training.CocoTrainSet, index: int, flip: bool) -> tuple[np.ndarray, np.ndarray, list]:
    """Masks and boxes the slow, obvious way: each polygon decoded in full by pycocotools, then mirrored."""
    e = ds.entries[index]
    nw, nh = load_for_model(e.path, ds.min_size, ds.max_size)[0].size
    sx, sy = nw / e.width, nh / e.height
    stack, labels = [], []
    for category, polygons in e.annotations:
        scaled = [[v * (sx if i % 2 == 0 else sy) for i, v in enumerate(p)] for p in polygons]
        m = masks.decode(masks.polygons_to_rle(scaled, nh, nw)["counts"], nh, nw)
        if m.any():
            stack.append(m[:, ::-1] if flip else m)
            labels.append(category)
    full = np.stack(stack) if stack else np.zeros((0, nh, nw), dtype=bool)
    boxes = []
    for m in full:
        xs, ys = np.flatnonzero(m.any(axis=0)), np.flatnonzero(m.any(axis=1))
        boxes.append((xs[0], ys[0], xs[-1] + 1, ys[-1] + 1))
    return full, np.array(boxes, dtype=np.float32).reshape(-1, 4), labels


def _check_samples(ds: training.CocoTrainSet, indices) -> int:
    checked = 0
    for index in indices:
        for flip in (False, True):
            sample = ds[(index, flip)]
            full, boxes, labels = _reference_sample(ds, index, flip)
            assert sample.masks.dtype == torch.uint8 and sample.masks.is_contiguous()
            assert np.array_equal(sample.masks.numpy().astype(bool), full)
            assert np.array_equal(sample.boxes.numpy(), boxes)
            assert sample.labels.tolist() == labels
            assert sample.image.shape == (3, *full.shape[1:])
            checked += len(labels)
        assert torch.equal(ds[(index, True)].image, ds[(index, False)].image.flip(-1))
    return checked


def test_training_samples_are_the_full_masks(data: dict) -> None:
    """Masks are pasted from their crops (fast); they equal full decodes, mirrored exactly when flipped."""
    ds = training.CocoTrainSet(data["train"], 96, 128)
    assert _check_samples(ds, range(len(ds))) > 0


def test_real_training_samples_are_the_full_masks(real_coco: dict[str, Path]) -> None:
    ds = training.CocoTrainSet(real_coco["train"], 800, 1333)
    annotated = [i for i, e in enumerate(ds.entries) if e.annotations]
    assert _check_samples(ds, annotated[::12]) > 200


# ---------------------------------------------------------------------------------------------- outputs


def test_model_dir_files(trained: Path) -> None:
    names = {p.name for p in trained.iterdir()}
    assert {"model.pt", "last.pt", "settings.json", "metrics.jsonl", "metrics.json", "loss.png"} <= names
    assert not [n for n in names if n.startswith(".")]  # no temporary file left behind
    ckpt = torch.load(trained / "model.pt", map_location="cpu", weights_only=True)
    assert ckpt["format"] == "facade-wwr/model/1" and ckpt["engine"] == "torchvision"
    assert ckpt["classes"] == ["window", "building"] and ckpt["iteration"] == 2
    assert ckpt["model_settings"]["min_size"] == 96 and ckpt["model_settings"]["detections_per_image"] == 50
    last = torch.load(trained / "last.pt", map_location="cpu", weights_only=True)
    assert last["iteration"] == 2 and "optimizer" in last and last["rng"].dtype == torch.uint8
    assert (trained / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_settings_json(trained: Path) -> None:
    s = json.loads((trained / "settings.json").read_text())
    assert s["engine"] == "torchvision" and s["classes"] == ["window", "building"]
    assert s["model_settings"]["architecture"] == "maskrcnn_resnet18_fpn_small"
    assert s["train_settings"]["max_iter"] == 2 and s["train_settings"]["eval_period"] == 1
    assert s["device"] == "cpu" and s["versions"]["torch"] == torch.__version__
    assert s["train_coco"].endswith("train.json") and s["val_coco"].endswith("val.json")


def test_metrics_jsonl(trained: Path) -> None:
    lines = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in lines] == [1, 2]
    terms = {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}
    for r in lines:
        assert terms <= set(r) and r["loss"] == pytest.approx(sum(r[k] for k in terms), abs=1e-3)
        assert r["lr"] > 0 and r["sec_per_iter"] > 0 and "eta_s" in r


def test_metrics_json_is_coco_evaluation(trained: Path) -> None:
    m = json.loads((trained / "metrics.json").read_text())
    assert m["iteration"] == 2 and m["classes"] == ["window", "building"]
    for kind in ("bbox", "segm"):
        for key in ("AP", "AP50", "AP75"):
            assert 0.0 <= m[kind][key] <= 1.0
        assert set(m[kind]["per_class"]) == {"window", "building"}
    assert [h["iteration"] for h in m["history"]] == [1, 2]  # eval_period 1, plus the end
    assert m["history"][-1]["images"] == 2 and m["history"][-1]["max_dets"] == 50
    ckpt_hash = checkpoints.file_id(trained / "model.pt")
    assert m["model"] == ckpt_hash


# ---------------------------------------------------------------------------------------------- repeatability


def test_repeatable_and_resumable(data: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupted run resumed from last.pt ends with the very weights of an uninterrupted one (so a
    fresh run with the same seed repeats too: the first two iterations of "c" are a fresh run's)."""
    _run(data, tmp_path / "a", max_iter=3)
    wa = _weights(tmp_path / "a" / "model.pt")
    _run(data, tmp_path / "w", max_iter=3, num_workers=1)  # photos decoded in a loader process: same run
    ww = _weights(tmp_path / "w" / "model.pt")
    assert all(torch.equal(wa[k], ww[k]) for k in wa)

    real_step = training._step

    def interrupted(run, batch, iteration):
        if iteration == 2:
            raise KeyboardInterrupt
        return real_step(run, batch, iteration)

    monkeypatch.setattr(training, "_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(data, tmp_path / "c", max_iter=3, checkpoint_period=2)
    assert not (tmp_path / "c" / "model.pt").exists()
    assert torch.load(tmp_path / "c" / "last.pt", weights_only=True)["iteration"] == 2
    monkeypatch.setattr(training, "_step", real_step)
    _run(data, tmp_path / "c", max_iter=3, checkpoint_period=0)  # a period change does not block resuming
    wc = _weights(tmp_path / "c" / "model.pt")
    assert all(torch.equal(wa[k], wc[k]) for k in wa)
    assert _losses(tmp_path / "a") == _losses(tmp_path / "c")


def test_changed_settings_start_over(data: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """After a settings change (a config edit makes the workflow rerun train) the old last.pt is not resumed."""
    _run(data, tmp_path / "m", max_iter=1)
    capsys.readouterr()
    _run(data, tmp_path / "m", max_iter=1, base_lr=0.002)
    err = capsys.readouterr().err
    assert "last.pt: written with train.base_lr=0.001, now 0.002; starting over instead of resuming" in err
    assert "resuming from" not in err
    assert torch.load(tmp_path / "m" / "last.pt", weights_only=True)["train_settings"]["base_lr"] == 0.002
    strict = Warnings(strict=True)
    with pytest.raises(UserError, match="starting over instead of resuming.*--strict"):
        training.train(
            data["train"], None, tmp_path / "m", SMALL, dataclasses.replace(FAST, max_iter=1), warnings=strict
        )


def test_a_new_version_starts_over(
    data: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A finished run's last.pt is resumed (at once: the same model) when train runs again, as after
    `snakemake --forcerun train`; after an upgrade of facade-wwr, whose training code may differ, it is not."""
    _run(data, tmp_path / "m", max_iter=1)
    _run(data, tmp_path / "m", max_iter=1)
    assert "resuming from" in capsys.readouterr().err
    monkeypatch.setattr(checkpoints, "__version__", "99.0")
    _run(data, tmp_path / "m", max_iter=1)
    err = capsys.readouterr().err
    assert f"last.pt: written by facade-wwr {facade_wwr.__version__}, this is 99.0; starting over" in err
    assert "resuming from" not in err


def test_weights_that_no_longer_fit_start_over(data: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Same settings, but a last.pt whose network this version no longer builds (e.g. another normalisation
    layer): a warning and a fresh start, not a traceback."""
    out = tmp_path / "m"
    _run(data, out, max_iter=1)
    last = torch.load(out / "last.pt", weights_only=True)
    last["model"] = {k: v for k, v in last["model"].items() if "num_batches_tracked" not in k and "fc6" not in k}
    torch.save(last, out / "last.pt")
    capsys.readouterr()
    _run(data, out, max_iter=1)
    err = capsys.readouterr().err
    assert "last.pt: its weights do not fit the network built now (Error(s) in loading state_dict" in err
    assert "starting over" in err and "resuming from" not in err
    fresh = tmp_path / "fresh"
    _run(data, fresh, max_iter=1)
    assert all(
        torch.equal(a, b) for a, b in zip(_weights(out / "model.pt").values(), _weights(fresh / "model.pt").values())
    )


def test_changed_training_data_start_over(data: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A finished last.pt is never reused for other data (the workflow reruns train after a VIA edit)."""
    _run(data, tmp_path / "m", max_iter=1)
    coco = json.loads(Path(data["train"]).read_text())
    coco["annotations"] = coco["annotations"][1:]  # the user corrected an annotation
    edited = Path(data["train"]).with_name("train_edited.json")
    edited.write_text(json.dumps(coco))
    capsys.readouterr()
    settings = dataclasses.replace(FAST, max_iter=1)
    training.train(edited, None, tmp_path / "m", SMALL, settings)
    err = capsys.readouterr().err
    assert "last.pt: written for other training data (the COCO file or one of its photos changed); starting over" in err


def test_photo_replaced_in_place_starts_over(data: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A photo edited in place (same name and size: the COCO file does not change) is other training data."""
    coco = json.loads(Path(data["train"]).read_text())
    for im in coco["images"]:
        src = (Path(data["train"]).parent / im["path"]).resolve()
        im["path"] = str(shutil.copy(src, tmp_path / src.name))
    path = tmp_path / "train.json"
    path.write_text(json.dumps(coco))
    settings = dataclasses.replace(FAST, max_iter=1)
    training.train(path, None, tmp_path / "m", SMALL, settings)
    training.train(path, None, tmp_path / "m", SMALL, settings)
    assert "resuming from" in capsys.readouterr().err  # nothing changed: the finished run is reused
    photo = Path(coco["images"][0]["path"])
    pixels = np.asarray(Image.open(photo)).copy()
    Image.fromarray(255 - pixels).save(photo)
    training.train(path, None, tmp_path / "m", SMALL, settings)
    err = capsys.readouterr().err
    assert "(the COCO file or one of its photos changed); starting over" in err and "resuming from" not in err


# ---------------------------------------------------------------------------------------------- classes


def test_classes_come_from_the_coco_file(data: dict, tmp_path: Path) -> None:
    three = with_classes(data["train"], tmp_path / "three.json", ["window", "building", "door"])
    training.train(three, None, tmp_path / "m", SMALL, dataclasses.replace(FAST, max_iter=1))
    ckpt = torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    assert ckpt["classes"] == ["window", "building", "door"]
    assert ckpt["model"]["roi_heads.box_predictor.cls_score.weight"].shape[0] == 4
    with pytest.raises(UserError, match=r"val.json: classes \['window', 'building'\] differ"):
        training.train(three, data["val"], tmp_path / "n", SMALL, FAST)


# ---------------------------------------------------------------------------------------------- errors


def test_corrupt_training_photo_is_named(data: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    coco = json.loads(data["train"].read_text())
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    for im in coco["images"]:
        im["path"] = str(bad) if im["id"] == 1 else str((data["train"].parent / im["path"]).resolve())
    path = tmp_path / "train.json"
    path.write_text(json.dumps(coco))
    args = ["train", "--train", str(path), "--out", str(tmp_path / "m"), "--max-iter", "3"]
    args += ["--architecture", "maskrcnn_resnet18_fpn_small", "--weights", "none", "--device", "cpu"]
    # in a loader worker process: the message still comes back as one line
    assert main(args + ["--set", "train.num_workers=1", "--set", "train.ims_per_batch=4"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("training on cpu") and len(err) == 2  # the start line, then one line of error
    assert err[1].startswith("facade-wwr train: error: ") and "broken.jpg: unreadable or corrupt image" in err[1]


def test_divergence_is_reported(data: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from facade_wwr.engines.torchvision_engine import TorchvisionEngine

    real = TorchvisionEngine.losses

    def nan_losses(self, module, batch, device):
        out = real(self, module, batch, device)
        return {k: v * float("nan") for k, v in out.items()}

    monkeypatch.setattr(TorchvisionEngine, "losses", nan_losses)
    with pytest.raises(UserError, match="training diverged at iteration 1 .*lower train.base_lr"):
        _run(data, tmp_path / "m", max_iter=1)


def test_command_line_errors(data: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = str(tmp_path / "m")
    assert main(["train", "--train", str(tmp_path / "none.json"), "--out", out, "--weights", "none"]) == 1
    assert "none.json: file not found" in capsys.readouterr().err
    assert main(["train", "--train", str(data["train"]), "--out", out, "--set", "train.lr=1"]) == 1
    assert "unknown setting train.lr" in capsys.readouterr().err
    assert main(["train", "--train", str(data["train"]), "--out", out, "--max-iter", "1", "--weights", "coco"]) == 1
    err = capsys.readouterr().err
    assert "download-weights" in err and "maskrcnn_resnet50_fpn_v2_coco-" in err


# ---------------------------------------------------------------------------------------------- mixed precision


def test_mixed_precision_path(
    data: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The code path of ``amp: true`` on CUDA (autocast, loss scaling unscaled before clipping, the scaler's
    state in last.pt and back on resuming, evaluation and prediction under autocast), run on the CPU by
    giving it an AMP dtype (bfloat16: CPUs run float16 backward passes a hundred times slower). What it
    cannot show is CUDA's own float16 kernels: the README says what ran on a GPU."""
    from facade_wwr import inference, predictions

    monkeypatch.setattr(device, "AMP_DTYPES", {"cuda": torch.float16, "cpu": torch.bfloat16})
    real_step = training._step

    def interrupted(run, batch, iteration):
        if iteration == 1:
            raise KeyboardInterrupt
        return real_step(run, batch, iteration)

    out = tmp_path / "m"
    monkeypatch.setattr(training, "_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(data, out, val=True, max_iter=2, checkpoint_period=1)
    assert "on cpu, mixed precision (bfloat16)" in capsys.readouterr().err
    assert json.loads((out / "settings.json").read_text())["amp"] is True
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["iteration"] == 1 and last["scaler"]["scale"] > 0  # a disabled scaler saves an empty dict

    monkeypatch.setattr(training, "_step", real_step)
    metrics = _run(data, out, val=True, max_iter=2)
    assert "resuming from" in capsys.readouterr().err
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == [1, 2] and all(np.isfinite(r["loss"]) for r in records)
    assert 0.0 <= metrics["segm"]["AP50"] <= 1.0

    predictor = inference.load_predictor(out, device="cpu", min_score=0.0, amp=True)
    summary = inference.predict_photos(predictor, data["photos"], tmp_path / "pred", progress=False)
    assert summary["written"] == len(data["photos"]) and summary["instances"] > 0
    pred = predictions.read(tmp_path / "pred" / f"{data['photos'][0].stem}.parquet")
    assert pred.table["x0"].dtype == np.float32 and pred.table["score"].dtype == np.float32
    for row in pred.table.itertuples():
        assert masks.area(masks.rle(row.mask_rle, pred.height, pred.width)) == row.mask_area


def test_a_run_begun_without_mixed_precision_resumes_with_it(
    data: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """train.device may change between an interruption and its resumption: a run begun on the CPU (no loss
    scaler state) goes on where mixed precision is on, and back."""

    real_step = training._step

    def interrupted(run, batch, iteration):
        if iteration == 1:
            raise KeyboardInterrupt
        return real_step(run, batch, iteration)

    for first, then in (({}, {"cpu": torch.bfloat16}), ({"cpu": torch.bfloat16}, {})):
        out = tmp_path / f"m{len(first)}"
        monkeypatch.setattr(device, "AMP_DTYPES", first)
        monkeypatch.setattr(training, "_step", interrupted)
        with pytest.raises(KeyboardInterrupt):
            _run(data, out, max_iter=2, checkpoint_period=1)
        monkeypatch.setattr(device, "AMP_DTYPES", then)
        monkeypatch.setattr(training, "_step", real_step)
        _run(data, out, max_iter=2)
        assert "resuming from" in capsys.readouterr().err
        assert torch.load(out / "model.pt", weights_only=True)["iteration"] == 2


def test_cuda_generator_follows_the_run_to_another_card(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run saved on cuda:1 resumes on cuda:0 (a node with one GPU): the saved generator goes to the card in
    use. A run begun on the CPU restores nothing; an earlier checkpoint's list of every card's states gives
    the state of the card in use, if it has one."""
    calls = []
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: calls.append((state, device)))
    state, other = torch.arange(16, dtype=torch.uint8), torch.ones(16, dtype=torch.uint8)
    device.restore_cuda_rng(state, torch.device("cuda:0"))
    device.restore_cuda_rng(torch.zeros(0, dtype=torch.uint8), torch.device("cuda:0"))  # begun on the CPU
    device.restore_cuda_rng(state, torch.device("cpu"))
    device.restore_cuda_rng([state, other], torch.device("cuda:1"))
    device.restore_cuda_rng([state], torch.device("cuda:1"))  # the earlier run had one card
    assert [(s.tolist(), d) for s, d in calls] == [
        (state.tolist(), torch.device("cuda:0")),
        (other.tolist(), torch.device("cuda:1")),
    ]


def test_a_model_that_finds_nothing_is_said_to(trained: Path) -> None:
    """Two iterations find nothing: `train` warns (the workflow shows it on the terminal) what was measured
    and what to do; a model whose every AP50 is fine gets no warning, one weak class is named."""
    from facade_wwr.coco_metrics import weak_model

    metrics = json.loads((trained / "metrics.json").read_text())
    message = weak_model(metrics, "results/model")
    assert message is not None and message.startswith("results/model: val mask AP50 0.0")
    assert "is near zero: the model finds almost nothing; train longer (train.max_iter)" in message
    assert "pretrained weights (model.weights: coco)" in message and "check the annotations" in message
    good = {"segm": {"AP50": 0.8, "per_class": {"window": {"AP50": 0.9}, "building": {"AP50": 0.7}}}}
    assert weak_model(good, "m") is None
    good["segm"]["per_class"]["building"]["AP50"] = 0.004
    assert "(window 0.900, building 0.004) is near zero" in weak_model(good, "m")
    assert weak_model({"segm": None}, "m") is None  # no val annotations: nothing measured


def test_the_loss_plot_names_every_line(tmp_path: Path) -> None:
    """The learning-rate line (second axis) and the AP50 line (third axis) are in the one legend."""
    records = [
        {"iteration": i, "loss": 2.0 / i, "loss_mask": 1.0 / i, "lr": 1e-3 * min(1, i / 5)} for i in range(1, 20)
    ]
    history = [{"iteration": 10, "segm": {"AP50": 0.3}}, {"iteration": 19, "segm": {"AP50": 0.5}}]
    path = tmp_path / "loss.png"
    assert training.plot_losses(records, history, path) == ["loss", "loss_mask", "lr", "val mask AP50"]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
