"""PyTorch's side of step_bench.c: the same models and step. Prints the median
seconds per step. usage: /usr/bin/python3 step_bench.py mlp|cnn BATCH THREADS REPEATS"""
import sys
import time

import torch
from torch import nn

workload, batch, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(1)
if workload == "mlp":
    x = torch.rand(batch, 784)
    model = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
else:
    x = torch.rand(batch, 1, 28, 28)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 100), nn.ReLU(), nn.Dropout(0.3), nn.Linear(100, 10))
y = torch.arange(batch) % 10
opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
loss_fn = nn.CrossEntropyLoss()
warm = 5 if workload == "cnn" else 50
times = []
for i in range(reps + warm):
    t0 = time.perf_counter()
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    if i >= warm:
        times.append(time.perf_counter() - t0)
times.sort()
print(f"{times[len(times) // 2]:.9f}")
