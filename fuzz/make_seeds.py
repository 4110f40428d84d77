"""Writes the binary seeds of the fuzz corpus (fuzz/corpus/weights, fuzz/corpus/npy).

Run by hand with numpy and safetensors installed (never by CI):
    python fuzz/make_seeds.py
The text seeds (compile, fmt) are copies of examples/, tests/errors/,
tests/codegen_cases/ and tests/fixtures/nets/*.rn (see README, "Fuzzing").
"""

import io
import pathlib

import numpy as np
from safetensors.numpy import save

FUZZ = pathlib.Path(__file__).resolve().parent
rng = np.random.default_rng(0)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def torch_tensors():
    # harness::WEIGHTS_MODEL: conv(3, 2) on 2 channels, bn, dense(2) on 3 features.
    return {
        "c.weight": f32(3, 2, 2, 2),
        "c.bias": f32(3),
        "b.weight": f32(3),
        "b.bias": f32(3),
        "b.running_mean": f32(3),
        "b.running_var": np.abs(f32(3)),
        "fc.weight": f32(2, 3),
        "fc.bias": f32(2),
    }


def write(target, name, data):
    d = FUZZ / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def weights(name, options, tensors):
    write("weights", name, bytes([options]) + save(tensors))


t = torch_tensors()
weights("torch_valid", 0, t)
k = dict(t)
k["c.weight"] = np.ascontiguousarray(t["c.weight"].transpose(2, 3, 1, 0))  # OIHW -> HWIO
k["fc.weight"] = np.ascontiguousarray(t["fc.weight"].T)
weights("keras_valid", 1, k)
m = dict(k)
m["dense/kernel"] = m.pop("fc.weight")
weights("keras_name_map", 3, m)
bad = dict(t)
bad["c.bias"] = t["c.bias"].astype(np.float16)
bad["extra.weight"] = f32(4)
bad["b.num_batches_tracked"] = np.array(7, dtype=np.int64)
del bad["fc.bias"]
bad["fc.weight"] = f32(3, 2)
weights("mismatches", 0, bad)
valid = bytes([0]) + save(t)
write("weights", "truncated", valid[: len(valid) - 5])
write("weights", "header_only", valid[:20])
write("weights", "empty_header", bytes([0]) + (2).to_bytes(8, "little") + b"{}")


def npy(name, array, **kw):
    b = io.BytesIO()
    np.save(b, array, **kw)
    write("npy", name, b.getvalue())


npy("f32_4d", f32(1, 2, 3, 2))
npy("f32_2d", f32(2, 3))
npy("f32_scalar", np.float32(1.5))
npy("f32_empty", np.zeros((0, 3), np.float32))
npy("f64", np.zeros((2, 2)))
npy("big_endian", np.zeros((2, 2), ">f4"))
npy("int32", np.arange(4, dtype=np.int32))
npy("fortran", np.asfortranarray(f32(2, 3)))
npy("object", np.array([1, "a"], dtype=object), allow_pickle=True)
good = io.BytesIO()
np.save(good, f32(2, 2))
write("npy", "truncated", good.getvalue()[:-3])
write("npy", "extra_bytes", good.getvalue() + b"\0\0\0\0")
