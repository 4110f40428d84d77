#!/usr/bin/env python3
"""Checks resnetc's ONNX exports against resnetc's own outputs.

Each CASE directory (prepared by tests/suite/onnx_runtime.rs) holds:
  case.json            {"name", "inputs": [names], "outputs": [names]}
  model.onnx           `resnetc export` of the model (weights from `resnetc init`)
  input.<name>.npy     the inputs (f32)
  expected.<name>.npy  resnetc's outputs on those weights and inputs (`resnetc run`)

For every case: onnx.checker.check_model(full_check=True), then onnxruntime
(CPU) on the inputs; every output must match resnetc's within
max |delta| <= 1e-4 * max(1, max |expected|). Prints one line per case with the
error seen; exits 1 if any case fails.

Usage: check_export.py CASE_DIR...
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

TOLERANCE = 1e-4


def check_case(case: Path) -> bool:
    meta = json.loads((case / "case.json").read_text())
    start = time.perf_counter()
    model_path = case / "model.onnx"
    model = onnx.load(str(model_path))
    onnx.checker.check_model(model, full_check=True)
    graph_inputs = [i.name for i in model.graph.input]
    graph_outputs = [o.name for o in model.graph.output]
    if graph_inputs != meta["inputs"] or graph_outputs != meta["outputs"]:
        print(f"FAIL {meta['name']}: graph inputs {graph_inputs} / outputs {graph_outputs}, "
              f"expected {meta['inputs']} / {meta['outputs']}")
        return False
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    feeds = {name: np.load(case / f"input.{name}.npy") for name in meta["inputs"]}
    results = session.run(meta["outputs"], feeds)
    ok = True
    report = []
    for name, got in zip(meta["outputs"], results):
        want = np.load(case / f"expected.{name}.npy")
        if got.shape != want.shape:
            print(f"FAIL {meta['name']}: output {name} has shape {got.shape}, resnetc gives {want.shape}")
            ok = False
            continue
        err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
        scale = max(1.0, float(np.max(np.abs(want))))
        passed = err <= TOLERANCE * scale
        ok = ok and passed
        report.append(f"{name} max|d|={err:.3g} (max|ref|={scale:.3g}){'' if passed else ' FAIL'}")
    elapsed = time.perf_counter() - start
    print(f"{'ok  ' if ok else 'FAIL'} {meta['name']}: {', '.join(report)} [{elapsed:.2f} s]")
    return ok


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}")
    failed = []
    for case in argv:
        try:
            passed = check_case(Path(case))
        except Exception as e:  # the checker's or onnxruntime's error, reported per case
            print(f"FAIL {case}: {type(e).__name__}: {e}")
            passed = False
        if not passed:
            failed.append(case)
    if failed:
        print(f"{len(failed)} of {len(argv)} cases failed: {', '.join(failed)}")
        return 1
    print(f"all {len(argv)} cases match")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
