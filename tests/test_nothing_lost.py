"""No command writes over one of its inputs, by any spelling of the path: hand-drawn polygons and photos are
the most expensive files in a project. Each case failed (exit 0, the input replaced) before the shared check."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from facade_wwr.cli import main
from facade_wwr.demo import generate
from tests.helpers import coco_splits


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clobber")
    generate(root / "demo", train=2, val=1, photos=2, seed=5, size=96)
    coco_splits(root / "demo", root)
    return root


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def refused(argv: list[str], watched: Path, capsys, *names: str) -> None:
    """``argv`` exits 1 with one line naming the input, and every file in ``watched`` is as it was."""
    before = _bytes(watched)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("would write over the input" in err or "is the input folder" in err), err
    assert all(name in err for name in names), err
    assert _bytes(watched) == before


def test_via2coco_out_onto_the_via_file(demo: Path, tmp_path: Path, capsys) -> None:
    clob = tmp_path / "clob"
    shutil.copytree(demo / "demo" / "train", clob)
    via = clob / "via_region_data.json"
    for spelling in (via, Path(os.path.relpath(via)), clob / ".." / "clob" / via.name, clob / "." / via.name):
        argv = ["via2coco", "--via", str(via), "--images", str(clob), "--out", str(spelling), "--quiet"]
        refused(argv, clob, capsys, "via_region_data.json")
    link = tmp_path / "link.json"
    link.symlink_to(via)
    refused(["via2coco", "--via", str(via), "--images", str(clob), "--out", str(link)], clob, capsys)
    photo = next(clob.glob("*.jpg"))  # a photo the VIA file names
    refused(["via2coco", "--via", str(via), "--images", str(clob), "--out", str(photo)], clob, capsys, photo.name)
    # a new file beside the inputs stays allowed
    assert (
        main(["via2coco", "--via", str(via), "--images", str(clob), "--out", str(clob / "coco.json"), "--quiet"]) == 0
    )


def test_analyze_overlays_onto_the_photos(demo: Path, tmp_path: Path, capsys) -> None:
    photos = tmp_path / "photos"
    shutil.copytree(demo / "demo" / "photos", photos)
    pred = tmp_path / "pred"
    from facade_wwr import predictions
    from facade_wwr.coco import load_coco

    coco = load_coco(demo / "val.json")
    pred.mkdir()
    image = coco["images"][0]
    table = predictions.from_coco(coco, image["id"], score=0.9)
    predictions.write(pred / "a.parquet", table, image["file_name"], image["width"], image["height"], "t", "m")
    out = tmp_path / "t.parquet"
    argv = ["analyze", str(pred), "--out", str(out), "--overlays", str(photos), "--photos", str(photos)]
    refused(argv, photos, capsys, str(photos))
    argv = [
        "analyze",
        str(pred),
        "--out",
        str(out),
        "--overlays",
        f"{photos}/",
        "--photos",
        f"./{os.path.relpath(photos)}",
    ]
    refused(argv, photos, capsys)
    refused(["analyze", str(pred / "a.parquet"), "--out", str(pred / "a.parquet")], pred, capsys)
    refused(["analyze", str(pred), "--out", str(pred / "a.parquet")], pred, capsys)  # inside an input folder
    assert not out.exists()


def test_preview_into_the_training_photos(demo: Path, capsys) -> None:
    photos = demo / "demo" / "train"
    refused(["preview", "--coco", str(demo / "train.json"), "--out", str(photos)], photos, capsys, str(photos))


def test_merge_twin_onto_its_input(demo: Path, tmp_path: Path, capsys) -> None:
    from facade_wwr import tables

    an1 = tmp_path / "an1.parquet"
    tables.write(an1, tables.empty(), tables.TableInfo(photos=[]))
    refused(["merge", str(an1), "--out", str(tmp_path / "an1.csv")], tmp_path, capsys, "an1.parquet")
    refused(["merge", str(an1), "--out", str(tmp_path / "x.csv"), "--unmatched", str(an1)], tmp_path, capsys)
    assert main(["merge", str(an1), "--out", str(tmp_path / "all.csv")]) == 0


def test_to_via_and_evaluate_onto_inputs(demo: Path, tmp_path: Path, capsys) -> None:
    tagged = demo / "demo" / "photos" / "tagged.json"
    watched = demo / "demo" / "photos"
    pred = tmp_path / "pred"
    pred.mkdir()
    argv = ["to-via", str(pred), "--out", str(tagged), "--tagged", str(tagged)]
    refused(argv, watched, capsys, "tagged.json")
    refused(
        ["evaluate", "--coco", str(demo / "val.json"), "--pred-dir", str(pred), "--out", str(demo / "val.json")],
        demo,
        capsys,
        "val.json",
    )


def test_train_into_the_folder_of_its_config(tmp_path: Path, capsys) -> None:
    (tmp_path / "settings.json").write_text("{}")
    argv = ["train", "--train", str(tmp_path / "t.json"), "--config", str(tmp_path / "settings.json")]
    refused([*argv, "--out", str(tmp_path)], tmp_path, capsys, "settings.json")


def test_predict_into_the_photo_folder(demo: Path, tmp_path: Path, capsys) -> None:
    from tests.helpers import untrained_model

    model = untrained_model(tmp_path / "model", ["window", "building"])
    photos = demo / "demo" / "photos"
    argv = ["predict", *map(str, sorted(photos.glob("*.jpg"))), "--model", str(model), "--out", str(photos)]
    refused([*argv, "--device", "cpu", "--quiet"], photos, capsys, str(photos))


def test_the_same_weights_give_the_same_model_id(tmp_path: Path) -> None:
    """torch.save to a path records the temporary file's name in the archive: a no-op resume changed the id."""
    import torch

    from facade_wwr import checkpoints

    module = torch.nn.Linear(3, 2)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        checkpoints.save_model(tmp_path / name / "model.pt", {"engine": "x"}, module, 1)
    assert checkpoints.file_id(tmp_path / "a" / "model.pt") == checkpoints.file_id(tmp_path / "b" / "model.pt")


# ---------------------------------------------------------------------------------------------- stale files


def _prediction(folder: Path, demo: Path, model: str, split: str = "val") -> Path:
    from facade_wwr import predictions
    from facade_wwr.coco import load_coco

    coco = load_coco(demo / f"{split}.json")
    image = coco["images"][0]
    table = predictions.from_coco(coco, image["id"], score=0.9)
    path = folder / f"{Path(image['file_name']).stem}.parquet"
    folder.mkdir(exist_ok=True)
    predictions.write(path, table, image["file_name"], image["width"], image["height"], "torchvision", model)
    return path


def test_predict_refuses_files_it_would_not_write(demo: Path, tmp_path: Path, capsys) -> None:
    from tests.helpers import untrained_model

    model = untrained_model(tmp_path / "model", ["window", "building"])
    photos = sorted((demo / "demo" / "photos").glob("*.jpg"))
    out = tmp_path / "pred"
    argv = ["predict", *map(str, photos), "--model", str(model), "--out", str(out), "--device", "cpu", "--quiet"]
    stale = _prediction(out, demo, "0123456789ab")  # a val photo's file: not a photo of this run
    assert main(argv) == 1
    assert f"{stale}: not a photo of this run" in capsys.readouterr().err
    assert main([*argv, "--add"]) == 1  # --add takes other photos' files of this model only
    assert "made by model 0123456789ab" in capsys.readouterr().err
    stale.unlink()
    assert main(argv) == 0  # into its own earlier output: allowed, the same model
    capsys.readouterr()
    first = out / f"{photos[0].stem}.parquet"
    from facade_wwr import predictions

    table = predictions.read(first)
    predictions.write(first, table.table, table.image, table.width, table.height, "torchvision", "another00000")
    assert main(argv) == 1
    assert "made by model another00000" in capsys.readouterr().err
    assert predictions.read(first).model == "another00000"  # never deleted nor rewritten


def test_analyze_and_merge_refuse_two_models(demo: Path, tmp_path: Path, capsys) -> None:
    pred, other = tmp_path / "pred", tmp_path / "other"
    _prediction(pred, demo, "aaaaaaaaaaaa", "val")
    _prediction(other, demo, "bbbbbbbbbbbb", "train")
    table = tmp_path / "t.parquet"
    assert main(["analyze", str(pred), str(other), "--out", str(table)]) == 1
    err = capsys.readouterr().err
    assert "made by model bbbbbbbbbbbb" in err and "--mixed-models" in err and not table.exists()
    assert main(["analyze", str(pred), str(other), "--out", str(table), "--mixed-models"]) == 0
    assert main(["analyze", str(pred), "--out", str(tmp_path / "a.parquet")]) == 0
    assert main(["analyze", str(other), "--out", str(tmp_path / "b.parquet")]) == 0
    capsys.readouterr()
    merged = tmp_path / "all.csv"
    assert main(["merge", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"), "--out", str(merged)]) == 1
    assert "made by model bbbbbbbbbbbb" in capsys.readouterr().err and not merged.exists()
    assert (
        main(
            ["merge", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"), "--out", str(merged), "--mixed-models"]
        )
        == 0
    )


# ---------------------------------------------------------------------------------------------- messages


def test_a_pickled_or_broken_checkpoint_is_named_without_advice_to_unpickle(tmp_path: Path, capsys) -> None:
    import torch

    photo = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (40, 30)).save(photo)
    cases = {
        "pickled": ("it holds pickled Python objects", lambda p: torch.save(torch.nn.Linear(2, 2), p)),
        "junk": ("not a PyTorch file", lambda p: p.write_bytes(os.urandom(300))),
        "torn": ("a damaged PyTorch file", lambda p: p.write_bytes(_torn_checkpoint())),
    }
    for name, (message, make) in cases.items():
        (tmp_path / name).mkdir()
        make(tmp_path / name / "model.pt")
        assert main(["predict", str(photo), "--model", str(tmp_path / name), "--out", str(tmp_path / "p")]) == 1
        err = capsys.readouterr().err
        assert message in err and "weights_only" not in err and err.count("\n") == 1, err


def _torn_checkpoint() -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({"a": torch.zeros(100)}, buffer)
    return buffer.getvalue()[:300]


def test_a_full_disk_or_read_only_folder_names_the_output(demo: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    import errno
    import tempfile

    import pyarrow.parquet as pq

    an1 = tmp_path / "an1.parquet"
    from facade_wwr import tables

    tables.write(an1, tables.empty(), tables.TableInfo(photos=[]))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    assert main(["merge", str(an1), "--out", str(tmp_path / "all.csv")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'all'}" in err and "No space left on device" in err and ".tmp" not in err, err
    monkeypatch.undo()

    def read_only(*args, dir=None, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", f"{dir}/.all.x1y2.tmp.csv")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert main(["merge", str(an1), "--out", str(tmp_path / "all.csv")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'all.csv'}: Permission denied" in err and ".tmp" not in err, err


# ---------------------------------------------------------------------------------------------- found in review


def test_train_never_writes_over_the_checkpoint_it_starts_from(tmp_path: Path, capsys) -> None:
    from tests.helpers import untrained_model

    run = tmp_path / "run"
    model = untrained_model(run, ["window", "building"])
    before = model.read_bytes()
    argv = ["train", "--train", str(tmp_path / "t.json"), "--out", str(run), "--weights", str(model)]
    assert main(argv) == 1
    assert "model.pt: this output would write over the input" in capsys.readouterr().err
    assert model.read_bytes() == before


def test_outputs_that_are_one_file_or_would_be_read_back(demo: Path, tmp_path: Path, capsys) -> None:
    pred = tmp_path / "pred"
    _prediction(pred, demo, "aaaaaaaaaaaa")
    tagged = demo / "demo" / "photos" / "tagged.json"
    t = tmp_path / "t.parquet"
    assert main(["analyze", str(pred), "--out", str(t), "--unmatched", str(t), "--tagged", str(tagged)]) == 1
    assert "two outputs of this command are one file" in capsys.readouterr().err and not t.exists()
    assert main(["analyze", str(pred), "--out", str(pred / "table.parquet")]) == 1  # read by the next analyze
    assert "it would be read as an input" in capsys.readouterr().err
    assert main(["analyze", str(pred), "--out", str(t)]) == 0
    m = tmp_path / "m.csv"
    assert main(["merge", str(t), "--out", str(m), "--unmatched", str(tmp_path / "m.parquet")]) == 1
    assert "two outputs of this command are one file" in capsys.readouterr().err
    e = tmp_path / "e.png"
    argv = ["evaluate", "--coco", str(demo / "val.json"), "--pred-dir", str(pred), "--out", str(e), "--plot", str(e)]
    assert main(argv) == 1 and "two outputs" in capsys.readouterr().err and not e.exists()


def test_a_stale_npz_is_refused(demo: Path, tmp_path: Path, capsys) -> None:
    from tests.helpers import untrained_model

    model = untrained_model(tmp_path / "model", ["window", "building"])
    photo = sorted((demo / "demo" / "photos").glob("*.jpg"))[0]
    out = tmp_path / "p"
    argv = ["predict", str(photo), "--model", str(model), "--out", str(out), "--device", "cpu", "--quiet"]
    assert main([*argv, "--npz"]) == 0
    assert main(argv) == 1  # the parquet would be rewritten, its npz would not
    assert f"{photo.stem}.npz: dense masks of an earlier run" in capsys.readouterr().err
    assert main([*argv, "--npz"]) == 0


def test_the_model_id_ignores_how_the_run_went(tmp_path: Path) -> None:
    import dataclasses

    import torch

    from facade_wwr import checkpoints
    from tests.helpers import FAST, SMALL

    module = torch.nn.Linear(3, 2)
    for name, train in (("a", FAST), ("b", dataclasses.replace(FAST, device="auto", log_period=7, num_workers=3))):
        (tmp_path / name).mkdir()
        head = checkpoints.header("torchvision", SMALL, train, ["window", "building"], "data")
        checkpoints.save_model(tmp_path / name / "model.pt", head, module, 2)
    assert checkpoints.file_id(tmp_path / "a" / "model.pt") == checkpoints.file_id(tmp_path / "b" / "model.pt")


def test_evaluate_and_to_via_refuse_two_models(demo: Path, tmp_path: Path, capsys) -> None:
    pred = tmp_path / "pred"
    _prediction(pred, demo, "aaaaaaaaaaaa", "val")
    _prediction(pred, demo, "bbbbbbbbbbbb", "train")
    assert main(["to-via", str(pred), "--out", str(tmp_path / "v.json")]) == 1
    assert "--mixed-models" in capsys.readouterr().err
    assert main(["to-via", str(pred), "--out", str(tmp_path / "v.json"), "--mixed-models", "--quiet"]) == 0
    from facade_wwr import wwr_evaluation

    metrics, _ = wwr_evaluation.evaluate(demo / "val.json", pred)
    assert metrics["model_id"] == "aaaaaaaaaaaa"


def test_a_demo_into_the_current_folder_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for command in ("demo-data", "demo-city"):
        assert main([command, ".", "--train", "1", "--val", "1", "--photos", "1"]) == 1
        err = capsys.readouterr().err
        assert "the current folder (or one above it) cannot be replaced" in err and err.count("\n") == 1


def test_an_unreadable_checkpoint_is_an_os_error_not_a_wrong_kind(tmp_path: Path, capsys, monkeypatch) -> None:
    import errno

    import torch

    from tests.helpers import untrained_model

    model = untrained_model(tmp_path / "m", ["window", "building"])

    def broken(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error", str(model))

    monkeypatch.setattr(torch, "load", broken)
    assert main(["predict", "x.jpg", "--model", str(model), "--out", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert "Input/output error" in err and "not a PyTorch file" not in err


def test_a_write_error_without_errno_keeps_its_words(tmp_path: Path) -> None:
    from facade_wwr.fileio import atomic_path

    with pytest.raises(OSError) as e, atomic_path(tmp_path / "x.jpg"):
        raise OSError("cannot write mode RGBA as JPEG")
    assert e.value.filename == str(tmp_path / "x.jpg") and e.value.strerror == "cannot write mode RGBA as JPEG"


def test_size_metadata_in_other_digits_is_one_line(demo: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from facade_wwr import predictions
    from facade_wwr.errors import UserError

    path = _prediction(tmp_path / "p", demo, "aaaaaaaaaaaa")
    table = pq.read_table(path)
    meta = {**table.schema.metadata, b"image_width": "³0".encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)
    with pytest.raises(UserError, match="image_width '³0' is not a positive whole number"):
        predictions.read(path)
