"""Times resnetc's interpreter against onnxruntime on the same models, in the
same run, interleaved, and prints the ratio of the medians.

Run by hand (not by CI), after `cargo build --release` (and, for the generated
code's column, `cargo build --release -p bench-generated`, which times
the generated `forward_into` on buffers made once):

    pip install torch torchvision onnx onnxruntime onnxscript
    python3 benches/compare_onnxruntime.py [--threads 2] [--rounds 9] [--repeat 7] [--winograd]

The ONNX models are torchvision's own export of resnet18 / resnet50 (random
weights: speed does not depend on them), written to a temporary directory.
resnetc runs `examples/resnet18.rn` / `examples/resnet50.rn` through
`resnetc bench`. Both sides take the same statistic: the median of `--repeat`
(≥ 7) timed calls after one warm-up call. The machine is shared and noisy, so
the engines alternate within each round (≥ 9 rounds), every round's ratio is
printed with the load average, and the summary gives the median of the
per-round ratios. The header names the commit, the CPU model and the versions.
`--winograd` runs the interpreter with `resnetc bench --winograd` (and leaves
out the generated-code column, whose binary is emitted without it).
"""
import argparse
import json
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
    """Median of `repeat` timed calls after one warm-up call, in ms."""
    x = np.full((batch, 3, 224, 224), 0.5, dtype=np.float32)
    session.run(None, {"x": x})
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        session.run(None, {"x": x})
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def field(out, key):
    return float(re.search(rf"{key}=([0-9.]+)", out).group(1))


def time_resnetc(name, batch, repeat, threads, winograd=False):
    """`resnetc bench`: the median of `repeat` timed calls after one warm-up."""
    out = subprocess.run(
        [RESNETC, "bench", os.path.join(ROOT, "examples", f"{name}.rn"), "--batch", str(batch),
         "--repeat", str(repeat), "--threads", str(threads), "--no-peak"]
        + (["--winograd"] if winograd else []),
        check=True, capture_output=True, text=True).stdout
    return field(out, "median_ms")


def time_generated(name, batch, repeat, threads):
    """The generated `forward_into`: the median of `repeat` timed calls after one warm-up."""
    out = subprocess.run([GENERATED, name, str(batch), str(repeat), str(threads)],
                         check=True, capture_output=True, text=True).stdout
    return field(out, "median_ms")


def layer_key(onnx_name):
    """onnxruntime's node name → resnetc's layer name.

    torchvision's export scopes a node by its module path, one component per
    module, where a component repeats its parent's name only for container
    children: `/layer1/layer1.0/conv1/Conv` is `layer1.0.conv1`,
    `/layer1/layer1.0/downsample/downsample.0/Conv` is
    `layer1.0.downsample.0`. onnxruntime names a fused node after the output
    of its last op: a conv fused with the ReLU after it is
    `…/relu/Relu_output_0_nchwc`, which is the block's `conv1` (stem:
    `conv1`), and `…/relu_1/…` its `conv2`, as resnetc names the fused step.
    """
    parts = [p for p in onnx_name.split("/") if p][:-1]
    if not parts:
        return onnx_name
    path = []
    for part in parts:
        if path and part.startswith(path[-1] + "."):
            path[-1] = part
        else:
            path.append(part)
    key = ".".join(path)
    for relu, conv in (("relu", "conv1"), ("relu_1", "conv2")):
        if key == relu or key.endswith("." + relu):
            return key[: len(key) - len(relu)] + conv
    return key


def ort_profile(path, batch, threads, repeat, directory):
    """Per-node kernel time (ms, mean over `repeat` runs after a warm-up) from
    onnxruntime's own profiler (`enable_profiling`), keyed by `layer_key`."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.enable_profiling = True
    opts.profile_file_prefix = os.path.join(directory, "ort-profile")
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    x = np.full((batch, 3, 224, 224), 0.5, dtype=np.float32)
    session.run(None, {"x": x})
    for _ in range(repeat):
        session.run(None, {"x": x})
    with open(session.end_profiling()) as f:
        events = json.load(f)
    per_node = {}
    ops = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        name = e["name"][: -len("_kernel_time")]
        key = layer_key(name)
        per_node[key] = per_node.get(key, 0.0) + e["dur"] / 1e3
        ops.setdefault(key, set()).add(e.get("args", {}).get("op_name", "?"))
    # The warm-up run is in the trace too.
    return {k: v / (repeat + 1) for k, v in per_node.items()}, ops


def resnetc_profile(name, batch, threads, repeat):
    """Per-layer median ms from `resnetc bench --profile` (lines `layer=… ms=…`)."""
    out = subprocess.run(
        [RESNETC, "bench", os.path.join(ROOT, "examples", f"{name}.rn"), "--batch", str(batch),
         "--repeat", str(repeat), "--threads", str(threads), "--no-peak", "--profile"],
        check=True, capture_output=True, text=True).stdout
    layers = {}
    for m in re.finditer(r"^layer=(\S+) op=(\S+) ms=([0-9.]+)", out, re.M):
        layers[m.group(1)] = (m.group(2), float(m.group(3)))
    return layers


def profile(args):
    """Prints onnxruntime's and resnetc's time per layer, side by side."""
    model, batch = args.profile.split(":") if ":" in args.profile else (args.profile, "1")
    batch = int(batch)
    cpu, commit = machine()
    print(f"per-layer profile of {model} batch {batch}, {args.threads} threads; resnetc {commit}; "
          f"onnxruntime {ort.__version__}; {cpu}; {load()}")
    with tempfile.TemporaryDirectory() as d:
        theirs, ops = ort_profile(export(model, d), batch, args.threads, args.repeat, d)
    ours = resnetc_profile(model, batch, args.threads, args.repeat)
    keys = list(ours) + [k for k in theirs if k not in ours]
    print(f"{'layer':<28} {'resnetc op':<22} {'resnetc ms':>10} {'ort ms':>8} {'ratio':>6}  ort ops")
    total_ours = total_theirs = 0.0
    for k in keys:
        op, a = ours.get(k, ("-", 0.0))
        b = theirs.get(k, 0.0)
        total_ours += a
        total_theirs += b
        ratio = f"{a / b:6.2f}" if a and b else "     -"
        print(f"{k:<28} {op:<22} {a:>10.3f} {b:>8.3f} {ratio}  {','.join(sorted(ops.get(k, [])))}")
    print(f"{'total':<28} {'':<22} {total_ours:>10.3f} {total_theirs:>8.3f} {total_ours / total_theirs:6.2f}")
    # Where the time goes, by kind of step: resnetc's op against onnxruntime's
    # time on the layers resnetc runs as that op (a fused conv+add+ReLU in
    # onnxruntime counts as the conv).
    by_op = {}
    for k in keys:
        op, mine = ours.get(k, ("(onnxruntime only)", 0.0))
        a, b = by_op.get(op, (0.0, 0.0))
        by_op[op] = (a + mine, b + theirs.get(k, 0.0))
    print(f"\n{'by op':<28} {'':<22} {'resnetc ms':>10} {'ort ms':>8}")
    for op, (a, b) in sorted(by_op.items(), key=lambda kv: -kv[1][0]):
        print(f"{op:<28} {'':<22} {a:>10.3f} {b:>8.3f}")
    print("(both fuse a block's Add and ReLU into the conv that produces one operand: resnetc's\n"
          " `conv+add` steps; onnxruntime lists them under that conv)")


def machine():
    """CPU model, commit and onnxruntime version, for the report's header."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown commit"
    return cpu, commit


def load():
    return "load %.2f %.2f %.2f" % os.getloadavg()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=9, help="interleaved rounds (at least 9)")
    ap.add_argument("--repeat", type=int, default=7,
                    help="timed calls per engine per round, after one warm-up (at least 7)")
    ap.add_argument("--models", default="resnet18,resnet50")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--profile", metavar="MODEL[:BATCH]",
                    help="instead of timing, print per-layer times of resnetc and onnxruntime's profiler")
    ap.add_argument("--winograd", action="store_true",
                    help="run the interpreter with --winograd (no generated-code column)")
    args = ap.parse_args()
    if args.profile:
        return profile(args)
    if args.rounds < 9 or args.repeat < 7:
        raise SystemExit("use --rounds ≥ 9 and --repeat ≥ 7: fewer do not make a trustworthy median")
    if not os.path.exists(RESNETC):
        raise SystemExit("build resnetc first: cargo build --release")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    cpu, commit = machine()
    print(f"resnetc {commit}; onnxruntime {ort.__version__}, torch {torch.__version__}; "
          f"{cpu}; {os.cpu_count()} CPUs; threads {args.threads}; "
          f"{args.rounds} rounds × median of {args.repeat} calls each side; "
          f"{'interpreter with --winograd; ' if args.winograd else ''}{load()}")
    generated = os.path.exists(GENERATED) and not args.winograd
    if args.winograd:
        print("(no generated-code column: bench-generated is emitted without --winograd)")
    elif not generated:
        print("(no generated-code column: cargo build --release -p bench-generated)")
    summary = []
    with tempfile.TemporaryDirectory() as d:
        for name in args.models.split(","):
            session = ort.InferenceSession(export(name, d), opts, providers=["CPUExecutionProvider"])
            for batch in map(int, args.batches.split(",")):
                print(f"\n{name} batch {batch}")
                ours, theirs, gen = [], [], []
                for r in range(args.rounds):
                    theirs.append(time_ort(session, batch, args.repeat))
                    ours.append(time_resnetc(name, batch, args.repeat, args.threads, args.winograd))
                    line = (f"  round {r + 1}: ort {theirs[-1]:8.2f} ms  interp {ours[-1]:8.2f} ms  "
                            f"interp/ort {ours[-1] / theirs[-1]:5.2f}")
                    if generated:
                        gen.append(time_generated(name, batch, args.repeat, args.threads))
                        line += f"  generated {gen[-1]:8.2f} ms  gen/ort {gen[-1] / theirs[-1]:5.2f}"
                    print(line + f"  ({load()})", flush=True)
                interp_ratio = statistics.median(o / t for o, t in zip(ours, theirs))
                row = [name, batch, statistics.median(theirs), statistics.median(ours), interp_ratio]
                if generated:
                    row += [statistics.median(gen), statistics.median(g / t for g, t in zip(gen, theirs))]
                summary.append(row)
    print(f"\nmedians over rounds ({load()}); ratios are medians of the per-round ratios")
    header = f"{'model':<10} {'batch':>5} {'ort ms':>9} {'interp ms':>10} {'interp/ort':>10}"
    if generated:
        header += f" {'generated ms':>13} {'gen/ort':>8}"
    print(header)
    for row in summary:
        line = f"{row[0]:<10} {row[1]:>5} {row[2]:>9.2f} {row[3]:>10.2f} {row[4]:>10.2f}"
        if generated:
            line += f" {row[5]:>13.2f} {row[6]:>8.2f}"
        print(line)


if __name__ == "__main__":
    main()
