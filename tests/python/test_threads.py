"""The GIL is released while the library computes: other Python threads go on."""
import threading
import time

import numpy as np
import pytest

import ndgrad as nd


def longest_pause_of_a_python_loop_during(work):
    # Runs work() on a thread while this one loops in Python, and returns (the work's duration,
    # the longest time between two iterations of the loop while the work ran).
    done = threading.Event()
    times = {}

    def run():
        start = time.perf_counter()
        work()
        times["work"] = time.perf_counter() - start
        done.set()

    thread = threading.Thread(target=run)
    last = time.perf_counter()
    longest = 0.0
    thread.start()
    while not done.is_set():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    thread.join()
    return times["work"], longest


def test_matmul_and_backward_release_the_gil():
    rng = np.random.default_rng(0)
    a = nd.tensor(rng.standard_normal((1200, 1200)), requires_grad=True)
    b = nd.tensor(rng.standard_normal((1200, 1200)))
    a @ b  # warm up (thread pools, caches)

    def loop_goes_on(make_work):
        # Each work is one call into the library: holding the GIL would pause the loop for all
        # of it, every time. On a busy machine the loop may also wait for a core now and then:
        # one of three tries must show it going on.
        tries = []
        for _ in range(3):
            duration, pause = longest_pause_of_a_python_loop_during(make_work())
            assert duration > 0.02
            tries.append((pause, duration))
            if pause < 0.5 * duration:
                return True
        raise AssertionError(f"(longest pause, duration) of each try: {tries}")

    assert loop_goes_on(lambda: (lambda: a @ b))

    def backward_work():
        y = (a @ b).sum()
        return lambda: y.backward()

    assert loop_goes_on(backward_work)


def test_python_threads_train_side_by_side_with_the_results_of_one():
    # Each thread: its own small network and data, forward and backward many times, grad mode
    # toggled (per thread) on the way. The results must be those of running alone.
    def run(seed, out):
        rng = np.random.default_rng(seed)
        x = nd.tensor(rng.standard_normal((16, 8)))
        w = nd.tensor(rng.standard_normal((8, 4)), requires_grad=True)
        for _ in range(50):
            with nd.no_grad():
                assert not nd.is_grad_enabled()
            loss = (nd.tanh(x @ w) ** 2).mean()
            w.grad = None
            loss.backward()
            with nd.no_grad():
                w -= 0.1 * w.grad
        out[seed] = w.numpy().copy()

    alone = {}
    for seed in range(4):
        run(seed, alone)
    together = {}
    threads = [threading.Thread(target=run, args=(seed, together)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in range(4):
        np.testing.assert_array_equal(together[seed], alone[seed])


def test_thread_count_set_and_read_back():
    before = nd.get_num_threads()
    try:
        nd.set_num_threads(1)
        assert nd.get_num_threads() == 1
        nd.set_num_threads(2)
        assert nd.get_num_threads() == 2
        for bad in (0, -3, 1025):
            with pytest.raises(ValueError):
                nd.set_num_threads(bad)
        assert nd.get_num_threads() == 2  # a refused count changes nothing
    finally:
        nd.set_num_threads(before)


@pytest.mark.parametrize("work", ["small", "matmul", "backward", "hook", "numpy"])
def test_the_interpreter_exits_cleanly_while_a_daemon_thread_is_in_the_library(work):
    # At exit Python ends a daemon thread that wants the GIL back by unwinding its stack: a
    # call that gave the GIL up must let that unwinding through (it aborted the process).
    import os
    import subprocess
    import sys
    code = (
        "import threading, time, numpy as np, ndgrad as nd\n"
        "w = nd.randn(200, 200, requires_grad=True)\n"
        "a = np.ones((200, 200), np.float32)\n"
        f"work = {work!r}\n"
        "def loop():\n"
        "    while True:\n"
        "        if work == 'small': w[0] + 1\n"
        "        elif work == 'matmul': w @ w\n"
        "        elif work == 'backward': (w @ w).sum().backward()\n"
        "        elif work == 'hook':\n"
        "            y = w * 2\n"
        "            y.register_hook(lambda g: g)\n"
        "            y.sum().backward()\n"
        "        else: (nd.from_numpy(a) @ w).detach()\n"
        "for _ in range(2):\n"
        "    threading.Thread(target=loop, daemon=True).start()\n"
        "time.sleep(0.3)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                env=env, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]


def test_an_elementwise_op_releases_the_gil_by_its_broadcast_result_not_its_operands():
    # Operands of 3000 elements each (each below the 2^14 from which the GIL is given up)
    # broadcast to 9 million: the op runs long, and other threads must go on meanwhile.
    # int32: computed by the call itself (float results this large may be left pending).
    a = nd.ones(1, 3000).int()
    b = nd.ones(3000, 1).int()
    with nd.no_grad():
        a + b  # warm up
    tries = []
    for _ in range(3):
        duration, pause = longest_pause_of_a_python_loop_during(lambda: (a + b).numpy())
        tries.append((pause, duration))
        if duration > 0.005 and pause < 0.5 * duration:
            return
    raise AssertionError(f"(longest pause, duration) of each try: {tries}")


def test_a_finalizer_that_calls_the_library_at_exit_runs_and_does_not_hang():
    # The main thread finalizes the interpreter and runs __del__ methods then: only the other
    # threads are parked when they want the GIL back during exit, never the finalizing one.
    import os
    import subprocess
    import sys
    code = (
        "import ndgrad as nd\n"
        "class Saver:\n"
        "    def __init__(self):\n"
        "        self.w = nd.randn(300, 300, requires_grad=True)\n"
        "    def __del__(self):\n"
        "        (self.w @ self.w).sum().backward()\n"
        "        print('finalizer ran', self.w.grad.shape, flush=True)\n"
        "keep = Saver()\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=30)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "finalizer ran (300, 300)" in result.stdout
