"""Batched ``predict`` vs a one-photo-at-a-time loop over the same model: photos per second and peak memory.

The loop is the tutorial's way: decode a photo in the main thread, run the network on it alone with
torchvision's own resizing and post-processing (every instance pasted as a full-image float mask),
threshold, encode, write. ``predict`` decodes in background threads, runs ``--batch-size`` photos per
pass, and pastes and encodes each instance inside its box only. Both write the same
Parquet files. Each mode runs in its own process so that its peak resident memory (ru_maxrss) is its own.

Photos are 1920x1080 JPEGs made by stretching synthetic demo facades. Without ``--model`` the network
has random weights (an untrained network keeps about as many instances as the cap allows, the worst case
for mask pasting). Run from the project root:

    python benchmarks/bench_predict.py --photos 6
    python benchmarks/bench_predict.py --model results/model --photos 12 --batch-size 4
    python benchmarks/bench_predict.py --engine detectron2 --photos 6          # detectron2 installed
    python benchmarks/bench_predict.py --device cuda --amp --photos 32        # on a GPU
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

D2_DEFAULT = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"


def make_photos(folder: Path, count: int, width: int, height: int) -> list[Path]:
    from PIL import Image

    from facade_wwr.demo import generate

    generate(folder / "demo", train=0, val=0, photos=count, seed=11, size=256)
    out = []
    for i, src in enumerate(sorted((folder / "demo" / "photos").glob("*.jpg"))[:count]):
        dest = folder / f"photo_{i:03d}.jpg"
        Image.open(src).convert("RGB").resize((width, height), Image.Resampling.BILINEAR).save(dest, quality=90)
        out.append(dest)
    return out


def make_model(folder: Path, engine_name: str, architecture: str) -> Path:
    import torch

    from facade_wwr.checkpoints import header, save_model
    from facade_wwr.engines import get_engine
    from facade_wwr.settings import ModelSettings, TrainSettings
    from facade_wwr.training import prepare_settings

    engine = get_engine(engine_name)
    model = prepare_settings(engine, ModelSettings(engine=engine_name, architecture=architecture, weights="none"))
    torch.manual_seed(0)
    classes = ["window", "building"]
    module = engine.build(model, TrainSettings(), classes)
    path = folder / "model" / "model.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(path, header(engine.name, model, TrainSettings(), classes), module, 0)
    return path


def run_batched(args: argparse.Namespace, photos: list[Path], out: Path) -> dict:
    from facade_wwr.inference import load_predictor, predict_photos

    predictor = load_predictor(args.model, args.device, args.min_score, args.max_detections, amp=args.amp)
    start = time.perf_counter()
    summary = predict_photos(predictor, photos, out, batch_size=args.batch_size, progress=False)
    return {"seconds": time.perf_counter() - start, "instances": summary["instances"]}


def _torchvision_one(predictor, bgr):
    """torchvision's own forward: resize inside, every instance pasted as a full-image float mask."""
    import torch

    rgb = torch.from_numpy(bgr[:, :, ::-1].copy()).permute(2, 0, 1).float().div(255).to(predictor.device)
    det = predictor.module([rgb])[0]
    dense = (det["masks"][:, 0] > 0.5).cpu().numpy()
    return det["boxes"].cpu().numpy(), det["scores"].cpu().numpy(), det["labels"].cpu().numpy() - 1, dense


def _detectron2_one(predictor, bgr):
    """detectron2's DefaultPredictor: ResizeShortestEdge, then the model's own full-image mask pasting."""
    import torch
    from detectron2.data import transforms as T

    h, w = bgr.shape[:2]
    aug = T.ResizeShortestEdge([predictor.min_size, predictor.min_size], predictor.max_size)
    image = aug.get_transform(bgr).apply_image(bgr)
    tensor = torch.as_tensor(image.astype("float32").transpose(2, 0, 1))
    inst = predictor.module([{"image": tensor, "height": h, "width": w}])[0]["instances"].to("cpu")
    return inst.pred_boxes.tensor.numpy(), inst.scores.numpy(), inst.pred_classes.numpy(), inst.pred_masks.numpy()


def run_loop(args: argparse.Namespace, photos: list[Path], out: Path) -> dict:
    """The tutorial's way, over the same network and weights."""
    import cv2
    import torch
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    from facade_wwr import masks, predictions
    from facade_wwr.device import amp_active, autocast
    from facade_wwr.inference import load_predictor

    predictor = load_predictor(args.model, args.device, args.min_score, args.max_detections, amp=args.amp)
    one = _detectron2_one if predictor.engine.name == "detectron2" else _torchvision_one
    if predictor.engine.name == "torchvision":
        t = predictor.module.transform
        predictor.module.transform = GeneralizedRCNNTransform(
            predictor.min_size, predictor.max_size, t.image_mean, t.image_std
        ).eval()  # a new module starts in training mode, which would skip the mask pasting
    out.mkdir(parents=True, exist_ok=True)
    instances = 0
    amp = amp_active(predictor.device, args.amp)
    start = time.perf_counter()
    with torch.inference_mode():
        for photo in photos:
            bgr = cv2.imread(str(photo))
            with autocast(predictor.device, amp):
                boxes, scores, labels, dense = one(predictor, bgr)
            labels = labels.astype(int)
            table = predictions.make_table(
                photo.name,
                [predictor.classes[c] for c in labels],
                labels,
                scores,
                boxes,
                [masks.encode(m) for m in dense],
                [int(m.sum()) for m in dense],
            )
            h, w = bgr.shape[:2]
            predictions.write(out / f"{photo.stem}.parquet", table, photo.name, w, h, predictor.engine.name, "loop")
            instances += len(table)
    return {"seconds": time.perf_counter() - start, "instances": instances}


def run_paste(args: argparse.Namespace, method: str) -> dict:
    """Mask pasting + RLE encoding alone: ``--instances`` random 28x28 masks into one photo."""
    import torch
    from torchvision.models.detection.roi_heads import paste_masks_in_image

    from facade_wwr import masks
    from facade_wwr.engines import RawDetections
    from facade_wwr.inference import encode_instances

    n, h, w = args.instances, args.height, args.width
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.8, h * 0.8])
    boxes = torch.cat([xy, xy + 20 + torch.rand(n, 2, generator=g) * torch.tensor([w * 0.2, h * 0.2])], 1)
    probs = torch.rand(n, 28, 28, generator=g)
    start = time.perf_counter()
    if method == "ours":
        raw = RawDetections(boxes.numpy(), torch.ones(n).numpy(), torch.zeros(n, dtype=torch.int64).numpy(), probs)
        rles, _, _ = encode_instances(raw, h, w)
    else:  # torchvision's post-processing: every instance as a full-image float mask, then encode
        full = paste_masks_in_image(probs[:, None], boxes, (h, w))[:, 0] > 0.5
        rles = [masks.encode(m) for m in full.numpy()]
    return {"seconds": time.perf_counter() - start, "instances": len(rles)}


def worker(args: argparse.Namespace) -> None:
    if args.worker.startswith("paste-"):
        result = run_paste(args, args.worker.removeprefix("paste-"))
        result.update(mode=args.worker, photos=1)
    else:
        photos = sorted(Path(args.photo_dir).glob("photo_*.jpg"))
        out = Path(tempfile.mkdtemp(prefix=f"bench_{args.worker}_"))
        result = (run_batched if args.worker == "batched" else run_loop)(args, photos, out)
        result.update(mode=args.worker, photos=len(photos), batch_size=args.batch_size)
    result.update(
        photos_per_s=result["photos"] / result["seconds"],
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    if args.device.startswith("cuda"):
        import torch

        result["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))


def _child(args: argparse.Namespace, mode: str, folder: Path, model: str, batch_size: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", mode, "--photo-dir", str(folder), "--model", model]
    cmd += ["--batch-size", str(batch_size), "--min-score", str(args.min_score), "--instances", str(args.instances)]
    cmd += ["--max-detections", str(args.max_detections), "--device", args.device]
    cmd += ["--width", str(args.width), "--height", str(args.height)]
    cmd += ["--amp"] if args.amp else []
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a model.pt or MODEL_DIR (default: random weights of --architecture)")
    p.add_argument("--engine", default="torchvision", choices=("torchvision", "detectron2"))
    p.add_argument("--architecture", help=f"default: maskrcnn_resnet50_fpn_v2 / {D2_DEFAULT}")
    p.add_argument("--photos", type=int, default=6)
    p.add_argument("--width", type=int, default=1920)
    p.add_argument("--height", type=int, default=1080)
    p.add_argument("--batch-sizes", default="1,4", help="batch sizes of predict to measure (default: 1,4)")
    p.add_argument("--min-score", type=float, default=0.05)
    p.add_argument("--max-detections", type=int, default=300)
    p.add_argument("--instances", type=int, default=300, help="instances of the pasting comparison (0: skip it)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--photo-dir", help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return

    import torch

    with tempfile.TemporaryDirectory(prefix="bench_predict_") as tmp:
        folder = Path(tmp)
        make_photos(folder, args.photos, args.width, args.height)
        default = "maskrcnn_resnet50_fpn_v2" if args.engine == "torchvision" else D2_DEFAULT
        model = args.model or str(make_model(folder, args.engine, args.architecture or default))
        cpu = f"CPU, {torch.get_num_threads()} threads"
        device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else cpu
        print(f"{args.photos} photos {args.width}x{args.height}, model {model}, {device}, amp {args.amp}")
        rows = [_child(args, "loop", folder, model, 1)]
        rows += [_child(args, "batched", folder, model, int(b)) for b in args.batch_sizes.split(",")]
        for r in rows:
            label = "loop, one photo at a time" if r["mode"] == "loop" else f"predict, batch {r['batch_size']}"
            gpu = f", GPU peak {r['gpu_peak_mb']:.0f} MB" if "gpu_peak_mb" in r else ""
            print(
                f"{label:26s}: {r['photos_per_s']:.3f} photos/s ({r['seconds']:.1f} s), "
                f"peak RSS {r['peak_rss_mb']:.0f} MB{gpu}, {r['instances'] / r['photos']:.0f} instances/photo"
            )
        if args.instances:
            print(f"mask pasting + RLE encoding of {args.instances} instances in one {args.width}x{args.height} photo:")
            for method in ("torchvision", "ours"):
                r = _child(args, f"paste-{method}", folder, model, 1)
                label = "full-image float masks" if method == "torchvision" else "inside each box"
                print(f"  {label:24s}: {r['seconds']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
