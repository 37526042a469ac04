#!/usr/bin/python3
"""Reads a safetensors file with nothing but json and numpy (the format is
public) and prints each tensor: name, shape, then the values, one line each.
Used by tests/core/test_safetensors.c to check that other tools read nabla's files."""
import json
import struct
import sys

import numpy as np

with open(sys.argv[1], "rb") as f:
    raw = f.read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
for name, info in sorted(header.items()):
    if name == "__metadata__":
        for k, v in sorted(info.items()):
            print(f"meta {k} {v}")
        continue
    begin, end = info["data_offsets"]
    values = np.frombuffer(data[begin:end], dtype="<f4").reshape(info["shape"])
    print(name, info["dtype"], list(values.shape))
    print(" ".join(f"{v:.9g}" for v in values.flatten()))
