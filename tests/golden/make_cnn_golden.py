#!/usr/bin/python3
"""Golden values for nabla's CNN ops, computed with PyTorch (Debian python3-torch).

Writes cnn_golden.txt: for each case the inputs, the options, the output y and
the gradients of sum(y * r) for a fixed random r. tests/ops/test_cnn.c reads the
file and compares nabla's results at 1e-4 relative. Regenerate with
    /usr/bin/python3 tests/golden/make_cnn_golden.py
"""
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float32)
out = []


def emit(name, t):
    t = t.detach().contiguous()
    dims = " ".join(str(d) for d in t.shape)
    out.append(f"tensor {name} {t.dim()} {dims}")
    out.append(" ".join(f"{v:.9g}" for v in t.flatten().tolist()))


def leaf(*shape):
    return torch.randn(*shape, requires_grad=True)


def conv_case(name, n, c, h, w, k, r, s, stride, pad, dil, groups, bias, same=False):
    x, wt = leaf(n, c, h, w), leaf(k, c // groups, r, s)
    b = leaf(k) if bias else None
    xin = x
    if same:  # Keras "same": ceil(in / stride), the extra pixel at the end
        pads = []
        for size, ks, st, dl in ((w, s, stride[1], dil[1]), (h, r, stride[0], dil[0])):
            o = (size + st - 1) // st
            total = max((o - 1) * st + dl * (ks - 1) + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        xin = F.pad(x, pads)
        pad = (0, 0)
    y = F.conv2d(xin, wt, b, stride=stride, padding=pad, dilation=dil, groups=groups)
    rr = torch.randn_like(y)
    (y * rr).sum().backward()
    out.append(f"case conv {name}")
    out.append(f"opts {stride[0]} {stride[1]} {pad[0]} {pad[1]} {dil[0]} {dil[1]} {groups} "
               f"{int(bias)} {int(same)}")
    emit("x", x)
    emit("w", wt)
    if bias:
        emit("b", b)
    emit("r", rr)
    emit("y", y)
    emit("dx", x.grad)
    emit("dw", wt.grad)
    if bias:
        emit("db", b.grad)
    out.append("end")


def pool_case(name, kind, n, c, h, w, k, stride, pad, include_pad=True):
    x = leaf(n, c, h, w)
    if kind == "max":
        y = F.max_pool2d(x, k, stride, pad)
    else:
        y = F.avg_pool2d(x, k, stride, pad, count_include_pad=include_pad)
    rr = torch.randn_like(y)
    (y * rr).sum().backward()
    out.append(f"case {kind}pool {name}")
    out.append(f"opts {k[0]} {k[1]} {stride[0]} {stride[1]} {pad[0]} {pad[1]} {int(include_pad)}")
    emit("x", x)
    emit("r", rr)
    emit("y", y)
    emit("dx", x.grad)
    out.append("end")


def bn_case(name, shape, training):
    c = shape[1]
    x, g, b = leaf(*shape), leaf(c), leaf(c)
    rm, rv = torch.randn(c), torch.rand(c) + 0.5
    rm0, rv0 = rm.clone(), rv.clone()
    y = F.batch_norm(x, rm, rv, g, b, training=training, momentum=0.1, eps=1e-5)
    rr = torch.randn_like(y)
    (y * rr).sum().backward()
    out.append(f"case batchnorm {name}")
    out.append(f"opts {int(training)}")
    emit("x", x)
    emit("gamma", g)
    emit("beta", b)
    emit("rm", rm0)
    emit("rv", rv0)
    emit("r", rr)
    emit("y", y)
    emit("dx", x.grad)
    emit("dgamma", g.grad)
    emit("dbeta", b.grad)
    emit("rm_after", rm)
    emit("rv_after", rv)
    out.append("end")


conv_case("basic", 2, 3, 7, 5, 4, 3, 3, (1, 1), (0, 0), (1, 1), 1, True)
conv_case("stride2_pad1", 3, 2, 7, 5, 4, 3, 3, (2, 2), (1, 1), (1, 1), 1, True)
conv_case("same_stride1", 1, 2, 6, 6, 3, 3, 3, (1, 1), (0, 0), (1, 1), 1, False, same=True)
conv_case("same_stride2", 2, 3, 7, 5, 2, 3, 3, (2, 2), (0, 0), (1, 1), 1, True, same=True)
conv_case("dilation2", 1, 2, 9, 8, 3, 3, 3, (1, 1), (1, 1), (2, 2), 1, True)
conv_case("groups2", 3, 4, 6, 5, 6, 3, 2, (1, 1), (1, 0), (1, 1), 2, True)
conv_case("no_bias_1x1", 2, 3, 4, 4, 5, 1, 1, (1, 1), (0, 0), (1, 1), 1, False)
pool_case("2x2_s2", "max", 2, 3, 6, 6, (2, 2), (2, 2), (0, 0))
pool_case("3x3_s1_p1", "max", 1, 2, 7, 5, (3, 3), (1, 1), (1, 1))
pool_case("3x3_s2_p1_incl", "avg", 2, 2, 7, 5, (3, 3), (2, 2), (1, 1), True)
pool_case("3x3_s2_p1_excl", "avg", 2, 2, 7, 5, (3, 3), (2, 2), (1, 1), False)
pool_case("2x2_s2", "avg", 3, 1, 4, 6, (2, 2), (2, 2), (0, 0), True)
bn_case("train_4d", (4, 3, 5, 4), True)
bn_case("train_2d", (6, 5), True)
bn_case("eval_4d", (2, 3, 4, 4), False)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cnn_golden.txt")
with open(path + ".tmp", "w") as f:
    f.write("# written by make_cnn_golden.py with torch " + torch.__version__ + "\n")
    f.write("\n".join(out) + "\n")
os.replace(path + ".tmp", path)
print("wrote", path)
