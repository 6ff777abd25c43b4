"""ndgrad.linalg: values against NumPy, gradients against torch (random inputs and upstream
gradients), tuples as tuples, errors as Python's."""
import numpy as np
import pytest

import ndgrad
from ndgrad import linalg


def spd(rng, n, batch=()):
    a = rng.standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def close(t, expected, rtol=1e-9, atol=1e-9):
    np.testing.assert_allclose(t.numpy(), expected, rtol=rtol, atol=atol)


def test_import_forms():
    import ndgrad.linalg as la
    assert la is ndgrad.linalg


def test_solve_inv_det_slogdet(rng):
    a = rng.standard_normal((3, 4, 4))
    b = rng.standard_normal((3, 4, 2))
    v = rng.standard_normal((3, 4))
    A, B = ndgrad.tensor(a), ndgrad.tensor(b)
    close(linalg.solve(A, B), np.linalg.solve(a, b))
    close(linalg.solve(A, ndgrad.tensor(v)), np.linalg.solve(a, v[..., None])[..., 0])
    close(linalg.inv(A), np.linalg.inv(a))
    close(linalg.det(A), np.linalg.det(a))
    r = linalg.slogdet(a)
    assert isinstance(r, tuple) and len(r) == 2
    sign, logdet = np.linalg.slogdet(a)
    close(r[0], sign)
    close(r[1], logdet)


def test_cholesky_and_triangular(rng):
    a = spd(rng, 5, (2,))
    L = linalg.cholesky(a)
    close(L, np.linalg.cholesky(a))
    U = linalg.cholesky(a, upper=True)
    close(U, np.swapaxes(np.linalg.cholesky(a), -1, -2))
    b = rng.standard_normal((2, 5, 3))
    close(linalg.cholesky_solve(b, L), np.linalg.solve(a, b))
    close(linalg.cholesky_solve(b, U, upper=True), np.linalg.solve(a, b))
    lo = np.tril(rng.standard_normal((4, 4))) + 4 * np.eye(4)
    rhs = rng.standard_normal((4, 2))
    close(linalg.solve_triangular(lo, rhs, upper=False), np.linalg.solve(lo, rhs))
    up = lo.T.copy()
    rhs2 = rng.standard_normal((2, 4))
    close(linalg.solve_triangular(up, rhs2, upper=True, left=False), rhs2 @ np.linalg.inv(up))
    unit = np.tril(lo, -1) + np.eye(4)
    close(linalg.solve_triangular(lo, rhs, upper=False, unitriangular=True),
          np.linalg.solve(unit, rhs))


def test_matrix_power(rng):
    a = rng.standard_normal((2, 3, 3))
    for n in (0, 1, 3, -2):
        close(linalg.matrix_power(a, n), np.linalg.matrix_power(a, n), rtol=1e-8)
    with pytest.raises(TypeError, match="int"):
        linalg.matrix_power(a, 1.5)


def test_decompositions(rng):
    a = rng.standard_normal((2, 5, 3))
    q, r = linalg.qr(a)
    assert q.shape == (2, 5, 3) and r.shape == (2, 3, 3)
    close(q @ r, a)
    np.testing.assert_allclose(np.abs(r.numpy()), np.abs(np.linalg.qr(a)[1]), atol=1e-9)
    qc, rc = linalg.qr(a, mode="complete")
    assert qc.shape == (2, 5, 5) and rc.shape == (2, 5, 3)
    s = spd(rng, 4)
    w, v = linalg.eigh(s)
    close(w, np.linalg.eigvalsh(s))
    close(v @ ndgrad.tensor(np.diag(w.numpy())) @ v.T, s, atol=1e-8)
    close(linalg.eigvalsh(np.tril(s), UPLO="L"), np.linalg.eigvalsh(s))
    close(linalg.eigvalsh(np.triu(s), UPLO="U"), np.linalg.eigvalsh(s))
    res = linalg.svd(a, full_matrices=False)
    assert isinstance(res, tuple) and len(res) == 3
    u, sv, vh = res
    close(sv, np.linalg.svd(a, compute_uv=False))
    close((u * sv.unsqueeze(-2)) @ vh, a)
    assert linalg.svd(a)[0].shape == (2, 5, 5)
    close(linalg.svdvals(a), np.linalg.svd(a, compute_uv=False))


def test_lstsq_pinv_norms(rng):
    a = rng.standard_normal((6, 3))
    b = rng.standard_normal((6, 2))
    close(linalg.lstsq(a, b), np.linalg.lstsq(a, b, rcond=None)[0])
    close(linalg.pinv(a), np.linalg.pinv(a))
    m = rng.standard_normal((2, 4, 3))
    for ord in ("fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf):
        close(linalg.matrix_norm(m, ord), np.linalg.norm(m, ord=ord, axis=(-2, -1)))
    close(linalg.matrix_norm(m, "fro", dim=(0, 2), keepdim=True),
          np.linalg.norm(m, axis=(0, 2), keepdims=True))
    with pytest.raises(TypeError, match="ord"):
        linalg.matrix_norm(m, None)


def test_errors(rng):
    with pytest.raises(ndgrad.LinAlgError):
        linalg.cholesky(-np.eye(3))
    with pytest.raises(ValueError):
        linalg.inv(np.zeros((3, 3)))
    with pytest.raises(ndgrad.ShapeError):
        linalg.solve(np.eye(3), np.ones((4, 2)))
    with pytest.raises(TypeError):
        linalg.qr(np.eye(2), mode=3)


def test_gradients_match_torch(rng):
    torch = pytest.importorskip("torch")
    a = rng.standard_normal((2, 4, 4)) + 4 * np.eye(4)
    s = spd(rng, 4, (2,))
    b = rng.standard_normal((2, 4, 3))
    cases = [
        ("solve", lambda L, A, B: L.solve(A, B), a, b),
        ("inv", lambda L, A: L.inv(A), a),
        ("det", lambda L, A: L.det(A), a),
        ("cholesky", lambda L, A: L.cholesky(A), s),
        ("matrix_power", lambda L, A: L.matrix_power(A, 3), a),
        ("eigvalsh", lambda L, A: L.eigvalsh(A), s),
        ("svdvals", lambda L, A: L.svdvals(A), a),
        ("pinv", lambda L, A: L.pinv(A), a),
        ("nuc", lambda L, A: L.matrix_norm(A, "nuc"), a),
        ("lstsq", lambda L, A, B: L.lstsq(A, B) if L is linalg else L.lstsq(A, B).solution,
         rng.standard_normal((6, 3)), rng.standard_normal((6, 2))),
    ]
    for name, f, *inputs in cases:
        ours = [ndgrad.tensor(x, requires_grad=True) for x in inputs]
        theirs = [torch.tensor(x, requires_grad=True) for x in inputs]
        y, ty = f(linalg, *ours), f(torch.linalg, *theirs)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=name)
        g = rng.standard_normal(tuple(ty.shape))
        y.backward(ndgrad.tensor(g))
        ty.backward(torch.tensor(g))
        for o, t in zip(ours, theirs):
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-7, atol=1e-9,
                                       err_msg=name)
