"""Autograd from Python: the founding chapter's examples, and gradients against PyTorch."""
import numpy as np
import pytest

import ndgrad as nd


def test_broadcast_shapes_of_the_chapter():
    assert nd.broadcast_shapes((3, 1), (1, 4)) == (3, 4)
    assert nd.broadcast_shapes((2, 1, 4), (3, 1)) == (2, 3, 4)
    assert (nd.zeros(5, 3) + nd.zeros(3)).shape == (5, 3)
    with pytest.raises(nd.ShapeError):
        nd.broadcast_shapes((3, 4), (2, 1, 5))


def test_bias_gradient_is_the_batch_sum_over_the_broadcast_axis(rng):
    # h2 = X1 @ W2 + b2, b2 broadcast over the batch: dL/db2 = sum over the batch of G.
    B, N, M = 5, 4, 3
    X1 = nd.tensor(rng.standard_normal((B, N)))
    W2 = nd.tensor(rng.standard_normal((N, M)), requires_grad=True)
    b2 = nd.tensor(rng.standard_normal(M), requires_grad=True)
    G = rng.standard_normal((B, M))  # a random upstream gradient, not all ones
    h2 = X1 @ W2 + b2
    h2.backward(G)
    np.testing.assert_allclose(b2.grad.numpy(), G.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(W2.grad.numpy(), X1.numpy().T @ G, rtol=1e-12)
    # n * G would be the chapter's mistake: it differs unless G is constant along the batch.
    assert not np.allclose(b2.grad.numpy(), B * G[0])


def test_column_and_row_gradients_of_the_readme():
    a = nd.tensor([0.0, 1, 2]).reshape(3, 1).requires_grad_()
    b = nd.tensor([[0.0, 1, 2, 3]], requires_grad=True)
    (a + b).sum().backward()
    assert a.grad.tolist() == [[4.0], [4.0], [4.0]]
    assert b.grad.tolist() == [[3.0, 3.0, 3.0, 3.0]]


@pytest.mark.parametrize("axis", [0, 1, 2, (0, 2), None])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_and_mean_with_keepdims_put_axes_back_by_position(rng, axis, keepdims):
    # (3,3,3)-like sizes repeat: putting reduced axes back by size would go wrong here.
    a = rng.standard_normal((3, 3, 2))
    x = nd.tensor(a, requires_grad=True)
    out = x.sum(axis=axis, keepdims=keepdims)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    expect = np.broadcast_to(np.asarray(g).reshape(np.sum(a, axis=axis, keepdims=True).shape),
                             a.shape)
    np.testing.assert_allclose(x.grad.numpy(), expect)
    x.grad = None
    out = x.mean(axis=axis, keepdims=keepdims)
    out.backward(g)
    n = a.size // np.sum(np.ones_like(a), axis=axis, keepdims=True).size
    np.testing.assert_allclose(x.grad.numpy(), expect / n, rtol=1e-12)


def test_finite_differences_agree_with_backward(rng):
    # The chapter's check, in float64: central differences of a scalar function.
    a = rng.standard_normal((3, 4))
    w = rng.standard_normal((4, 2))

    def f(x):
        return nd.tanh(x @ nd.tensor(w) + 0.5).sum()

    x = nd.tensor(a, requires_grad=True)
    f(x).backward()
    eps = 1e-6
    fd = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        up, down = a.copy(), a.copy()
        up[idx] += eps
        down[idx] -= eps
        fd[idx] = (f(nd.tensor(up)).item() - f(nd.tensor(down)).item()) / (2 * eps)
    np.testing.assert_allclose(x.grad.numpy(), fd, rtol=1e-6, atol=1e-9)
    result = nd.gradcheck(lambda x, w: nd.tanh(x @ w + 0.5), [nd.tensor(a), nd.tensor(w)])
    assert result and result.ok and result.max_abs_error < 1e-5


def test_gradcheck_reports_a_failing_check():
    # log of a negative number: f is NaN there, so the check fails and says why.
    r = nd.gradcheck(lambda x: nd.log(x), [nd.tensor([-1.0, 1.0], dtype="float64")])
    assert not r and not r.ok and "nan" in r.report


def test_two_layer_network_trained_with_sgd_lowers_its_loss(rng):
    # The chapter's network: X -> tanh(X W1 + b1) -> W2 + b2, squared error, plain SGD written
    # in Python with in-place updates under no_grad.
    X = nd.tensor(rng.standard_normal((64, 3)))
    y = nd.tensor(np.sin(X.numpy()).sum(axis=1, keepdims=True))
    W1 = nd.tensor(rng.standard_normal((3, 16)) * 0.5, requires_grad=True)
    b1 = nd.zeros(16, dtype="float64", requires_grad=True)
    W2 = nd.tensor(rng.standard_normal((16, 1)) * 0.5, requires_grad=True)
    b2 = nd.zeros(1, dtype="float64", requires_grad=True)
    params = [W1, b1, W2, b2]
    losses = []
    for _ in range(200):
        h = nd.tanh(X @ W1 + b1)
        loss = ((h @ W2 + b2 - y) ** 2).mean()
        for p in params:
            p.grad = None
        loss.backward()
        with nd.no_grad():
            for p in params:
                p -= 0.1 * p.grad
        losses.append(loss.item())
    assert all(p.is_leaf and p.requires_grad for p in params)
    assert losses[-1] < 0.2 * losses[0]
    assert b1.grad.shape == (16,)


def test_no_grad_and_grad_modes():
    x = nd.ones(3, requires_grad=True)
    assert nd.is_grad_enabled()
    with nd.no_grad():
        assert not nd.is_grad_enabled()
        y = x * 2
        with nd.enable_grad():
            assert (x * 2).requires_grad
        with nd.no_grad():  # nested
            pass
        assert not nd.is_grad_enabled()
    assert nd.is_grad_enabled() and not y.requires_grad and (x * 2).requires_grad
    with nd.set_grad_enabled(False):
        assert not (x * 2).requires_grad

    @nd.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad and nd.is_grad_enabled()
    try:
        with nd.no_grad():
            raise KeyError
    except KeyError:
        pass
    assert nd.is_grad_enabled()  # restored after an exception


def test_leaf_attributes_detach_and_functional_grad(rng):
    x = nd.tensor(rng.standard_normal(4), requires_grad=True)
    assert x.is_leaf and x.grad is None and x.grad_fn is None
    y = (x * x).sum()
    assert not y.is_leaf and y.grad_fn is not None
    d = x.detach()
    assert not d.requires_grad and np.shares_memory(np.asarray(d), np.asarray(x))
    (g,) = nd.grad(y, [x])
    np.testing.assert_allclose(g.numpy(), 2 * x.numpy())
    assert x.grad is None  # the functional form leaves .grad alone
    z = (x ** 3).sum()
    (g1,) = nd.grad(z, x, create_graph=True)
    (g2,) = nd.grad(g1.sum(), x)
    np.testing.assert_allclose(g2.numpy(), 6 * x.numpy(), rtol=1e-12)
    t = nd.ones(2)
    t.requires_grad = True
    assert t.requires_grad
    x.zero_grad()


def test_retain_graph_allows_a_second_backward(rng):
    x = nd.tensor(rng.standard_normal(3), requires_grad=True)
    y = (x.exp()).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(x.numpy()), rtol=1e-12)


def test_jacobian_full_form_of_a_broadcast():
    # d(zeros(5,3) + x)/dx has shape (5,3,3) = 1^5 (x) I^3: the chapter's full form.
    J = nd.jacobian(lambda x: nd.zeros(5, 3) + x, nd.zeros(3))
    assert J.shape == (5, 3, 3)
    np.testing.assert_array_equal(J.numpy(), np.broadcast_to(np.eye(3), (5, 3, 3)))


CASES = [
    ("add", lambda m, a, b: a + b, [(3, 1), (1, 4)]),
    ("sub", lambda m, a, b: a - b, [(2, 3, 4), (3, 1)]),
    ("mul", lambda m, a, b: a * b, [(3, 3), (3,)]),
    ("div", lambda m, a, b: a / b, [(4, 1), (2, 1, 3)]),
    ("pow", lambda m, a, b: a.abs() ** b, [(3, 4), (4,)]),
    ("matmul", lambda m, a, b: a @ b, [(2, 3, 4), (4, 5)]),
    ("matvec", lambda m, a, b: a @ b, [(3, 4), (4,)]),
    ("tanh-exp", lambda m, a, b: m.tanh(a) * m.exp(b), [(2, 3), (3,)]),
    ("sigmoid-relu", lambda m, a, b: m.sigmoid(a) + m.relu(b), [(3, 1), (3, 4)]),
    ("maximum", lambda m, a, b: m.maximum(a, b), [(2, 5), (5,)]),
    ("where", lambda m, a, b: m.where(a > 0, a, b * 2.0), [(3, 4), (1, 4)]),
    ("sum-keepdims", lambda m, a, b: a.sum(dim=1, keepdim=True) * b, [(3, 4), (1, 4)]),
    ("mean-axis", lambda m, a, b: a.mean(dim=0) + b, [(3, 4), (4,)]),
    ("var", lambda m, a, b: a.var(dim=1) * b, [(3, 5), (3,)]),
    ("max-reduce", lambda m, a, b: a.amax(dim=1) * b, [(4, 6), (4,)]),
    ("index", lambda m, a, b: a[1:, ::2] * b[0], [(3, 4), (2, 2)]),
    ("transpose", lambda m, a, b: a.transpose(0, 1) @ b, [(3, 4), (3, 2)]),
    ("reshape", lambda m, a, b: a.reshape(4, 3) * b, [(2, 6), (3,)]),
]


@pytest.mark.parametrize("name, f, shapes", CASES, ids=[c[0] for c in CASES])
def test_gradients_match_pytorch(rng, name, f, shapes):
    torch = pytest.importorskip("torch")
    a = rng.uniform(-2, 2, size=shapes[0])
    b = rng.uniform(0.5, 2, size=shapes[1])
    ta = torch.tensor(a, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    expect = f(torch, ta, tb)
    g = rng.standard_normal(tuple(expect.shape))  # a random upstream gradient
    expect.backward(torch.tensor(g))
    na = nd.tensor(a, requires_grad=True)
    nb = nd.tensor(b, requires_grad=True)
    out = f(nd, na, nb)
    assert out.shape == tuple(expect.shape)
    np.testing.assert_allclose(out.numpy(), expect.detach().numpy(), rtol=1e-12, atol=1e-14)
    out.backward(g)
    np.testing.assert_allclose(na.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nb.grad.numpy(), tb.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_hooks_see_and_replace_gradients(rng):
    x = nd.tensor(rng.standard_normal(3), requires_grad=True)
    h = x * 2.0
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    x.register_hook(lambda g: g * 10.0)  # replaces the leaf's gradient
    g = rng.standard_normal(3)
    (h * h).backward(g)
    np.testing.assert_allclose(seen[0], 2 * h.numpy() * g, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), 10 * 2 * seen[0], rtol=1e-12)


def test_an_exception_in_a_hook_reaches_the_caller():
    x = nd.ones(2, requires_grad=True)

    def bad(g):
        raise KeyError("from the hook")

    x.register_hook(bad)
    with pytest.raises(KeyError, match="from the hook"):
        (x * 3).sum().backward()
    with pytest.raises(nd.AutogradError):
        nd.ones(2).register_hook(bad)  # no grad: nothing to hook


def test_custom_op_written_in_python(rng):
    softplus = nd.CustomOp(
        "softplus",
        lambda x: nd.log(1.0 + nd.exp(x)),
        lambda inputs, output, grad: [grad * nd.sigmoid(inputs[0])],
    )
    a = rng.standard_normal((3, 4))
    x = nd.tensor(a, requires_grad=True)
    y = softplus(x)
    assert y.grad_fn == "softplus" and softplus.name == "softplus"
    np.testing.assert_allclose(y.numpy(), np.log1p(np.exp(a)), rtol=1e-12)
    g = rng.standard_normal((3, 4))
    y.backward(g)
    np.testing.assert_allclose(x.grad.numpy(), g / (1 + np.exp(-a)), rtol=1e-12)
    assert nd.gradcheck(lambda x: softplus(x), [nd.tensor(a)])
    # Second order through the Python backward (written with ndgrad ops).
    x2 = nd.tensor(a, requires_grad=True)
    (g1,) = nd.grad(softplus(x2).sum(), x2, create_graph=True)
    (g2,) = nd.grad(g1.sum(), x2)
    s = 1 / (1 + np.exp(-a))
    np.testing.assert_allclose(g2.numpy(), s * (1 - s), rtol=1e-10)


def test_custom_op_with_two_inputs_a_broadcast_gradient_and_none():
    scale = nd.CustomOp(
        "scale",
        lambda x, w: x * w,
        lambda inputs, output, grad: (grad * inputs[1], None),  # no gradient for w
    )
    x = nd.ones(2, 3, requires_grad=True)
    w = nd.tensor([1.0, 2.0, 3.0], requires_grad=True)
    scale(x, w).sum().backward()
    assert x.grad.tolist() == [[1.0, 2.0, 3.0]] * 2 and w.grad is None
    wrong = nd.CustomOp("wrong", lambda x: x * 2, lambda inputs, output, grad: [grad, grad])
    with pytest.raises(nd.AutogradError, match="wrong"):
        wrong(nd.ones(2, requires_grad=True)).sum().backward()
    failing = nd.CustomOp("failing", lambda x: 1 / 0, lambda i, o, g: [g])
    with pytest.raises(ZeroDivisionError):
        failing(nd.ones(2))


def test_explain_and_to_dot_name_the_sums_of_backward():
    text = nd.explain_broadcast((3, 1), (1, 4))
    assert "(3,1)" in text and "(1,4)" in text and "(3,4)" in text
    a = nd.ones(3, 1, requires_grad=True)
    b = nd.ones(1, 4, requires_grad=True)
    dot = nd.to_dot((a + b).sum())
    assert dot.startswith("digraph") and "add" in dot and "sum" in dot
