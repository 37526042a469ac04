"""PyTorch's side of conv_bench.c: the same conv2d forward + backward.
usage: /usr/bin/python3 conv_bench.py REPEATS THREADS  -> median ms per step"""
import sys
import time

import torch

reps, threads = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
x = torch.randn(32, 32, 28, 28, requires_grad=True)
w = torch.randn(64, 32, 3, 3, requires_grad=True)
b = torch.zeros(64, requires_grad=True)
times = []
for i in range(reps + 3):
    t0 = time.perf_counter()
    y = torch.nn.functional.conv2d(x, w, b, padding=1)
    y.sum().backward()
    x.grad = w.grad = b.grad = None
    if i >= 3:
        times.append(time.perf_counter() - t0)
times.sort()
print(f"{times[len(times) // 2] * 1e3:.3f}")
