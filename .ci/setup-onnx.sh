#!/usr/bin/env bash
# Python venv for the ONNX export checks (tests/suite/onnx_runtime.rs): pinned
# onnx, onnxruntime and numpy from PyPI in target/ci-venv. Quiet, and a no-op
# when the pinned versions are already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/ci-venv   # where tests/suite/onnx_runtime.rs looks (or set RESNETC_PYTHON)
# Keep in sync with the pins in README.md ("Serving the ONNX export").
pins=(onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6)
want="${pins[*]}"
stamp="$venv/.resnetc-pins"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
echo "$want" > "$stamp"
