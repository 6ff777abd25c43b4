"""ndgrad.nn's layers, functional forms, losses, initializers and gradient clipping against
torch.nn (the same weights loaded, random inputs and random upstream gradients)."""
import math

import numpy as np
import pytest

import ndgrad as nd
from ndgrad import nn
from ndgrad.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def compare(ours, theirs, arrays, rng, rtol=1e-10, atol=1e-10, grad=None, wrt=None):
    """ours(*tensors) against theirs(*torch tensors) for float64 arrays: the values, and the
    gradients of every floating argument (or of the first wrt) for a random upstream gradient."""
    wrt = len(arrays) if wrt is None else wrt
    a = [nd.tensor(x, requires_grad=x.dtype.kind == "f" and i < wrt) for i, x in enumerate(arrays)]
    t = [torch.tensor(x, requires_grad=x.dtype.kind == "f" and i < wrt)
         for i, x in enumerate(arrays)]
    y, ty = ours(*a), theirs(*t)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    up = rng.standard_normal(y.shape) if grad is None else grad
    (y * nd.tensor(up)).sum().backward()
    (ty * torch.tensor(up)).sum().backward()
    for x, tx in zip(a, t):
        if tx.requires_grad:
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)


def test_conv1d(rng):
    compare(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2, groups=2),
            lambda x, w, b: TF.conv1d(x, w, b, stride=2, padding=1, dilation=2, groups=2),
            [rng.standard_normal((2, 4, 11)), rng.standard_normal((6, 2, 3)),
             rng.standard_normal(6)], rng)
    compare(lambda x, w: F.conv1d(x, w, padding="same"),
            lambda x, w: TF.conv1d(x, w, padding="same"),
            [rng.standard_normal((2, 3, 9)), rng.standard_normal((5, 3, 4))], rng)


def test_conv_transpose2d(rng):
    compare(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                               groups=2, dilation=1),
            lambda x, w, b: TF.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                                groups=2, dilation=1),
            [rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((4, 3, 3, 2)),
             rng.standard_normal(6)], rng)
    compare(lambda x, w: F.conv_transpose2d(x, w, stride=(1, 2), dilation=2),
            lambda x, w: TF.conv_transpose2d(x, w, stride=(1, 2), dilation=2),
            [rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((2, 3, 3, 3))], rng)


@pytest.mark.parametrize("size", [(1, 1), (3, 2), 5])
def test_adaptive_avg_pool2d(rng, size):
    compare(lambda x: F.adaptive_avg_pool2d(x, size), lambda x: TF.adaptive_avg_pool2d(x, size),
            [rng.standard_normal((2, 3, 7, 9))], rng)


def test_pool1d(rng):
    compare(lambda x: F.max_pool1d(x, 3, stride=2, padding=1, ceil_mode=True),
            lambda x: TF.max_pool1d(x, 3, stride=2, padding=1, ceil_mode=True),
            [rng.standard_normal((2, 3, 10))], rng)
    compare(lambda x: F.avg_pool1d(x, 4, stride=3, padding=2, count_include_pad=False),
            lambda x: TF.avg_pool1d(x, 4, stride=3, padding=2, count_include_pad=False),
            [rng.standard_normal((2, 3, 10))], rng)


def test_layer_norm_and_group_norm(rng):
    compare(lambda x, w, b: F.layer_norm(x, (3, 4), w, b, eps=1e-3),
            lambda x, w, b: TF.layer_norm(x, (3, 4), w, b, eps=1e-3),
            [rng.standard_normal((2, 5, 3, 4)), rng.standard_normal((3, 4)),
             rng.standard_normal((3, 4))], rng)
    compare(lambda x: F.layer_norm(x, 6), lambda x: TF.layer_norm(x, (6,)),
            [rng.standard_normal((4, 6))], rng)
    compare(lambda x, w, b: F.group_norm(x, 3, w, b), lambda x, w, b: TF.group_norm(x, 3, w, b),
            [rng.standard_normal((2, 6, 4, 3)), rng.standard_normal(6), rng.standard_normal(6)],
            rng)


def test_embedding_with_padding_idx(rng):
    idx = rng.integers(0, 6, (3, 4))
    idx[0, 0] = 2
    compare(lambda i, w: F.embedding(i, w, padding_idx=2),
            lambda i, w: TF.embedding(i, w, padding_idx=2),
            [idx, rng.standard_normal((6, 5))], rng)
    layer = nn.Embedding(6, 5, padding_idx=-1, seed=3)
    assert layer.padding_idx == 5
    np.testing.assert_array_equal(layer.weight.numpy()[5], 0)
    with pytest.raises(ValueError):
        nn.Embedding(6, 5, padding_idx=6)


def as_torch(ours, theirs):
    """Loads our module's parameters into the torch module of the same names and layout."""
    with torch.no_grad():
        for name, p in ours.named_parameters():
            getattr(theirs, name).copy_(torch.tensor(p.numpy()))


@pytest.mark.parametrize("make", [
    lambda: (nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2, dtype="float64"),
             torch.nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2).double(), (2, 4, 9)),
    lambda: (nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, groups=2, dtype="float64"),
             torch.nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, groups=2).double(),
             (2, 4, 5, 5)),
    lambda: (nn.LayerNorm((5,), dtype="float64"), torch.nn.LayerNorm(5).double(), (3, 4, 5)),
    lambda: (nn.GroupNorm(2, 4, dtype="float64"), torch.nn.GroupNorm(2, 4).double(), (3, 4, 5)),
    lambda: (nn.AdaptiveAvgPool2d((2, 3)), torch.nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 5, 7)),
    lambda: (nn.MaxPool1d(2), torch.nn.MaxPool1d(2), (2, 3, 8)),
    lambda: (nn.AvgPool1d(3, 2), torch.nn.AvgPool1d(3, 2), (2, 3, 8)),
])
def test_modules_match_torch_with_the_same_weights(rng, make):
    ours, theirs, shape = make()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert p.shape == tuple(q.shape)
    as_torch(ours, theirs)
    x = rng.standard_normal(shape)
    a, t = nd.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = ours(a), theirs(t)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    up = rng.standard_normal(y.shape)
    (y * nd.tensor(up)).sum().backward()
    (ty * torch.tensor(up)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-10)
    for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_conv_layers_draw_within_their_bounds():
    c = nn.Conv1d(4, 8, 5, seed=1)
    fan_in = 4 * 5
    w = c.weight.numpy()
    assert np.abs(w).max() <= math.sqrt(6 / fan_in) and np.abs(w).max() > 0.5 * math.sqrt(
        6 / fan_in)
    assert np.abs(c.bias.numpy()).max() <= 1 / math.sqrt(fan_in)
    np.testing.assert_array_equal(nn.Conv1d(4, 8, 5, seed=1).weight.numpy(), w)
    assert not np.array_equal(nn.Conv1d(4, 8, 5, seed=2).weight.numpy(), w)
    with pytest.raises(ValueError):
        nn.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError):
        nn.GroupNorm(3, 4)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_match_torch(rng, reduction):
    r = reduction
    x, y = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    p, t = rng.uniform(0.05, 0.95, (4, 5)), rng.uniform(0, 1, (4, 5))
    up = None if r == "none" else np.array(rng.standard_normal())
    for ours, theirs, arrays in [
        (lambda a, b: F.mse_loss(a, b, reduction=r), lambda a, b: TF.mse_loss(a, b, reduction=r),
         [x, y]),
        (lambda a, b: F.l1_loss(a, b, reduction=r), lambda a, b: TF.l1_loss(a, b, reduction=r),
         [x, y]),
        (lambda a, b: F.smooth_l1_loss(a, b, reduction=r, beta=0.7),
         lambda a, b: TF.smooth_l1_loss(a, b, reduction=r, beta=0.7), [x, y]),
        (lambda a, b: F.huber_loss(a, b, reduction=r, delta=0.6),
         lambda a, b: TF.huber_loss(a, b, reduction=r, delta=0.6), [x, y]),
        (lambda a, b: F.binary_cross_entropy(a, b, reduction=r),
         lambda a, b: TF.binary_cross_entropy(a, b, reduction=r), [p, t]),
        (lambda a, b, w: F.binary_cross_entropy(a, b, w, reduction=r),
         lambda a, b, w: TF.binary_cross_entropy(a, b, w, reduction=r),
         [p, t, rng.uniform(0, 2, 5)]),
        (lambda a, b, pw: F.binary_cross_entropy_with_logits(a, b, reduction=r, pos_weight=pw),
         lambda a, b, pw: TF.binary_cross_entropy_with_logits(a, b, reduction=r, pos_weight=pw),
         [x * 5, t, rng.uniform(0.5, 3, 5)]),
        (lambda a, b: F.kl_div(a, b, reduction=r), lambda a, b: TF.kl_div(a, b, reduction=r),
         [np.log(p), t]),
        (lambda a, b: F.kl_div(a, b, reduction=r, log_target=True),
         lambda a, b: TF.kl_div(a, b, reduction=r, log_target=True), [np.log(p), np.log(t)]),
    ]:
        # the targets' gradients too (torch's mse, l1, ... have them), weights held fixed
        compare(ours, theirs, arrays, rng, grad=up, wrt=2)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_class_losses_match_torch(rng, reduction):
    r = reduction
    logits = rng.standard_normal((6, 4, 3))
    target = rng.integers(0, 4, (6, 3))
    target[0, 0] = target[2, 1] = 1  # ignored below
    weight = rng.uniform(0.2, 2, 4)
    up = None if r == "none" else np.array(rng.standard_normal())
    compare(lambda a, t, w: F.cross_entropy(a, t, w, ignore_index=1, reduction=r,
                                            label_smoothing=0.1),
            lambda a, t, w: TF.cross_entropy(a, t, w, ignore_index=1, reduction=r,
                                             label_smoothing=0.1),
            [logits, target, weight], rng, grad=up, wrt=1)
    compare(lambda a, t: F.nll_loss(nd.log_softmax(a, 1), t, reduction=r),
            lambda a, t: TF.nll_loss(torch.log_softmax(a, 1), t, reduction=r),
            [logits, target], rng, grad=up)
    compare(lambda a, t, w: nn.CrossEntropyLoss(weight=w, reduction=r)(a, t),
            lambda a, t, w: torch.nn.CrossEntropyLoss(weight=w, reduction=r)(a, t),
            [logits[:, :, 0], target[:, 0], weight], rng, grad=up, wrt=1)


def test_kl_div_batchmean_and_loss_modules(rng):
    p, t = rng.uniform(0.05, 0.95, (4, 5)), rng.uniform(0, 1, (4, 5))
    compare(lambda a, b: nn.KLDivLoss(reduction="batchmean")(a, b),
            lambda a, b: torch.nn.KLDivLoss(reduction="batchmean")(a, b), [np.log(p), t], rng)
    compare(lambda a, b: nn.BCEWithLogitsLoss(pos_weight=nd.tensor(np.full(5, 2.0)))(a, b),
            lambda a, b: torch.nn.BCEWithLogitsLoss(pos_weight=torch.full((5,), 2.0,
                                                                           dtype=torch.float64))(
                a, b), [p, t], rng)
    for ours, theirs in [(nn.MSELoss("sum"), torch.nn.MSELoss(reduction="sum")),
                         (nn.L1Loss(), torch.nn.L1Loss()),
                         (nn.SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5)),
                         (nn.HuberLoss(delta=0.5), torch.nn.HuberLoss(delta=0.5)),
                         (nn.BCELoss(), torch.nn.BCELoss())]:
        compare(ours, theirs, [p, t], rng)
    with pytest.raises(ValueError, match="reduction"):
        F.l1_loss(nd.tensor(p), nd.tensor(t), reduction="average")
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss("batchmean")


def test_initializers():
    fan_in, fan_out = 200, 300
    w = nd.zeros(fan_in, fan_out)  # Linear's layout (in, out)
    assert nn.init.kaiming_uniform_(w, seed=1) is w
    bound = math.sqrt(2) * math.sqrt(3 / fan_in)
    v = w.numpy()
    assert np.abs(v).max() <= bound and np.abs(v).max() > 0.99 * bound
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", seed=2)
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / fan_out), rel=0.02)
    nn.init.xavier_uniform_(w, gain=2.0, seed=3)
    bound = 2 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    nn.init.xavier_normal_(w, seed=4)
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.02)
    nn.init.normal_(w, 3.0, 0.5, seed=5)
    assert w.numpy().mean() == pytest.approx(3.0, abs=0.01)
    nn.init.uniform_(w, -2, -1, seed=6)
    assert w.numpy().min() >= -2 and w.numpy().max() <= -1
    q = nd.zeros(5, 8)
    nn.init.orthogonal_(q, gain=1.5, seed=7)
    np.testing.assert_allclose(q.numpy() @ q.numpy().T, 2.25 * np.eye(5), atol=1e-5)
    c = nd.zeros(2, 3)
    nn.init.constant_(c, 0.25)
    np.testing.assert_array_equal(c.numpy(), 0.25)
    nn.init.ones_(c)
    np.testing.assert_array_equal(c.numpy(), 1)
    nn.init.zeros_(c)
    np.testing.assert_array_equal(c.numpy(), 0)
    p = nd.zeros(3, requires_grad=True)  # a parameter: in place, not recorded
    nn.init.ones_(p)
    assert p.grad_fn is None and p.requires_grad
    with pytest.raises(TypeError):
        nn.init.zeros_(np.zeros(3))
    with pytest.raises(ValueError):
        nn.init.kaiming_uniform_(w, nonlinearity="sigmoid")
    with pytest.raises(ValueError):
        nn.init.kaiming_uniform_(w, mode="fan_both")


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_and_value_match_torch(rng, norm_type):
    shapes = [(3, 4), (5,)]
    init = [rng.standard_normal(s) for s in shapes]
    grads = [rng.standard_normal(s) * 3 for s in shapes]
    ours = [nd.tensor(a, requires_grad=True) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    for p, g in zip(ours, grads):
        (p * nd.tensor(g)).sum().backward()
    for p, g in zip(theirs, grads):
        p.grad = torch.tensor(g)
    n = nn.utils.clip_grad_norm_(ours, 1.5, norm_type)
    tn = torch.nn.utils.clip_grad_norm_(theirs, 1.5, norm_type)
    assert n == pytest.approx(float(tn), rel=1e-12)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-12)
    nn.utils.clip_grad_value_(ours, 0.1)
    torch.nn.utils.clip_grad_value_(theirs, 0.1)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError):
        nn.utils.clip_grad_norm_([1, 2], 1.0)


def test_bad_input_is_a_clear_type_or_value_error():
    w = nd.ones(5, 3)
    with pytest.raises(IndexError, match="out of range"):
        F.embedding(nd.tensor([1, 7]), w)
    with pytest.raises(TypeError, match="integers"):
        F.embedding(nd.tensor([1.0, 2.0]), w)
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(nd.ones(2, 4), (3,))
    with pytest.raises(TypeError):
        F.conv1d([[1.0]], w)
    with pytest.raises(ValueError, match="num_groups"):
        F.group_norm(nd.ones(2, 4, 3), 3)
    with pytest.raises(ValueError, match="out of range"):
        F.cross_entropy(nd.ones(2, 3), nd.tensor([0, 5]))
    with pytest.raises(ValueError, match="reduction"):
        F.nll_loss(nd.ones(2, 3), nd.tensor([0, 1]), reduction="batchmean")
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(nd.ones(1, 2, 3, 3), nd.ones(2, 1, 3, 3), output_padding=3)
    assert nn.utils.clip_grad_norm_([], 1.0) == 0.0  # PyTorch's answer for no parameters
    p = nd.ones(3, requires_grad=True)
    (p * 4).sum().backward()
    assert nn.utils.clip_grad_norm_(p, 1.0) == pytest.approx(math.sqrt(48), rel=1e-6)
    assert np.linalg.norm(p.grad.numpy()) == pytest.approx(1.0, rel=1e-5)


def test_torch_state_dict_round_trips_with_a_torch_model(rng):
    ours = nn.Sequential(nn.Conv1d(2, 3, 3, dtype="float64"), nn.Flatten(),
                         nn.Linear(3 * 4, 5, seed=1, dtype="float64"), nn.Tanh(),
                         nn.Linear(5, 2, seed=2, dtype="float64"))
    theirs = torch.nn.Sequential(torch.nn.Conv1d(2, 3, 3), torch.nn.Flatten(),
                                 torch.nn.Linear(12, 5), torch.nn.Tanh(),
                                 torch.nn.Linear(5, 2)).double()
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in ours.torch_state_dict().items()})
    x = rng.standard_normal((4, 2, 6))
    np.testing.assert_allclose(ours(nd.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12, atol=1e-12)
    # and back: torch's weights (changed) into ours
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(torch.tensor(rng.standard_normal(tuple(p.shape))))
    ours.load_torch_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_allclose(ours(nd.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12, atol=1e-12)
    assert ours[2].weight.shape == (12, 5)
    bad = {k: v.numpy() for k, v in theirs.state_dict().items()}
    bad["2.weight"] = bad["2.weight"].T  # our layout where torch's is expected
    with pytest.raises(ValueError, match="2.weight"):
        ours.load_torch_state_dict(bad)
