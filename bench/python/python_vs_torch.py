"""ndgrad's Python module against PyTorch driven from Python, in one process (W9, W10).

    PYTHONPATH=build/python:build/bench/python /usr/bin/python3 bench/python/python_vs_torch.py \
        [--threads N] [--round-ms MS]

W9: the per-op cost seen from Python. W1's program (25 x (mul, add, tanh, sub) on 8x8, then
sum and backward: 101 ops) against torch's, and a no-grad 8x8 add. W10: W2's MLP step (784-256-
128-10, batch 64, SGD with momentum) driven from Python (ndgrad.nn, ndgrad.optim) against the same
step in C++ (bench/python/w10_native.cpp, loaded into this process). X1: a 64 MB NumPy array to a
tensor and back (shared memory) against a 64 KB one: the time must not grow with the size.
Each pair alternates rounds of about --round-ms per side after a warm-up; a row prints the
median over rounds of each side's time per call and their ratio.
"""

import argparse
import statistics
import sys
import time

import numpy as np

import ndgrad as nd

try:
    import torch
except ImportError:  # W9 then times ndgrad alone
    torch = None
try:
    import ndgrad_bench_native as native
except ImportError:  # W10 then times the Python-driven step alone
    native = None


def per_call(fn, round_s):
    """Seconds per call of fn over about round_s."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= round_s:
            return elapsed / calls


def compare(name, ours, theirs, their_name, unit_scale, unit, round_s, rounds=15, per=1):
    """Alternating rounds; prints the medians (scaled to unit, divided by per) and the ratio."""
    per_call(ours, 0.2)  # warm-up
    if theirs:
        per_call(theirs, 0.2)
    a, b = [], []
    for _ in range(rounds):
        a.append(per_call(ours, round_s))
        if theirs:
            b.append(per_call(theirs, round_s))
    ma = statistics.median(a) * unit_scale / per
    line = f"{name:<42} ndgrad {ma:10.3f} {unit}"
    if theirs:
        mb = statistics.median(b) * unit_scale / per
        ratios = [y / x for x, y in zip(a, b)]
        line += f"   {their_name} {mb:10.3f} {unit}   {their_name}/ndgrad {statistics.median(ratios):6.2f}x"
    print(line, flush=True)


def w9(round_s):
    rng = np.random.default_rng(1)
    x = nd.tensor(rng.standard_normal((8, 8)).astype(np.float32), requires_grad=True)

    def chain_nd():
        y = x
        for _ in range(25):
            y = nd.tanh(y * 1.0001 + 0.5) - x
        y.sum().backward()
        x.zero_grad()

    def add_nd():
        return x + x

    theirs_chain = theirs_add = None
    if torch is not None:
        tx = torch.randn(8, 8, requires_grad=True)

        def theirs_chain():
            y = tx
            for _ in range(25):
                y = torch.tanh(y * 1.0001 + 0.5) - tx
            y.sum().backward()
            tx.grad = None

        def theirs_add():
            return tx + tx

    compare("W9 per op from Python (8x8, fwd+bwd)", chain_nd, theirs_chain, "torch", 1e6, "us/op",
            round_s, per=101)
    with nd.no_grad():
        if torch is not None:
            with torch.no_grad():
                compare("W9 no-grad 8x8 add from Python", add_nd, theirs_add, "torch", 1e6,
                        "us", round_s)
        else:
            compare("W9 no-grad 8x8 add from Python", add_nd, None, "", 1e6, "us", round_s)


def w10(round_s):
    model = nd.nn.Sequential(nd.nn.Linear(784, 256, seed=1), nd.nn.ReLU(),
                             nd.nn.Linear(256, 128, seed=2), nd.nn.ReLU(),
                             nd.nn.Linear(128, 10, seed=3))
    opt = nd.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(4)
    x = nd.tensor(rng.standard_normal((64, 784)).astype(np.float32))
    y = nd.tensor(rng.integers(0, 10, size=64))

    def step_python():
        opt.zero_grad()
        nd.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    step_cpp = None
    if native is not None:
        cpp = native.MlpStep()

        def step_cpp():
            cpp.run(1)

    # The ratio printed is C++/Python: the target reads it as Python within 1.2x of C++.
    compare("W10 MLP step from Python (C++: same step)", step_python, step_cpp, "C++", 1e6, "us",
            round_s)


def x1(round_s):
    big = np.ones(16 << 20, dtype=np.float32)  # 64 MB
    small = np.ones(16 << 10, dtype=np.float32)  # 64 KB

    def there_and_back(a):
        t = nd.from_numpy(a)
        b = np.asarray(t)
        assert np.shares_memory(a, b)
        return b

    compare("X1 NumPy -> ndgrad -> NumPy, 64 MB", lambda: there_and_back(big),
            lambda: there_and_back(small), "64 KB", 1e6, "us", round_s)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--round-ms", type=float, default=20.0)
    args = parser.parse_args()
    nd.set_num_threads(args.threads)
    if native is not None:
        native.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(f"ndgrad from Python {sys.version.split()[0]}, "
          f"torch {torch.__version__ if torch else '(absent)'}, {args.threads} thread(s)")
    round_s = args.round_ms / 1000
    w9(round_s)
    w10(round_s)
    x1(round_s)


if __name__ == "__main__":
    main()
