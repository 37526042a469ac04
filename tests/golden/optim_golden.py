#!/usr/bin/python3
"""Golden values for nabla's optimizers, computed with PyTorch (Debian python3-torch).

Writes optim_golden.txt: two fixed parameters, a fixed sequence of 20 gradients
(from a formula; the second parameter has no gradient on some steps, so the
optimizers must skip it and keep its step count), and for each optimizer
configuration the parameters after every step. tests/optim/test_optim.c reads the
file, feeds nabla the same gradients and compares every step at 1e-5 relative.
Regenerate with
    /usr/bin/python3 tests/golden/optim_golden.py

Format (one record per line, numbers printed with 9 significant digits):
    param <i> <ndim> <dims...>          then a line with its initial values
    grad <step> <i> <numel>             then a line with the gradient (numel 0: no grad)
    case <name> <kind>                  kind: sgd, adagrad, rmsprop, adam, adamw, nadam,
                                        adamax, adadelta
    hp <key> <value> ...                the hyper-parameters (see CONFIGS)
    after <step> <i>                    then a line with param i after that step
    end
"""
import math
import os

import torch

STEPS = 20
SHAPES = [(2, 3), (4,)]


def initial_params():
    """Values away from zero, so that relative errors stay meaningful."""
    out = []
    k = 0
    for shape in SHAPES:
        n = math.prod(shape)
        vals = [(-1) ** (k + j) * (1.0 + 0.25 * (k + j)) for j in range(n)]
        k += n
        out.append(torch.tensor(vals, dtype=torch.float32).reshape(shape))
    return out


def gradient(step, i):
    """Gradient of param i at step (1-based), or None: param 1 skips every 5th step."""
    if i == 1 and step % 5 == 0:
        return None
    n = math.prod(SHAPES[i])
    vals = [math.sin(0.7 * step + 1.3 * j + 2.1 * i) * (1.0 + 0.1 * j) + 0.2 * math.cos(0.3 * step)
            for j in range(n)]
    return torch.tensor(vals, dtype=torch.float32).reshape(SHAPES[i])


# name, kind, hyper-parameters (every key the C test understands)
CONFIGS = [
    ("sgd", "sgd", dict(lr=0.1)),
    ("sgd_momentum", "sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd_nesterov", "sgd", dict(lr=0.05, momentum=0.9, nesterov=1)),
    ("sgd_weight_decay", "sgd", dict(lr=0.1, weight_decay=0.1)),
    ("sgd_momentum_weight_decay", "sgd", dict(lr=0.05, momentum=0.5, weight_decay=0.1)),
    ("sgd_clip_norm", "sgd", dict(lr=0.1, momentum=0.9, clip_norm=1.0)),
    ("adagrad", "adagrad", dict(lr=0.1, initial_accumulator=0.1, eps=1e-7)),
    ("adagrad_zero_init", "adagrad", dict(lr=0.05, initial_accumulator=0.0, eps=1e-10)),
    # a large eps shows where eps goes: outside the square root in all three
    ("adagrad_large_eps", "adagrad", dict(lr=0.1, initial_accumulator=0.0, eps=0.1)),
    ("rmsprop", "rmsprop", dict(lr=0.01, rho=0.9, eps=1e-7)),
    ("rmsprop_momentum", "rmsprop", dict(lr=0.01, rho=0.9, momentum=0.9, eps=1e-7)),
    ("rmsprop_centered", "rmsprop", dict(lr=0.01, rho=0.9, eps=1e-7, centered=1)),
    ("rmsprop_centered_momentum", "rmsprop",
     dict(lr=0.01, rho=0.8, momentum=0.5, eps=0.1, centered=1)),
    ("adam", "adam", dict(lr=0.05, beta1=0.9, beta2=0.999, eps=1e-7)),
    ("adam_amsgrad", "adam", dict(lr=0.05, beta1=0.8, beta2=0.9, eps=1e-7, amsgrad=1)),
    ("adam_large_eps", "adam", dict(lr=0.05, beta1=0.9, beta2=0.999, eps=0.1)),
    ("adam_clip_value", "adam", dict(lr=0.05, beta1=0.9, beta2=0.999, eps=1e-7, clip_value=0.5)),
    ("adamw", "adamw", dict(lr=0.05, beta1=0.9, beta2=0.999, eps=1e-7, weight_decay=0.1)),
    ("nadam", "nadam", dict(lr=0.05, beta1=0.9, beta2=0.999, eps=1e-7, momentum_decay=0.004)),
    # a fast momentum schedule: mu_t goes from 0.41 to 0.53 in the 20 steps (0.004: all 0.45)
    ("nadam_momentum_decay", "nadam",
     dict(lr=0.05, beta1=0.8, beta2=0.99, eps=1e-7, momentum_decay=0.5)),
    ("adamax", "adamax", dict(lr=0.05, beta1=0.9, beta2=0.999, eps=1e-7)),
    ("adadelta", "adadelta", dict(lr=1.0, rho=0.9, eps=1e-6)),
    ("adadelta_lr_rho", "adadelta", dict(lr=0.5, rho=0.8, eps=1e-3)),
    # Keras 2's Adam(decay=...): lr / (1 + lr_decay * (t - 1)), t the param's update count
    ("adam_lr_decay", "adam", dict(lr=0.05, beta1=0.9, beta2=0.999, eps=1e-7, lr_decay=0.1)),
]


def make_optimizer(kind, hp, params):
    """The torch optimizer of a case, and its learning-rate scheduler (or None)."""
    if "lr_decay" not in hp:
        return make_update_rule(kind, hp, params), None
    # lr_decay: nabla's rate for a param's t-th update is lr / (1 + lr_decay (t - 1)). A
    # LambdaLR stepped after each opt.step() gives group k the factor lambda_k(s) before
    # step s + 1, so each param is a group whose lambda counts the updates it has had:
    # param 0 has a grad at every step (s updates, Keras's iterations-based decay), param 1
    # none at the steps 5, 10, ... (s - s // 5 updates).
    opt = make_update_rule(kind, hp, [{"params": [params[0]]}, {"params": [params[1]]}])
    d = hp["lr_decay"]
    lambdas = [lambda s: 1.0 / (1.0 + d * s), lambda s: 1.0 / (1.0 + d * (s - s // 5))]
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambdas)


def make_update_rule(kind, hp, params):
    lr = hp["lr"]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=hp.get("momentum", 0.0),
                               nesterov=bool(hp.get("nesterov", 0)),
                               weight_decay=hp.get("weight_decay", 0.0))
    if kind == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, lr_decay=0,
                                   initial_accumulator_value=hp["initial_accumulator"],
                                   eps=hp["eps"])
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=hp["rho"], eps=hp["eps"],
                                   momentum=hp.get("momentum", 0.0),
                                   centered=bool(hp.get("centered", 0)))
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
                                amsgrad=bool(hp.get("amsgrad", 0)))
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
                                 weight_decay=hp["weight_decay"])
    if kind == "nadam":
        # foreach=True: 1.13's default single-tensor path divides the second term by
        # 1 - mu_product * mu_t * mu_next, a bug PyTorch 2.0 fixed (pytorch/pytorch#92699);
        # the foreach path, like PyTorch 2, divides by 1 - mu_product * mu_next
        return torch.optim.NAdam(params, lr=lr, betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
                                 momentum_decay=hp["momentum_decay"], foreach=True)
    if kind == "adamax":
        return torch.optim.Adamax(params, lr=lr, betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"])
    if kind == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, rho=hp["rho"], eps=hp["eps"])
    raise ValueError(kind)


def values(t):
    return " ".join(f"{v:.9g}" for v in t.detach().flatten().tolist())


def run_case(name, kind, hp, out):
    params = [p.clone().requires_grad_(True) for p in initial_params()]
    opt, scheduler = make_optimizer(kind, hp, params)
    out.append(f"case {name} {kind}")
    out.append("hp " + " ".join(f"{k} {v!r}" for k, v in hp.items()))
    smallest = math.inf
    for step in range(1, STEPS + 1):
        for i, p in enumerate(params):
            g = gradient(step, i)
            p.grad = None if g is None else g.clone()
        if "clip_norm" in hp:
            torch.nn.utils.clip_grad_norm_(params, hp["clip_norm"])
        if "clip_value" in hp:
            torch.nn.utils.clip_grad_value_(params, hp["clip_value"])
        opt.step()
        if scheduler:
            scheduler.step()
        for i, p in enumerate(params):
            out.append(f"after {step} {i}")
            out.append(values(p))
            smallest = min(smallest, p.detach().abs().min().item())
    out.append("end")
    return smallest


def main():
    out = [f"# written by optim_golden.py with torch {torch.__version__}"]
    for i, p in enumerate(initial_params()):
        out.append(f"param {i} {p.dim()} " + " ".join(str(d) for d in p.shape))
        out.append(values(p))
    for step in range(1, STEPS + 1):
        for i in range(len(SHAPES)):
            g = gradient(step, i)
            out.append(f"grad {step} {i} {0 if g is None else g.numel()}")
            out.append("" if g is None else values(g))
    for name, kind, hp in CONFIGS:
        smallest = run_case(name, kind, hp, out)
        print(f"{name:28s} smallest |param| over all steps: {smallest:.4g}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim_golden.txt")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
