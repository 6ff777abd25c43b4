#!/usr/bin/python3
"""Writes the PyTorch-made test data under tests/data (run with Debian's python3, which has
python3-torch and python3-numpy; the files are committed, so the tests need neither):

  torch_small_cnn.npz     a small CNN trained for a few steps by PyTorch, its state_dict exported
                          with numpy.savez (the documented interop path: docs/API.md, "PyTorch
                          interop")
  torch_small_cnn_io.npz  an input batch and the logits the model gives it in eval mode
  torch_schedules.npz     the lr (and momentum) every torch.optim.lr_scheduler schedule gives,
                          step by step, for the configurations tests/nn/test_schedules.cpp makes

usage: /usr/bin/python3 tools/oracles/make_torch_data.py [OUT_DIR]   (default tests/data)
"""
import math
import os
import sys

import numpy as np
import torch
from torch import nn


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),  # 0
        nn.BatchNorm2d(4),  # 1
        nn.ReLU(),  # 2
        nn.MaxPool2d(2),  # 3
        nn.Conv2d(4, 8, 3, stride=1, padding=1, groups=2),  # 4
        nn.ReLU(),  # 5
        nn.AvgPool2d(2),  # 6
        nn.Flatten(),  # 7
        nn.Linear(8 * 3 * 3, 16),  # 8
        nn.LayerNorm(16),  # 9
        nn.ReLU(),  # 10
        nn.Linear(16, 5),  # 11
    )


def write_cnn(out):
    torch.manual_seed(0)
    model = small_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = torch.randn(64, 1, 12, 12)
    y = torch.randint(0, 5, (64,))
    for _ in range(20):  # trained a little: the running statistics and weights move
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    test_x = torch.randn(6, 1, 12, 12)
    with torch.no_grad():
        logits = model(test_x)
    np.savez(os.path.join(out, "torch_small_cnn.npz"),
             **{k: v.numpy() for k, v in model.state_dict().items()})
    np.savez(os.path.join(out, "torch_small_cnn_io.npz"), input=test_x.numpy(),
             logits=logits.numpy())


def run(make, steps, metrics=None):
    """The lr of group 0 and 1 (and group 0's momentum or beta1) after construction and after
    each of `steps` steps."""
    p0, p1 = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    sched, opt = make([p0], [p1])
    lrs, moms = [], []

    def record():
        g = opt.param_groups
        lrs.append([g[0]["lr"], g[1]["lr"]])
        moms.append(g[0]["betas"][0] if "betas" in g[0] else g[0].get("momentum", 0.0))

    record()
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        record()
    return np.array(lrs, dtype=np.float64), np.array(moms, dtype=np.float64)


def sgd(a, b, lr=0.1, momentum=0.9):
    return torch.optim.SGD([{"params": a}, {"params": b, "lr": lr * 0.5}], lr=lr,
                           momentum=momentum)


def adam(a, b, lr=0.1):
    return torch.optim.Adam([{"params": a}, {"params": b, "lr": lr * 0.5}], lr=lr)


def write_schedules(out):
    S = torch.optim.lr_scheduler
    data = {}

    def add(name, make, steps, metrics=None):
        lrs, moms = run(make, steps, metrics)
        data[name + ".lr"] = lrs
        data[name + ".momentum"] = moms

    def with_opt(opt_fn, sched_fn):
        def make(a, b):
            o = opt_fn(a, b)
            return sched_fn(o), o
        return make

    add("step", with_opt(sgd, lambda o: S.StepLR(o, step_size=3, gamma=0.5)), 12)
    add("multistep", with_opt(sgd, lambda o: S.MultiStepLR(o, milestones=[2, 5, 5, 9],
                                                             gamma=0.3)), 12)
    add("exponential", with_opt(sgd, lambda o: S.ExponentialLR(o, gamma=0.8)), 12)
    add("cosine", with_opt(sgd, lambda o: S.CosineAnnealingLR(o, T_max=7, eta_min=0.001)), 12)
    add("onecycle_cos", with_opt(sgd, lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=20)), 20)
    add("onecycle_linear_three", with_opt(adam, lambda o: S.OneCycleLR(
        o, max_lr=0.5, total_steps=17, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, div_factor=10, final_div_factor=100, base_momentum=0.8,
        max_momentum=0.9)), 17)
    add("onecycle_no_momentum", with_opt(sgd, lambda o: S.OneCycleLR(
        o, max_lr=0.3, total_steps=10, cycle_momentum=False)), 10)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.9, 0.91, 0.92, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6,
               0.6, 0.6, 0.6, 0.6, 0.6]
    data["plateau.metrics"] = np.array(metrics, dtype=np.float64)
    add("plateau_min_rel", with_opt(sgd, lambda o: S.ReduceLROnPlateau(
        o, factor=0.5, patience=2, cooldown=1, min_lr=0.01)), len(metrics), metrics)
    add("plateau_max_abs", with_opt(sgd, lambda o: S.ReduceLROnPlateau(
        o, mode="max", factor=0.1, patience=1, threshold=0.05, threshold_mode="abs")),
        len(metrics), metrics)
    # The cosine schedule with a linear warmup (the transformers' formula; PyTorch has no class
    # of it): LinearLR then CosineAnnealingLR, chained by SequentialLR, start_factor 0.1.
    add("cosine_warmup", with_opt(sgd, lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=4),
            S.CosineAnnealingLR(o, T_max=8, eta_min=0.0)], milestones=[4])), 14)
    np.savez(os.path.join(out, "torch_schedules.npz"), **data)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data")
    os.makedirs(out, exist_ok=True)
    write_cnn(out)
    write_schedules(out)


if __name__ == "__main__":
    main()
