#!/usr/bin/python3
"""Recomputes the forward pass of a nabla model file of Dense layers with nothing but json
and numpy, from the layout README.md's "Model files" documents: Dense kernel [in, out],
bias [out], activations by name. Reads x from a .npy-free text argument ("N,IN,v0,v1,...")
and prints the outputs, one number a line. Used by tests/nn/test_model_file.c."""
import json
import struct
import sys

import numpy as np

with open(sys.argv[1], "rb") as f:
    raw = f.read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
meta = header.pop("__metadata__")
data = raw[8 + n:]


def tensor(name):
    info = header[name]
    begin, end = info["data_offsets"]
    return np.frombuffer(data[begin:end], dtype="<f4").reshape(info["shape"])


assert meta["format"] == "nabla" and meta["content"] == "model", meta
numbers = [float(v) for v in sys.argv[2].split(",")]
x = np.array(numbers[2:], dtype=np.float32).reshape(int(numbers[0]), int(numbers[1]))
assert json.loads(meta["model.input_shape"]) == [x.shape[1]]
for i in range(int(meta["model.layers"])):
    layer = f"layer.{i}."
    assert meta[layer + "class"] == "Dense", meta[layer + "class"]
    name = meta[layer + "name"]
    x = x @ tensor(name + "/kernel")  # [N, in] @ [in, out]
    if json.loads(meta[layer + "use_bias"]):
        x = x + tensor(name + "/bias")
    act = meta[layer + "activation"]
    if act == "relu":
        x = np.maximum(x, 0)
    else:
        assert act == "linear", act
for v in x.flatten():
    print(f"{v:.9g}")
