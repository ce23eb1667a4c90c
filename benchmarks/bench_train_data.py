"""Training data speed: how long one loader process takes to make a training sample (photo decoded and
resized, polygons rasterised into the mask stack, boxes), flipped or not.

On a GPU the loader must keep up with the model: with ``train.num_workers`` processes, a batch of
``train.ims_per_batch`` samples is ready every ``ims_per_batch x ms per sample / num_workers`` ms; when
that is longer than a GPU step, raise ``num_workers`` (``data_time`` in ``metrics.jsonl`` shows the wait).
Reads the real training set (``../shared/datasets/japan-buildings``) when present, else synthetic facades.
Run from the project root:

    python benchmarks/bench_train_data.py                        # 800 px input, the real architecture's
    python benchmarks/bench_train_data.py --size 256 --max-size 448   # the demo model's input
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_train import REAL, make_data  # the same data as the training benchmark (this folder is on sys.path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=800, help="model.min_size (default: 800)")
    p.add_argument("--max-size", type=int, default=1333, help="model.max_size (default: 1333)")
    p.add_argument("--batch", type=int, default=4, help="images per batch, for the batch figure (default: 4)")
    args = p.parse_args()

    from facade_wwr.training import CocoTrainSet

    real = (REAL / "train" / "via_region_data.json").is_file()
    what = "real training set (japan-buildings)" if real else "synthetic facades (the real data set is absent)"
    with tempfile.TemporaryDirectory(prefix="bench_train_data_") as tmp:
        make_data(Path(tmp), 1024, real)  # synthetic facades of 1024 px when the real photos are absent
        ds = CocoTrainSet(Path(tmp) / "train.json", args.size, args.max_size)
        keys = [(i, flip) for i, e in enumerate(ds.entries) if e.annotations for flip in (False, True)]
        ds[keys[0]]  # imports and first-call costs
        times, instances = [], 0
        for key in keys:
            t = time.perf_counter()
            sample = ds[key]
            times.append(1000 * (time.perf_counter() - t))
            instances += len(sample.labels)
    mean = statistics.fmean(times)
    p95 = statistics.quantiles(times, n=20)[-1]
    print(
        f"{what}: {len(keys)} samples ({len(keys) // 2} annotated photos, each plain and flipped), "
        f"{instances / len(keys):.0f} masks per sample, input {args.size}/{args.max_size} px"
    )
    print(f"one loader process: {mean:.1f} ms per sample (p95 {p95:.1f} ms), {1000 / mean:.0f} samples/s")
    for workers in (1, 2, 4, 8):
        print(f"  num_workers {workers}: a batch of {args.batch} every {args.batch * mean / workers:.0f} ms")


if __name__ == "__main__":
    main()
