"""Times resnetc's interpreter against onnxruntime on the same models, in the
same run, interleaved, and prints the ratio of the medians.

Run by hand (not by CI), after `cargo build --release` (and, for the generated
code's column, `cargo build --release -p bench-generated`, which times
the generated `forward_into` on buffers made once):

    pip install torch torchvision onnx onnxruntime onnxscript
    python3 benches/compare_onnxruntime.py [--threads 2] [--rounds 5] [--repeat 10]

The ONNX models are torchvision's own export of resnet18 / resnet50 (random
weights: speed does not depend on them), written to a temporary directory.
resnetc runs `examples/resnet18.rn` / `examples/resnet50.rn` through
`resnetc bench`. The machine is shared and noisy, so each round times both
engines back to back and the ratio is taken of the medians over all rounds.
"""
import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESNETC = os.path.join(ROOT, "target", "release", "resnetc")
GENERATED = os.path.join(ROOT, "target", "release", "bench-generated")


def export(name, directory):
    path = os.path.join(directory, f"{name}.onnx")
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    try:
        torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False)
    except TypeError:
        torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    return path


def time_ort(session, batch, repeat):
    x = np.full((batch, 3, 224, 224), 0.5, dtype=np.float32)
    session.run(None, {"x": x})
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        session.run(None, {"x": x})
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def time_resnetc(name, batch, repeat, threads):
    out = subprocess.run(
        [RESNETC, "bench", os.path.join(ROOT, "examples", f"{name}.rn"), "--batch", str(batch),
         "--repeat", str(repeat), "--threads", str(threads)],
        check=True, capture_output=True, text=True).stdout
    return float(re.search(r"median_ms=([0-9.]+)", out).group(1))


def time_generated(name, batch, repeat, threads):
    out = subprocess.run([GENERATED, name, str(batch), str(repeat), str(threads)],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"median_ms=([0-9.]+)", out).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--models", default="resnet18,resnet50")
    ap.add_argument("--batches", default="1,8")
    args = ap.parse_args()
    if not os.path.exists(RESNETC):
        raise SystemExit("build resnetc first: cargo build --release")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    print(f"onnxruntime {ort.__version__}, torch {torch.__version__}, threads {args.threads}")
    generated = os.path.exists(GENERATED)
    header = f"{'model':<10} {'batch':>5} {'interp ms':>10} {'ort ms':>8} {'interp/ort':>10}"
    if generated:
        header += f" {'generated ms':>13} {'gen/ort':>8} {'gen/interp':>10}"
    print(header)
    with tempfile.TemporaryDirectory() as d:
        for name in args.models.split(","):
            session = ort.InferenceSession(export(name, d), opts, providers=["CPUExecutionProvider"])
            for batch in map(int, args.batches.split(",")):
                ours, theirs, gen = [], [], []
                repeat = max(2, args.repeat // batch)
                for _ in range(args.rounds):
                    theirs.append(time_ort(session, batch, repeat))
                    ours.append(time_resnetc(name, batch, repeat, args.threads))
                    if generated:
                        gen.append(time_generated(name, batch, repeat, args.threads))
                a, b = statistics.median(ours), statistics.median(theirs)
                line = f"{name:<10} {batch:>5} {a:>10.2f} {b:>8.2f} {a / b:>10.2f}"
                if generated:
                    c = statistics.median(gen)
                    line += f" {c:>13.2f} {c / b:>8.2f} {c / a:>10.2f}"
                print(line, flush=True)


if __name__ == "__main__":
    main()
