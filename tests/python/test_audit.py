"""The broadcast audit from Python: records named by the Python file:line, the outer-product
flag, per-leaf summation factors after backward, strict broadcasting's warn level, threads, and
the NDGRAD_BROADCAST_AUDIT environment variable."""
import os
import subprocess
import sys
import threading

import numpy as np

import ndgrad as nd


def lineno():
    return sys._getframe(1).f_lineno


def test_records_are_grouped_per_python_line_and_flag_outer_products():
    rng = np.random.default_rng(0)
    column, vector = nd.tensor(rng.standard_normal((6, 1))), nd.tensor(rng.standard_normal(6))
    wide, bias = nd.tensor(rng.standard_normal((6, 4))), nd.tensor(rng.standard_normal(4))
    with nd.broadcast_audit() as a:
        for _ in range(3):
            column - vector; outer_line = lineno()  # noqa: E702
        wide + bias; bias_line = lineno()  # noqa: E702
        wide * 2.0  # 0-d: not recorded
        wide + wide  # equal shapes: not recorded
    records = a.records()  # still readable after the block
    assert len(records) == 2, a.report()
    outer = next(r for r in records if r["op"] == "sub")
    assert outer["operands"] == [(6, 1), (6,)] and outer["result"] == (6, 6)
    assert outer["count"] == 3 and outer["suspicious"]
    assert outer["stretched"] == [(1,), (0,)]
    assert outer["call_site"] == f"{__file__}:{outer_line}"
    plain = next(r for r in records if r["op"] == "add")
    assert not plain["suspicious"] and plain["count"] == 1
    assert plain["call_site"] == f"{__file__}:{bias_line}"
    report = a.report()
    assert "4 implicit broadcasts at 2 call sites, 1 suspicious" in report
    assert f"test_audit.py:{outer_line}" in report and "SUSPICIOUS sub (6,1) with (6,)" in report
    column - vector
    assert len(a.records()) == 2  # the block is over: nothing more recorded


def test_leaf_summation_factors_and_nothing_recorded_in_backward():
    rng = np.random.default_rng(1)
    bias = nd.tensor(rng.standard_normal(4), requires_grad=True)
    x = nd.tensor(rng.standard_normal((128, 4)), requires_grad=True)
    p = nd.tensor(rng.standard_normal((1, 3)), requires_grad=True)
    a53, a253 = nd.tensor(rng.standard_normal((5, 3))), nd.tensor(rng.standard_normal((2, 5, 3)))
    with nd.broadcast_audit() as a:
        y = (x + bias) * nd.tensor(rng.standard_normal((128, 1)))
        z = (p + a53).sum() + (p * a253).sum()
        before = [r["count"] for r in a.records()]
        y.backward(nd.tensor(rng.standard_normal((128, 4))))
        z.backward()
    assert [r["count"] for r in a.records()] == before and len(before) == 4, a.report()
    b = a.leaf(bias)
    assert b["shape"] == (4,) and b["max_factor"] == 128
    assert b["contributions"] == [{"op": "add", "gradient": (128, 4), "factor": 128, "count": 1}]
    assert sorted(c["factor"] for c in a.leaf(p)["contributions"]) == [5, 10]
    assert a.leaf(p)["max_factor"] == 10
    assert a.leaf(x)["max_factor"] == 1
    assert a.leaf(a53) is None
    assert "leaf (4,): 128 values (from add (128,4))" in a.report()


def test_where_and_matmul_batch_dims():
    rng = np.random.default_rng(2)
    with nd.broadcast_audit() as a:
        nd.where(nd.tensor(rng.standard_normal((5, 1))) > 0, nd.tensor(rng.standard_normal((5, 3))),
                 nd.tensor(rng.standard_normal(3)))
        nd.tensor(rng.standard_normal((2, 1, 3, 4))) @ nd.tensor(rng.standard_normal((5, 4, 6)))
    ops = sorted((r["op"], tuple(r["operands"])) for r in a.records())
    assert ops == [("matmul (batch dims)", ((2, 1), (5,))), ("where", ((5, 1), (5, 3), (3,)))]


def test_records_from_several_threads():
    x, r = nd.ones(8, 3), nd.ones(3)

    def work():
        for _ in range(25):
            x + r

    with nd.broadcast_audit() as a:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    (record,) = a.records()
    assert record["count"] == 100 and record["call_site"].startswith(__file__ + ":")


def test_warn_level_prints_once_per_site_and_continues(capfd):
    column, vector = nd.ones(4, 1), nd.ones(4)
    with nd.strict_broadcast("warn"):
        for _ in range(3):
            d = column - vector; line = lineno()  # noqa: E702
        assert d.shape == (4, 4)
    err = capfd.readouterr().err
    assert err.count("ndgrad warning") == 1, err
    assert f"sub: implicit broadcast of (4,1) and (4,) to (4,4) at {__file__}:{line}" in err


def test_environment_variable_reports_at_exit(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text("import ndgrad as nd\n"
                      "a, b = nd.ones(3, 1), nd.ones(3)\n"
                      "d = a - b\n")
    env = dict(os.environ, NDGRAD_BROADCAST_AUDIT="1")
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1 implicit broadcast at 1 call site, 1 suspicious" in done.stderr
    assert f"{script}:3" in done.stderr
    out = tmp_path / "report.txt"
    env["NDGRAD_BROADCAST_AUDIT"] = str(out)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "ndgrad broadcast audit" not in done.stderr
    assert "SUSPICIOUS sub (3,1) with (3,) -> (3,3)  x1" in out.read_text()


def test_a_call_from_the_packages_python_code_names_the_users_line():
    layer = nd.nn.Linear(4, 3, seed=1)
    x = nd.tensor(np.random.default_rng(3).standard_normal((16, 4)))
    with nd.broadcast_audit() as a:
        loss = layer(x).sum(); line = lineno()  # noqa: E702
        loss.backward()
    adds = [r for r in a.records() if r["op"] == "add"]
    assert adds and all(r["call_site"] == f"{__file__}:{line}" for r in adds), a.report()
    assert a.leaf(layer.bias)["max_factor"] == 16


def test_a_strict_refusal_inside_the_package_names_the_users_line():
    import pytest
    layer = nd.nn.Linear(3, 2)
    x = nd.randn(4, 3)
    with nd.strict_broadcast():
        line = lineno() + 2
        try:
            layer(x)
        except nd.ShapeError as e:
            message = str(e)
        else:
            pytest.skip("Linear broadcasts its bias explicitly: nothing to refuse")
    assert f"test_audit.py:{line}" in message, message
    assert "ndgrad/nn.py" not in message and "ndgrad/__init__.py" not in message


def test_strict_refusals_are_recorded_and_explain_grad_is_library_broadcasting():
    import pytest
    x = nd.randn(2, 3, requires_grad=True)
    loss = nd.nn.functional.softmax(x, 1).sum()
    with nd.broadcast_audit() as a:
        with nd.strict_broadcast():
            with pytest.raises(nd.ShapeError):
                nd.ones(4, 1) - nd.ones(4)
            e = nd.explain_grad(loss, x)  # its own backward pass broadcasts: allowed
            assert e.grad.shape == (2, 3)
            nd.to_dot(loss, gradients=True)
    ops = [r["op"] for r in a.records()]
    assert ops.count("sub") == 1, a.report()
    assert all(r["call_site"].startswith(__file__) for r in a.records()), a.report()


def test_repeated_summations_are_counted_and_clear_forgets():
    w = nd.randn(3, requires_grad=True)
    batch = nd.randn(5, 3)
    with nd.broadcast_audit() as a:
        for _ in range(7):
            (batch * w).sum().backward()
        leaf = a.leaf(w)
        assert leaf["contributions"] == [
            {"op": "mul", "gradient": (5, 3), "factor": 5, "count": 7}], leaf
        assert "5 values (from mul (5,3)) x7" in a.report()
        a.clear()
        assert a.records() == [] and a.leaves() == []
        batch + w
    assert len(a.records()) == 1
