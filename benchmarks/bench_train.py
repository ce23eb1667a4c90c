"""Training speed: seconds per iteration and peak memory of ``facade-wwr train``, with and without mixed
precision, on the CPU or a GPU; optionally the val mask AP50 reached.

Trains on synthetic demo facades (``--size`` px, 60 train / 20 val photos) with the demo recipe of
``config/config.yaml`` (AdamW, cosine decay, slim sampling) through the same code as ``facade-wwr train``;
each setting runs in its own process so that its peak memory is its own. The first ``--skip`` iterations
(model warm-up, cuDNN autotuning) are left out of the mean. On the CPU ``amp`` changes nothing (float32
either way). Run from the project root:

    python benchmarks/bench_train.py --iters 20                                   # CPU, the demo model
    python benchmarks/bench_train.py --device cuda --amp both --iters 100         # on a GPU, AMP on and off
    python benchmarks/bench_train.py --device cuda --amp both --iters 100 --size 800 \\
        --architecture maskrcnn_resnet50_fpn_v2 --batch 4                          # the real architecture
    python benchmarks/bench_train.py --device cuda --engine detectron2 --amp both --size 800 --batch 4
    python benchmarks/bench_train.py --device cuda --amp both --size 800 --real --workers 4 \
        --architecture maskrcnn_resnet50_fpn_v2                                 # the real photos

Each line gives seconds per iteration and, of those, the wait for the photo loader (``data_time``): where
that is not near zero, the loader processes (``--workers``, ``train.num_workers``) do not keep up.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

D2_DEFAULT = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"
CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "japan-buildings"


def make_data(folder: Path, size: int, real: bool) -> None:
    """COCO files ``folder/train.json`` and ``folder/val.json``: of demo facades of ``size`` px, or of the
    real data set (129 training photos of up to 2048x1536, 34 polygons each on average)."""
    from facade_wwr.demo import generate

    if real:
        if not (REAL / "train" / "via_region_data.json").is_file():
            raise SystemExit(f"--data real: the real data set is not at {REAL}")
        root = REAL
    else:
        generate(folder, train=60, val=20, photos=0, seed=3, size=size)
        root = folder
    for split in ("train", "val"):
        via, images, out = root / split / "via_region_data.json", root / split, folder / f"{split}.json"
        done = subprocess.run(  # in a child, so that the real data's annotation warnings stay out of the figures
            [
                sys.executable,
                "-m",
                "facade_wwr.cli",
                "via2coco",
                "--via",
                str(via),
                "--images",
                str(images),
                "--out",
                str(out),
                "--quiet",
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"via2coco failed on {via}: {done.stderr.strip()}")


def worker(args: argparse.Namespace) -> dict:
    import torch

    from facade_wwr.settings import load_settings
    from facade_wwr.training import train

    folder = Path(args.data)
    overrides = {  # the demo recipe of config/config.yaml, with what this benchmark varies
        "model.engine": args.engine,
        "model.architecture": args.architecture,
        "model.weights": "none",
        "model.min_size": args.size,
        "model.max_size": args.size * 7 // 4,
        "train.max_iter": args.iters,
        "train.ims_per_batch": args.batch,
        "train.warmup_iters": min(50, args.iters // 4),
        "train.checkpoint_period": 0,
        "train.log_period": 1,
        "train.amp": args.worker == "amp",
        "train.device": args.device,
    }
    if args.workers is not None:
        overrides["train.num_workers"] = args.workers
    model, settings = load_settings(CONFIG, [(*key.split("."), value) for key, value in overrides.items()])
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        out = Path(tmp)
        val = folder / "val.json" if args.eval else None
        metrics = train(folder / "train.json", val, out, model, settings, log=io.StringIO())
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    timed = [r["sec_per_iter"] for r in records if r["iteration"] > args.skip]
    result = {
        "mode": args.worker,
        "sec_per_iter": sum(timed) / len(timed) if timed else float("nan"),
        "data_wait": sum(r["data_time"] for r in records if r["iteration"] > args.skip) / max(1, len(timed)),
        "final_loss": records[-1]["loss"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "mask_ap50": (metrics.get("segm") or {}).get("AP50"),
    }
    if torch.cuda.is_available() and args.device != "cpu":
        result["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engine", default="torchvision", choices=("torchvision", "detectron2"))
    p.add_argument("--architecture", help=f"default: maskrcnn_resnet18_fpn_small / {D2_DEFAULT}")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--amp", default="off", choices=("off", "on", "both"), help="mixed precision (CUDA only)")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--skip", type=int, default=3, help="first iterations left out of the mean (default: 3)")
    p.add_argument("--batch", type=int, default=4, help="images per batch (default: 4)")
    p.add_argument("--size", type=int, default=256, help="photo and input size in pixels (default: 256)")
    p.add_argument("--eval", action="store_true", help="also evaluate on val at the end (mask AP50)")
    p.add_argument("--real", action="store_true", help=f"train on the real data set ({REAL.name}), not demo facades")
    p.add_argument("--workers", type=int, help="train.num_workers, loader processes (default: the config's)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.architecture = args.architecture or (
        "maskrcnn_resnet18_fpn_small" if args.engine == "torchvision" else D2_DEFAULT
    )
    if args.worker:
        print(json.dumps(worker(args)))
        return

    import torch

    modes = {"off": ["fp32"], "on": ["amp"], "both": ["fp32", "amp"]}[args.amp]
    on_gpu = args.device.startswith("cuda")
    device = torch.cuda.get_device_name(0) if on_gpu else f"CPU, {torch.get_num_threads()} threads"
    data = "real photos" if args.real else "demo facades"
    print(f"{args.engine} {args.architecture}, {data} at {args.size} px, batch {args.batch}, ", end="")
    print(f"{args.iters} iterations, {device}")
    with tempfile.TemporaryDirectory(prefix="bench_train_data_") as tmp:
        make_data(Path(tmp), args.size, args.real)
        for mode in modes:
            cmd = [sys.executable, __file__, "--worker", mode, "--data", tmp, "--engine", args.engine]
            cmd += ["--architecture", args.architecture, "--device", args.device, "--iters", str(args.iters)]
            cmd += ["--skip", str(args.skip), "--batch", str(args.batch), "--size", str(args.size)]
            cmd += ["--eval"] if args.eval else []
            cmd += ["--workers", str(args.workers)] if args.workers is not None else []
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            line = f"{mode:5s}: {r['sec_per_iter']:.3f} s/iter (of which waiting for data {r['data_wait']:.3f} s), "
            line += f"final loss {r['final_loss']:.3f}, "
            line += f"peak RSS {r['peak_rss_mb']:.0f} MB"
            if "gpu_peak_mb" in r:
                line += f", GPU peak {r['gpu_peak_mb']:.0f} MB"
            if r["mask_ap50"] is not None:
                line += f", val mask AP50 {r['mask_ap50']:.3f}"
            print(line)


if __name__ == "__main__":
    main()
