"""The GIL is released while the library computes: other Python threads go on."""
import threading
import time

import numpy as np

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
    # Each is one call into the library: holding the GIL would pause the loop for all of it.
    duration, pause = longest_pause_of_a_python_loop_during(lambda: a @ b)
    assert duration > 0.02
    assert pause < 0.5 * duration, (pause, duration)
    y = (a @ b).sum()
    duration, pause = longest_pause_of_a_python_loop_during(lambda: y.backward())
    assert duration > 0.02
    assert pause < 0.5 * duration, (pause, duration)
