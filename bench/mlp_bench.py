"""PyTorch's side of mlp_bench.c: the same MLP step. Prints median microseconds.
usage: /usr/bin/python3 mlp_bench.py REPEATS BATCH THREADS"""
import sys
import time

import torch

reps, batch, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(1)
x = torch.rand(batch, 784)
y = torch.arange(batch) % 10
model = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
loss_fn = torch.nn.CrossEntropyLoss()
times = []
for i in range(reps + 20):
    t0 = time.perf_counter()
    loss = loss_fn(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if i >= 20:
        times.append(time.perf_counter() - t0)
times.sort()
print(f"{times[len(times) // 2] * 1e6:.1f}")
