"""Scans, sorting and selection as module functions: values against NumPy, gradients against
torch with random inputs and upstream gradients, (values, indices) tuples."""
import numpy as np
import pytest

import ndgrad


def test_sort_argsort_topk_kthvalue(rng):
    x = rng.standard_normal((4, 7))
    v, i = ndgrad.sort(x, 1)
    np.testing.assert_array_equal(v.numpy(), np.sort(x, axis=1))
    np.testing.assert_array_equal(i.numpy(), np.argsort(x, axis=1, kind="stable"))
    assert i.dtype == ndgrad.int64
    vd, _ = ndgrad.sort(x, 0, descending=True)
    np.testing.assert_array_equal(vd.numpy(), -np.sort(-x, axis=0))
    np.testing.assert_array_equal(ndgrad.argsort(x, 0).numpy(), np.argsort(x, axis=0, kind="stable"))
    tv, ti = ndgrad.topk(x, 3)
    np.testing.assert_array_equal(tv.numpy(), -np.sort(-x, axis=1)[:, :3])
    np.testing.assert_array_equal(np.take_along_axis(x, ti.numpy(), 1), tv.numpy())
    sv, _ = ndgrad.topk(x, 2, 0, largest=False)
    np.testing.assert_array_equal(sv.numpy(), np.sort(x, axis=0)[:2])
    kv, ki = ndgrad.kthvalue(x, 3, 1, keepdims=True)
    assert kv.shape == (4, 1)
    np.testing.assert_array_equal(kv.numpy()[:, 0], np.sort(x, axis=1)[:, 2])
    np.testing.assert_array_equal(np.take_along_axis(x, ki.numpy(), 1), kv.numpy())
    with pytest.raises(TypeError, match="k"):
        ndgrad.topk(x, 1.5)
    with pytest.raises(TypeError, match="axis"):
        ndgrad.sort(x, 0.0)


def test_median_quantile(rng):
    x = rng.standard_normal((5, 6))
    m = ndgrad.median(x)
    assert m.shape == ()
    np.testing.assert_array_equal(m.numpy(), np.sort(x.ravel())[(x.size - 1) // 2])
    mv, mi = ndgrad.median(x, 1)
    np.testing.assert_array_equal(mv.numpy(), np.sort(x, axis=1)[:, (6 - 1) // 2])
    np.testing.assert_array_equal(np.take_along_axis(x, mi.numpy()[:, None], 1)[:, 0], mv.numpy())
    y = x.copy()
    y[0, 0] = np.nan
    y[2, 3] = np.nan
    nv, _ = ndgrad.nanmedian(y, 1)
    exp = [np.sort(r[~np.isnan(r)])[(np.count_nonzero(~np.isnan(r)) - 1) // 2] for r in y]
    np.testing.assert_array_equal(nv.numpy(), exp)
    for method in ("linear", "lower", "higher", "nearest", "midpoint"):
        np.testing.assert_allclose(ndgrad.quantile(x, 0.3, 0, interpolation=method).numpy(),
                                   np.quantile(x, 0.3, axis=0, method=method), rtol=1e-12)
    q = [0.1, 0.5, 0.9]
    np.testing.assert_allclose(ndgrad.quantile(x, q, 1, keepdims=True).numpy(),
                               np.quantile(x, q, axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(ndgrad.quantile(x, 0.75).numpy(), np.quantile(x, 0.75), rtol=1e-12)
    np.testing.assert_allclose(ndgrad.nanquantile(y, 0.4, 1).numpy(),
                               np.nanquantile(y, 0.4, axis=1), rtol=1e-12)
    assert np.isnan(ndgrad.quantile(y, 0.4, 1).numpy()[0])


def test_scans_and_diff(rng):
    x = rng.standard_normal((3, 8))
    v, i = ndgrad.cummax(x, 1)
    np.testing.assert_array_equal(v.numpy(), np.maximum.accumulate(x, axis=1))
    np.testing.assert_array_equal(np.take_along_axis(x, i.numpy(), 1), v.numpy())
    v, i = ndgrad.cummin(x, 0)
    np.testing.assert_array_equal(v.numpy(), np.minimum.accumulate(x, axis=0))
    np.testing.assert_allclose(ndgrad.logcumsumexp(x, 1).numpy(),
                               np.log(np.cumsum(np.exp(x), axis=1)), rtol=1e-12)
    for n in (1, 2, 3):
        np.testing.assert_array_equal(ndgrad.diff(x, n).numpy(), np.diff(x, n))
    pre, app = rng.standard_normal((1, 8)), rng.standard_normal((2, 8))
    np.testing.assert_array_equal(ndgrad.diff(x, 1, 0, prepend=pre, append=app).numpy(),
                                  np.diff(x, 1, axis=0, prepend=pre, append=app))


def test_gradients_match_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 6))
    cases = [
        ("sort", lambda t: ndgrad.sort(t, 1, descending=True)[0],
         lambda t: torch.sort(t, 1, descending=True)[0]),
        ("topk", lambda t: ndgrad.topk(t, 3, 0)[0], lambda t: torch.topk(t, 3, 0)[0]),
        ("kthvalue", lambda t: ndgrad.kthvalue(t, 2, 1)[0], lambda t: torch.kthvalue(t, 2, 1)[0]),
        ("median", lambda t: ndgrad.median(t, 0)[0], lambda t: torch.median(t, 0)[0]),
        ("median_all", ndgrad.median, torch.median),
        ("quantile", lambda t: ndgrad.quantile(t, [0.2, 0.7], 1),
         lambda t: torch.quantile(t, torch.tensor([0.2, 0.7], dtype=t.dtype), 1)),
        ("cummax", lambda t: ndgrad.cummax(t, 1)[0], lambda t: torch.cummax(t, 1)[0]),
        ("cummin", lambda t: ndgrad.cummin(t, 0)[0], lambda t: torch.cummin(t, 0)[0]),
        ("logcumsumexp", lambda t: ndgrad.logcumsumexp(t, 1), lambda t: torch.logcumsumexp(t, 1)),
        ("diff", lambda t: ndgrad.diff(t, 2, 0), lambda t: torch.diff(t, 2, 0)),
    ]
    for name, ours, theirs in cases:
        a = ndgrad.tensor(x, requires_grad=True)
        b = torch.tensor(x, requires_grad=True)
        y, ty = ours(a), theirs(b)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, err_msg=name)
        g = rng.standard_normal(tuple(ty.shape))
        y.backward(ndgrad.tensor(g))
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


def test_pad_modes(rng):
    x = rng.standard_normal((3, 4))
    for mode in ("constant", "reflect", "edge", "wrap"):
        np.testing.assert_array_equal(ndgrad.pad(x, ((1, 2), (2, 0)), mode).numpy(),
                                      np.pad(x, ((1, 2), (2, 0)), mode))
    np.testing.assert_array_equal(ndgrad.pad(x, 1, constant_values=2.5).numpy(),
                                  np.pad(x, 1, constant_values=2.5))
    np.testing.assert_array_equal(ndgrad.pad(x, (2, 1), "edge").numpy(), np.pad(x, (2, 1), "edge"))
    np.testing.assert_array_equal(ndgrad.pad(x, ((1, 1),), "replicate").numpy(),
                                  np.pad(x, 1, "edge"))
    with pytest.raises(ValueError, match="mode"):
        ndgrad.pad(x, 1, "mean")
    with pytest.raises(ValueError, match="pairs"):
        ndgrad.pad(x, ((1, 1), (1, 1), (1, 1)))
    with pytest.raises(TypeError, match="pad_width"):
        ndgrad.pad(x, "wide")


def test_joining_and_products(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 5))
    np.testing.assert_array_equal(ndgrad.hstack([a, b]).numpy(), np.hstack([a, b]))
    np.testing.assert_array_equal(ndgrad.vstack([a, a[0]]).numpy(), np.vstack([a, a[0]]))
    np.testing.assert_array_equal(ndgrad.roll(b, 2, 1).numpy(), np.roll(b, 2, 1))
    np.testing.assert_array_equal(ndgrad.roll(b, -3).numpy(), np.roll(b, -3))
    np.testing.assert_array_equal(ndgrad.tile(a, (2, 1, 3)).numpy(), np.tile(a, (2, 1, 3)))
    np.testing.assert_array_equal(ndgrad.tile(a, 2).numpy(), np.tile(a, 2))
    c, d = rng.standard_normal((3, 4, 5)), rng.standard_normal((4, 5, 2))
    np.testing.assert_allclose(ndgrad.tensordot(c, d).numpy(), np.tensordot(c, d), rtol=1e-12)
    np.testing.assert_allclose(ndgrad.tensordot(c, d, ([1], [0])).numpy(),
                               np.tensordot(c, d, ([1], [0])), rtol=1e-12)
    np.testing.assert_allclose(ndgrad.tensordot(c, d, (2, 1)).numpy(),
                               np.tensordot(c, d, (2, 1)), rtol=1e-12)
    with pytest.raises(TypeError, match="axes"):
        ndgrad.tensordot(c, d, "ij")
    np.testing.assert_allclose(ndgrad.vdot(a, a).numpy(), np.vdot(a, a), rtol=1e-12)
    np.testing.assert_allclose(ndgrad.kron(a, b[:1]).numpy(), np.kron(a, b[:1]), rtol=1e-12)


def test_indexing_functions_match_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 5))
    idx = rng.integers(0, 5, size=(4, 3))
    rows = rng.integers(0, 4, size=6)
    src = rng.standard_normal((4, 3))
    cases = [
        ("index_select", lambda m, t: m.index_select(t, 0, m.tensor(rows))),
        ("gather", lambda m, t: m.gather(t, 1, m.tensor(idx))),
        ("index_add", lambda m, t: m.index_add(t, 0, m.tensor(rows), m.tensor(
            np.ones((6, 5)) * np.arange(6)[:, None]))),
        ("scatter_add", lambda m, t: m.scatter_add(t, 1, m.tensor(idx), m.tensor(src))),
        ("scatter_value", lambda m, t: m.scatter(t, 1, m.tensor(np.argsort(x, 1)[:, :2]), 1.5)),
        ("pad", lambda m, t: m.pad(t, ((1, 2), (2, 1)), "reflect") if m is ndgrad
         else torch.nn.functional.pad(t[None], (2, 1, 1, 2), "reflect")[0]),
        ("kron", lambda m, t: m.kron(t, m.tensor(src))),
        ("tensordot", lambda m, t: m.tensordot(t, m.tensor(x.T.copy()), 1)),
        ("roll", lambda m, t: m.roll(t, 2, 1)),
    ]
    for name, f in cases:
        a = ndgrad.tensor(x, requires_grad=True)
        b = torch.tensor(x, requires_grad=True)
        y, ty = f(ndgrad, a), f(torch, b)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, err_msg=name)
        g = rng.standard_normal(tuple(ty.shape))
        y.backward(ndgrad.tensor(g))
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=name)


def test_generator_is_reproducible_and_splits(rng):
    seed = int(rng.integers(0, 2**63))
    g, h = ndgrad.Generator(seed), ndgrad.Generator(seed)
    assert g.initial_seed() == seed
    a = g.randn(3, 4, dtype=ndgrad.float64)
    assert a.shape == (3, 4) and a.dtype == ndgrad.float64
    np.testing.assert_array_equal(a.numpy(), h.randn((3, 4), dtype=ndgrad.float64).numpy())
    assert g.get_state()[1] > 0
    b = g.rand(1000)
    assert b.dtype == ndgrad.float32 and 0 <= b.numpy().min() and b.numpy().max() < 1
    assert not np.array_equal(b.numpy()[:12], a.numpy().ravel().astype(np.float32))
    state = g.get_state()
    u1 = g.uniform(-2.0, 3.0, (500,)).numpy()
    g.set_state(*state)
    np.testing.assert_array_equal(g.uniform(-2.0, 3.0, (500,)).numpy(), u1)
    assert -2 <= u1.min() and u1.max() < 3
    g.manual_seed(seed)
    np.testing.assert_array_equal(g.randn(3, 4, dtype=ndgrad.float64).numpy(), a.numpy())
    s1, s2 = g.split(), g.split()
    assert s1.initial_seed() != s2.initial_seed()
    r = g.randint(5, 9, (200,)).numpy()
    assert r.dtype == np.int64 and r.min() >= 5 and r.max() < 9
    p = g.permutation(20).numpy()
    np.testing.assert_array_equal(np.sort(p), np.arange(20))
    x = rng.standard_normal((6, 2))
    shuffled = g.permutation(x).numpy()
    np.testing.assert_array_equal(shuffled[np.argsort(shuffled[:, 0])], x[np.argsort(x[:, 0])])
    bern = g.bernoulli(np.full(300, 0.5)).numpy()
    assert set(np.unique(bern)) <= {0.0, 1.0} and 0 < bern.sum() < 300
    m = g.multinomial(np.array([0.0, 1.0, 0.0, 2.0]), 2).numpy()
    np.testing.assert_array_equal(np.sort(m), [1, 3])
    n = g.normal(2.0, 0.5, (4000,), dtype=ndgrad.float64).numpy()
    assert abs(n.mean() - 2.0) < 0.05 and abs(n.std() - 0.5) < 0.05
    mean = ndgrad.tensor(rng.standard_normal(5), requires_grad=True)
    y = g.normal(mean, 0.0)
    np.testing.assert_array_equal(y.numpy(), mean.numpy())
    y.sum().backward()
    np.testing.assert_array_equal(mean.grad.numpy(), np.ones(5))
    with pytest.raises(TypeError, match="size"):
        g.normal(0.0, 1.0)


def test_more_joining_indexing_and_diagonals(rng):
    x = rng.standard_normal((4, 5))
    parts = ndgrad.unbind(x, 1)
    assert isinstance(parts, tuple) and len(parts) == 5
    np.testing.assert_array_equal(parts[2].numpy(), x[:, 2])
    for spec in (3, [1, 3]):
        got = ndgrad.tensor_split(x, spec, 1)
        exp = np.array_split(x, spec, 1)
        assert len(got) == len(exp)
        for g, e in zip(got, exp):
            np.testing.assert_array_equal(g.numpy(), e)
    mask = x > 0.3
    np.testing.assert_array_equal(ndgrad.argwhere(mask).numpy(), np.argwhere(mask))
    np.testing.assert_array_equal(ndgrad.masked_fill(x, mask, -1.5).numpy(), np.where(mask, -1.5, x))
    idx = np.argsort(x, 1)[:, :2]
    vals = rng.standard_normal((4, 2))
    exp = x.copy()
    np.put_along_axis(exp, idx, vals, 1)
    np.testing.assert_array_equal(ndgrad.put_along_axis(x, idx, vals, 1).numpy(), exp)
    np.testing.assert_array_equal(ndgrad.repeat_interleave(x, 2, 0).numpy(), np.repeat(x, 2, 0))
    reps = rng.integers(0, 3, size=5)
    np.testing.assert_array_equal(ndgrad.repeat_interleave(x, reps, 1).numpy(), np.repeat(x, reps, 1))
    np.testing.assert_array_equal(ndgrad.repeat_interleave(x, 3).numpy(), np.repeat(x, 3))
    c = rng.standard_normal((3, 4, 5))
    np.testing.assert_array_equal(ndgrad.diagonal(c, 1, 1, 2).numpy(), np.diagonal(c, 1, 1, 2))
    np.testing.assert_array_equal(ndgrad.diag(x, -1).numpy(), np.diag(x, -1))
    np.testing.assert_array_equal(ndgrad.diag(x[0], 2).numpy(), np.diag(x[0], 2))
    np.testing.assert_allclose(ndgrad.trace(x, 1).numpy(), np.trace(x, 1), rtol=1e-12)
    a, b = rng.standard_normal(3), rng.standard_normal(4)
    for indexing in ("xy", "ij"):
        got = ndgrad.meshgrid(a, b, indexing=indexing)
        for g, e in zip(got, np.meshgrid(a, b, indexing=indexing)):
            np.testing.assert_array_equal(g.numpy(), e)
    assert len(ndgrad.meshgrid([a, b])) == 2


def test_sampling_functions_take_a_generator(rng):
    seed = int(rng.integers(0, 2**63))
    g = ndgrad.Generator(seed)
    a = ndgrad.randn(2, 3, generator=g, dtype=ndgrad.float64, requires_grad=True)
    assert a.requires_grad and a.dtype == ndgrad.float64
    np.testing.assert_array_equal(a.detach().numpy(),
                                  ndgrad.Generator(seed).randn(2, 3, dtype=ndgrad.float64).numpy())
    b = ndgrad.rand((4,), generator=g)
    assert b.dtype == ndgrad.float32
    h = ndgrad.Generator(seed)
    h.randn(2, 3, dtype=ndgrad.float64)
    np.testing.assert_array_equal(b.numpy(), h.rand(4).numpy())
    p = ndgrad.randperm(10, generator=g).numpy()
    np.testing.assert_array_equal(p, h.permutation(10).numpy())
    np.testing.assert_array_equal(ndgrad.randn(3, seed=seed).shape, (3,))
    with pytest.raises(TypeError):
        ndgrad.randn(3, generator=seed)


def test_index_put_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 5))
    rows = np.array([0, 2, 2, 3])
    vals = rng.standard_normal((4, 5))
    for accumulate in (False, True):
        a = ndgrad.tensor(x, requires_grad=True)
        b = torch.tensor(x, requires_grad=True)
        va = ndgrad.tensor(vals, requires_grad=True)
        vb = torch.tensor(vals, requires_grad=True)
        y = ndgrad.index_put(a, (ndgrad.tensor(rows),), va, accumulate)
        ty = torch.index_put(b, (torch.tensor(rows),), vb, accumulate)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
        g = rng.standard_normal((4, 5))
        y.backward(ndgrad.tensor(g))
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)
        if accumulate:  # without it the overwritten row's gradient is unspecified in torch
            np.testing.assert_allclose(va.grad.numpy(), vb.grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(ndgrad.index_put(x, (slice(None), 1), 7.0).numpy()[:, 1],
                                  np.full(4, 7.0))
    assert x[0, 1] != 7.0
