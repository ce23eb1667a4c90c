"""Settings, engine selection, network shapes, the LR schedule, the sampler, training samples, mask pasting."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from facade_wwr import masks
from facade_wwr.coco import load_coco
from facade_wwr.engines import get_engine
from facade_wwr.errors import UserError
from facade_wwr.images import input_size
from facade_wwr.inference import paste_mask
from facade_wwr.settings import ModelSettings, TrainSettings, load_settings, parse_assignment
from facade_wwr.training import CocoTrainSet, IterationSampler, lr_at
from tests.helpers import FAST, SMALL, make_data, with_classes


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return make_data(tmp_path_factory.mktemp("engine_data"))


# ---------------------------------------------------------------------------------------------- settings


def test_defaults_without_config() -> None:
    model, train = load_settings()
    assert model == ModelSettings() and train == TrainSettings()
    assert (model.engine, model.architecture, model.weights) == ("torchvision", "maskrcnn_resnet50_fpn_v2", "coco")
    assert (train.base_lr, train.max_iter, train.ims_per_batch, train.roi_batch_size_per_image) == (
        0.00025,
        1000,
        2,
        512,
    )


def test_config_sections_and_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "photos: resources/photos\n"  # other sections of the workflow config are ignored
        "model:\n  architecture: maskrcnn_resnet18_fpn_small\n  weights: none\n  min_size: 128\n"
        "train:\n  max_iter: 50\n  base_lr: 1e-3\n  amp: false\n"
    )
    model, train = load_settings(cfg, [parse_assignment("train.max_iter=7"), ("model", "max_size", "200")])
    assert model.architecture == "maskrcnn_resnet18_fpn_small" and model.min_size == 128 and model.max_size == 200
    assert train.max_iter == 7 and train.base_lr == 0.001 and train.amp is False


def test_later_config_files_override_earlier_ones_key_by_key(tmp_path: Path) -> None:
    """As the workflow's train rule uses them: what a model learns, then how the run goes."""
    learn, runtime = tmp_path / "learn.yaml", tmp_path / "runtime.yaml"
    learn.write_text("model:\n  weights: none\ntrain:\n  max_iter: 50\n  num_workers: 4\n")
    runtime.write_text("train:\n  num_workers: 0\n  device: cpu\n")
    model, train = load_settings([learn, runtime])
    assert model.weights == "none" and train.max_iter == 50 and train.num_workers == 0 and train.device == "cpu"
    runtime.write_text("train:\n  num_wokers: 0\n")
    with pytest.raises(UserError, match=r"runtime.yaml: unknown setting train.num_wokers"):
        load_settings([runtime, learn])  # the file that holds the typo is named, wherever it stands


@pytest.mark.parametrize(
    "text, message",
    [
        ("model:\n  architecure: x\n", "unknown setting model.architecure"),
        ("train:\n  max_iter: many\n", "train.max_iter: expected an integer"),
        ("train:\n  max_iter: 2.5\n", "train.max_iter: expected an integer"),
        ("train:\n  amp: maybe\n", "train.amp: expected true or false"),
        ("train:\n  base_lr: -1\n", "train.base_lr: must be positive"),
        ("train:\n  optimizer: adam\n", "train.optimizer"),
        ("model:\n  engine: mmdet\n", "model.engine"),
        ("model: [1, 2]\n", "section model must be a mapping"),
        ("model: {engine: [\n", "malformed YAML"),
    ],
)
def test_bad_config_is_one_line_error(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    with pytest.raises(UserError, match=message) as e:
        load_settings(cfg)
    assert "\n" not in str(e.value)


def test_bad_assignment() -> None:
    with pytest.raises(UserError, match="--set"):
        parse_assignment("max_iter=3")
    assert parse_assignment("model.min_size=null") == ("model", "min_size", None)


def test_missing_config() -> None:
    with pytest.raises(UserError, match="nope.yaml: config file not found"):
        load_settings("nope.yaml")


def test_make_data(tmp_path: Path) -> None:
    paths = make_data(tmp_path)
    train = load_coco(paths["train"])
    assert [c["name"] for c in train["categories"]] == ["window", "building"]
    assert len(train["images"]) == 4 and train["annotations"]
    assert len(paths["photos"]) == 2


# ---------------------------------------------------------------------------------------------- engines


def test_unknown_engine_and_architecture() -> None:
    with pytest.raises(UserError, match="unknown engine"):
        get_engine("mmdet")
    with pytest.raises(UserError, match="not a torchvision architecture"):
        get_engine("torchvision").build(ModelSettings(architecture="resnet9000", weights="none"), FAST, ["a"])


@pytest.mark.skipif(importlib.util.find_spec("detectron2") is not None, reason="detectron2 is installed here")
def test_detectron2_missing_says_how_to_install() -> None:
    with pytest.raises(UserError, match="detectron2 is not installed.*pip install"):
        get_engine("detectron2")


def test_input_size() -> None:
    assert input_size(2048, 1536, 800, 1333) == (1067, 800)
    assert input_size(4000, 1000, 800, 1333) == (1333, 333)  # the long side caps the scale
    assert input_size(256, 256, 256, 448) == (256, 256)


@pytest.mark.parametrize("classes", [["window", "building"], ["window", "building", "door"], ["facade"]])
def test_heads_follow_the_classes(classes: list[str]) -> None:
    net = get_engine("torchvision").build(SMALL, FAST, classes)
    assert net.roi_heads.box_predictor.cls_score.out_features == len(classes) + 1
    assert net.roi_heads.mask_predictor.mask_fcn_logits.out_channels == len(classes) + 1
    assert net.roi_heads.detections_per_img == 300
    assert net.rpn._pre_nms_top_n["training"] == net.rpn._post_nms_top_n["training"] == 1000  # NMS: CPU time


def test_r50_v2_pretrained_freezes_batchnorm() -> None:
    from torchvision.ops import FrozenBatchNorm2d

    engine = get_engine("torchvision")
    fresh = engine.build(ModelSettings(weights="none"), FAST, ["window", "building"])
    tuned = engine.build(ModelSettings(weights="coco"), FAST, ["window", "building"])
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in fresh.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in tuned.modules())
    assert not tuned.backbone.body.conv1.weight.requires_grad  # stem frozen when fine-tuning
    assert engine.default_sizes("maskrcnn_resnet50_fpn_v2") == (800, 1333)


@pytest.mark.parametrize("architecture", ["maskrcnn_resnet18_fpn_small", "maskrcnn_resnet50_fpn_v2"])
def test_box_deltas_leave_the_heads_in_float32_under_a_bfloat16_autocast(architecture: str) -> None:
    """torchvision decodes box deltas in their own dtype: in bfloat16 the demo city's proposals collapsed and
    the box loss turned NaN by iteration 22. The RPN head and the box predictor hand on float32, while the
    convolutions before them run in bfloat16."""
    model = ModelSettings(architecture=architecture, weights="none")
    net = get_engine("torchvision").build(model, TrainSettings(), ["window", "building"])
    rois = torch.rand(3, net.roi_heads.box_predictor.cls_score.in_features)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = list(net.backbone(torch.rand(1, 3, 64, 96)).values())
        logits, deltas = net.rpn.head(features)
        scores, box_deltas = net.roi_heads.box_predictor(rois)
    assert features[0].dtype == torch.bfloat16
    assert {t.dtype for t in [*logits, *deltas, scores, box_deltas]} == {torch.float32}


def _pyramid(seed: int) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
    """Four FPN levels of two 256x341 images (the last level one cell wider, as an odd input size makes
    it) and boxes of every size, some reaching outside the image, some thinner than a cell."""
    g = torch.Generator().manual_seed(seed)
    x = {
        str(i): torch.randn(2, 8, 64 // 2**i, 86 // 2**i + (i == 3), generator=g, requires_grad=True) for i in range(4)
    }

    def boxes(n: int) -> torch.Tensor:
        x0, y0 = torch.rand(n, generator=g) * 400 - 30, torch.rand(n, generator=g) * 300 - 20
        w, h = torch.rand(n, generator=g) ** 3 * 300 + 0.1, torch.rand(n, generator=g) ** 3 * 250 + 0.1
        return torch.stack([x0, y0, x0 + w, y0 + h], 1)

    return x, [boxes(120), boxes(60)]


@pytest.mark.parametrize(("output", "ratio"), [(7, 0), (14, 0), (7, 2), (14, 2)])
def test_the_cpu_pooler_gives_torchvisions_roi_align_and_its_gradient(output: int, ratio: int) -> None:
    import torchvision

    from facade_wwr.engines.roi_align import MultiScaleRoIAlign

    x, boxes = _pyramid(output + ratio)
    shapes = [(256, 341), (256, 341)]
    ours = MultiScaleRoIAlign(list(x), output, ratio)(x, boxes, shapes)
    theirs = torchvision.ops.MultiScaleRoIAlign(list(x), output, ratio)(x, boxes, shapes)
    assert ours.shape == theirs.shape == (180, 8, output, output)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(ours)
    ours_grad = torch.autograd.grad((ours * weights).sum(), list(x.values()))
    theirs_grad = torch.autograd.grad((theirs * weights).sum(), list(x.values()))
    for a, b in zip(ours_grad, theirs_grad):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_the_cpu_pooler_keeps_the_autocast_dtype_and_takes_no_boxes() -> None:
    import torchvision

    from facade_wwr.engines.roi_align import MultiScaleRoIAlign

    x, boxes = _pyramid(0)
    shapes = [(256, 341), (256, 341)]
    low = {k: v.detach().bfloat16() for k, v in x.items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = MultiScaleRoIAlign(list(x), 7, 0)(low, boxes, shapes)
        theirs = torchvision.ops.MultiScaleRoIAlign(list(x), 7, 0)(low, boxes, shapes)
    assert ours.dtype == theirs.dtype == torch.bfloat16
    torch.testing.assert_close(ours.float(), theirs.float(), atol=2e-2, rtol=1e-2)
    none = MultiScaleRoIAlign(list(x), 14, 0)(x, [torch.zeros(0, 4), torch.zeros(0, 4)], shapes)
    assert none.shape == (0, 8, 14, 14)


@pytest.mark.parametrize("architecture", ["maskrcnn_resnet18_fpn_small", "maskrcnn_resnet50_fpn_v2"])
def test_both_architectures_pool_with_the_cpu_pooler(architecture: str) -> None:
    from facade_wwr.engines.roi_align import MultiScaleRoIAlign

    net = get_engine("torchvision").build(ModelSettings(architecture=architecture), FAST, ["window"])
    assert isinstance(net.roi_heads.box_roi_pool, MultiScaleRoIAlign)
    assert isinstance(net.roi_heads.mask_roi_pool, MultiScaleRoIAlign)
    assert net.roi_heads.mask_roi_pool.output_size == (14, 14)


@pytest.mark.parametrize("anchor_dtype", [torch.float32, torch.bfloat16])
def test_the_rpn_matches_anchors_with_torchvisions_iou_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch, anchor_dtype: torch.dtype
) -> None:
    import torchvision

    from facade_wwr.engines import box_iou

    _, (objects, anchors) = _pyramid(5)
    anchors = torch.cat([anchors, objects[:7]]).to(anchor_dtype)  # some pairs overlap exactly
    expected = torchvision.ops.box_iou(objects, anchors)
    assert expected.max() > 0.99 and (expected == 0).any()
    for block in (box_iou.BLOCK, 7 * len(anchors), 1):  # one block, a few rows per block, one element
        monkeypatch.setattr(box_iou, "BLOCK", block)
        ours = box_iou.box_iou(objects, anchors)
        assert ours.dtype == torch.float32 and torch.equal(ours, expected)
    assert torch.equal(box_iou.box_iou(anchors, objects), torchvision.ops.box_iou(anchors, objects))
    assert box_iou.box_iou(objects[:0], anchors).shape == (0, 67)
    net = get_engine("torchvision").build(ModelSettings(architecture="maskrcnn_resnet18_fpn_small"), FAST, ["w"])
    assert net.rpn.box_similarity is box_iou.box_iou


def test_the_cpu_gets_bfloat16_mixed_precision_where_it_has_it_natively() -> None:
    from facade_wwr import device

    assert device.AMP_DTYPES["cuda"] == torch.float16
    assert device.AMP_DTYPES.get("cpu") == (torch.bfloat16 if device.cpu_has_native_bfloat16() else None)


# ---------------------------------------------------------------------------------------------- schedule, sampler


def test_lr_schedule() -> None:
    s = TrainSettings(base_lr=1.0, max_iter=100, warmup_iters=10, lr_schedule="cosine")
    assert lr_at(0, s) == pytest.approx(0.001)
    assert lr_at(10, s) == pytest.approx(0.5 * (1 + np.cos(np.pi * 0.1)))
    assert lr_at(50, s) == pytest.approx(0.5)
    assert lr_at(99, s) < 0.01
    c = TrainSettings(base_lr=0.1, max_iter=100, warmup_iters=0, lr_schedule="constant")
    assert lr_at(0, c) == lr_at(99, c) == 0.1


def test_sampler_is_a_function_of_seed_and_iteration() -> None:
    a = list(IterationSampler(10, 4, seed=1, start=0, stop=10, hflip=True))
    b = list(IterationSampler(10, 4, seed=1, start=6, stop=10, hflip=True))
    assert a[6:] == b
    # each epoch visits every image once
    flat = [k for batch in a for k in batch]
    assert sorted(i for i, _ in flat[:10]) == list(range(10))
    assert any(f for _, f in flat) and not all(f for _, f in flat)
    assert not any(f for batch in IterationSampler(10, 4, 1, 0, 10, hflip=False) for _, f in batch)
    assert a != list(IterationSampler(10, 4, seed=2, start=0, stop=10, hflip=True))


# ---------------------------------------------------------------------------------------------- training samples


def test_sample_matches_the_annotations(data: dict) -> None:
    coco = load_coco(data["train"])
    image = coco["images"][0]
    anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
    ds = CocoTrainSet(data["train"], min_size=96, max_size=128)  # demo photos are 96 px: no resizing
    s = ds[(0, False)]
    assert s.image.shape == (3, 96, 96) and s.image.dtype == torch.uint8
    assert s.labels.tolist() == [a["category_id"] for a in anns]
    for m, a in zip(s.masks.numpy().astype(bool), anns):
        truth = masks.decode(masks.polygons_to_rle(a["segmentation"], 96, 96)["counts"], 96, 96)
        assert (m == truth).all()
    ys, xs = np.nonzero(s.masks[0].numpy())
    assert s.boxes[0].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    f = ds[(0, True)]
    assert torch.equal(f.image, s.image.flip(-1)) and torch.equal(f.masks, s.masks.flip(-1))
    assert torch.allclose(f.boxes[:, [2, 0]], 96 - s.boxes[:, [0, 2]])


def test_sample_resized(data: dict) -> None:
    s = CocoTrainSet(data["train"], min_size=48, max_size=64)[(1, False)]
    assert s.image.shape == (3, 48, 48) and s.masks.shape[1:] == (48, 48)
    assert (s.boxes[:, 2:] > s.boxes[:, :2]).all() and s.masks.flatten(1).any(1).all()


def test_training_set_errors(tmp_path: Path, data: dict) -> None:
    broken = with_classes(data["train"], tmp_path / "t.json", ["window", "building"])
    text = broken.read_text()
    first = load_coco(data["train"])["images"][0]["file_name"]
    (tmp_path / "t2.json").write_text(text.replace(first, "gone.jpg"))
    with pytest.raises(UserError, match="gone.jpg not found"):
        CocoTrainSet(tmp_path / "t2.json", 96, 128)


# ---------------------------------------------------------------------------------------------- mask pasting


def _rectangles(n: int, h: int, w: int, seed: int) -> list[np.ndarray]:
    """``n`` ground-truth masks of one rectangle each, 3 to 40 pixels a side, in an ``h x w`` image."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        bw, bh = rng.integers(3, 40, size=2)
        x, y = rng.integers(0, w - bw), rng.integers(0, h - bh)
        mask = np.zeros((h, w), dtype=np.float32)
        mask[y : y + bh, x : x + bw] = 1
        out.append(mask)
    return out


def _cut_and_paste(mask: np.ndarray, aligned: bool, paste) -> tuple[float, float]:
    """(IoU, area ratio) of ``mask`` cut into 28 x 28 cells at its box as a mask head's training target is
    (RoIAlign, ``aligned`` as the engine's loss has it) and pasted back by ``paste(cells, box)``."""
    from torchvision.ops import roi_align

    ys, xs = np.nonzero(mask)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)
    cells = roi_align(torch.from_numpy(mask)[None, None], [torch.from_numpy(box)[None]], 28, 1.0, aligned=aligned)
    pasted = paste(cells[0, 0], box) > 0.5
    truth = mask > 0
    return (pasted & truth).sum() / (pasted | truth).sum(), pasted.sum() / truth.sum()


@pytest.mark.parametrize("aligned", [False, True], ids=["torchvision", "detectron2"])
def test_paste_mask_puts_a_training_target_back_on_its_pixels(aligned: bool) -> None:
    """A ground-truth mask cut into cells as the engine's mask loss cuts it (torchvision: RoIAlign
    ``aligned=False``, detectron2: ``aligned=True``) and pasted with that engine's offset lands on its own
    pixels; torchvision's own pasting grows every mask, most of all the small ones."""
    from torchvision.models.detection.roi_heads import paste_masks_in_image

    h, w = 80, 120
    offset = 0.0 if not aligned else 0.5

    def ours(cells, box):
        y0, y1, x0, x1, local = paste_mask(cells, box, h, w, offset=(offset, offset))
        full = np.zeros((h, w), dtype=bool)
        full[y0:y1, x0:x1] = local
        return full

    def torchvision(cells, box):
        return paste_masks_in_image(cells[None, None], torch.from_numpy(box)[None], (h, w))[0, 0].numpy()

    masks = _rectangles(60, h, w, seed=0)
    ious, ratios = zip(*(_cut_and_paste(m, aligned, ours) for m in masks))
    assert min(ious) > 0.9 and np.mean(ious) > 0.97
    assert abs(np.mean(ratios) - 1) < 0.03
    if not aligned:
        _, grown = zip(*(_cut_and_paste(m, aligned, torchvision) for m in masks))
        assert np.mean(grown) > 1.05


def test_a_mask_predicted_on_a_resized_photo_lands_on_the_photo_s_pixels() -> None:
    """Cells cut (torchvision's way) from a photo shrunk to half its size, mapped back by
    ``RawDetections.from_network``, paste onto the full-size photo's own pixels: none outside, and all but
    the column and row that RoIAlign ``aligned=False`` leaves out of the cells (half an input pixel at the
    box's left and top); without the offset for the resizing, the mask moves a pixel up and left."""
    from torchvision.ops import roi_align

    from facade_wwr.engines import RawDetections

    h, w = 120, 160
    small = np.zeros((h // 2, w // 2), dtype=np.float32)
    small[10:30, 20:27] = 1
    full = np.kron(small, np.ones((2, 2), dtype=np.float32)) > 0
    box = torch.tensor([[20.0, 10.0, 27.0, 30.0]])
    cells = roi_align(torch.from_numpy(small)[None, None], [box], 28, 1.0, aligned=False)[:, 0]
    raw = RawDetections.from_network(
        box, torch.ones(1), torch.zeros(1, dtype=torch.int64), cells, (h // 2, w // 2), (h, w), mask_shift=0.5
    )
    assert raw.mask_offset == (-0.5, -0.5)

    def pasted(offset: tuple[float, float]) -> np.ndarray:
        y0, y1, x0, x1, local = paste_mask(raw.mask_probs[0], raw.boxes[0], h, w, offset=offset)
        out = np.zeros((h, w), dtype=bool)
        out[y0:y1, x0:x1] = local
        return out

    expected = full.copy()
    expected[20, :] = expected[:, 40] = False  # the object's top row and left column
    right = pasted(raw.mask_offset)
    assert (right == expected).all()
    assert not pasted((0.0, 0.0))[59].any()  # without it, the mask moves a pixel up: the bottom row is lost
