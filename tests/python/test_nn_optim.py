"""ndgrad.nn (modules found by attribute) and ndgrad.optim (the library's optimizers)."""
import numpy as np
import pytest

import ndgrad as nd
from ndgrad import nn, optim


class TwoLayer(nn.Module):
    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        self.hidden = nn.Linear(n_in, n_hidden, seed=1)
        self.out = nn.Linear(n_hidden, n_out, seed=2)
        self.scale = nn.Parameter([1.0])
        self.buffer = nd.ones(3)  # no grad: not a parameter
        self.blocks = [nn.Linear(2, 2, seed=3)]

    def forward(self, x):
        return self.out(nd.tanh(self.hidden(x))) * self.scale


def test_parameters_are_found_by_attribute():
    m = TwoLayer(4, 8, 3)
    names = [n for n, _ in m.named_parameters()]
    # The module's own tensors first, then each submodule's, in the order they were set.
    assert names == ["scale", "hidden.weight", "hidden.bias", "out.weight", "out.bias",
                     "blocks.0.weight", "blocks.0.bias"]
    assert m.hidden.weight.shape == (4, 8) and m.hidden.bias.shape == (8,)
    assert len(m.parameters()) == 7
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]  # each tensor once
    assert len(seq) == 3 and seq[1].__class__ is nn.ReLU
    assert "Linear(in_features=2" in repr(seq)


def test_a_module_trains_and_its_gradients_reach_every_parameter(rng):
    m = TwoLayer(4, 16, 1)
    x = nd.tensor(rng.standard_normal((32, 4)), dtype="float32")
    y = nd.tensor(np.sin(x.numpy()).sum(1, keepdims=True))
    opt = optim.Adam([p for n, p in m.named_parameters() if not n.startswith("blocks")], lr=0.02)
    first = None
    for _ in range(150):
        loss = nn.functional.mse_loss(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.2 * first
    assert m.blocks[0].weight.grad is None  # not used in forward
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_state_dict_round_trip_checks_everything_first():
    a, b = TwoLayer(3, 5, 2), TwoLayer(3, 5, 2)
    with nd.no_grad():
        b.hidden.weight += 1.0
    b.load_state_dict(a.state_dict())
    for (n, p), (m, q) in zip(a.named_parameters(), b.named_parameters()):
        assert n == m
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    bad = a.state_dict()
    bad["out.bias"] = nd.zeros(3)
    before = b.hidden.weight.numpy().copy()
    with pytest.raises(ValueError, match="out.bias"):
        b.load_state_dict(bad)
    with pytest.raises(ValueError, match="missing"):
        b.load_state_dict({})
    np.testing.assert_array_equal(b.hidden.weight.numpy(), before)


def test_mlp_classifier_with_cross_entropy_and_sgd(rng):
    # Two blobs, one per class: an MLP trained with SGD + momentum separates them.
    centers = np.array([[2.0, 0.0], [-2.0, 0.0]])
    labels = rng.integers(0, 2, size=128)
    x = nd.tensor(centers[labels] + rng.standard_normal((128, 2)) * 0.7, dtype="float32")
    y = nd.tensor(labels)
    model = nn.Sequential(nn.Linear(2, 16, seed=1), nn.ReLU(), nn.Linear(16, 2, seed=2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    accuracy = (model(x).argmax(axis=1).numpy() == labels).mean()
    assert accuracy > 0.9
    opt.lr = 0.01
    assert opt.lr == pytest.approx(0.01)


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.05)),
])
def test_optimizer_steps_match_pytorch(rng, name, kwargs):
    torch = pytest.importorskip("torch")
    w0 = rng.standard_normal((3, 4))
    targets = [rng.standard_normal((3, 4)) for _ in range(5)]
    tw = torch.tensor(w0, requires_grad=True)
    nw = nd.tensor(w0, requires_grad=True)
    topt = getattr(torch.optim, name)([tw], **kwargs)
    nopt = getattr(optim, name)([nw], **kwargs)
    for t in targets:  # a different gradient at each step
        topt.zero_grad()
        ((tw - torch.tensor(t)) ** 3).sum().backward()
        topt.step()
        nopt.zero_grad()
        ((nw - nd.tensor(t)) ** 3).sum().backward()
        nopt.step()
    np.testing.assert_allclose(nw.numpy(), tw.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_bad_optimizer_arguments():
    with pytest.raises(TypeError, match="tensors"):
        optim.SGD([1.0], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError):
        optim.SGD([nd.ones(2, requires_grad=True)], lr=-1.0)
    with pytest.raises(TypeError, match="Module"):
        nn.Sequential(nn.ReLU(), 3)


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1), dict(padding="same"),
                                    dict(dilation=2, groups=2), dict(stride=(1, 2), padding=(2, 0))])
def test_conv2d_values_and_gradients_match_pytorch(rng, kwargs):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((6, 4 // kwargs.get("groups", 1), 3, 3))
    b = rng.standard_normal(6)
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    expect = torch.nn.functional.conv2d(tx, tw, tb, **kwargs)
    g = rng.standard_normal(tuple(expect.shape))
    expect.backward(torch.tensor(g))
    nx, nw, nb = (nd.tensor(v, requires_grad=True) for v in (x, w, b))
    out = nn.functional.conv2d(nx, nw, nb, **kwargs)
    np.testing.assert_allclose(out.numpy(), expect.detach().numpy(), rtol=1e-10, atol=1e-12)
    out.backward(g)
    for mine, theirs in ((nx, tx), (nw, tw), (nb, tb)):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_pooling_matches_pytorch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 8, 7))
    for name, kwargs in (("max_pool2d", dict(kernel_size=2)),
                         ("max_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
                         ("avg_pool2d", dict(kernel_size=(2, 3), stride=1, padding=1))):
        tx = torch.tensor(x, requires_grad=True)
        expect = getattr(torch.nn.functional, name)(tx, **kwargs)
        g = rng.standard_normal(tuple(expect.shape))
        expect.backward(torch.tensor(g))
        nx = nd.tensor(x, requires_grad=True)
        out = getattr(nn.functional, name)(nx, **kwargs)
        np.testing.assert_allclose(out.numpy(), expect.detach().numpy(), rtol=1e-12)
        out.backward(g)
        np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_a_small_cnn_trains(rng):
    # Vertical against horizontal bars: a convnet learns to tell them apart.
    images = np.zeros((64, 1, 8, 8), np.float32)
    labels = rng.integers(0, 2, size=64)
    for i, label in enumerate(labels):
        k = rng.integers(1, 7)
        if label:
            images[i, 0, :, k] = 1
        else:
            images[i, 0, k, :] = 1
    images += rng.standard_normal(images.shape).astype(np.float32) * 0.1
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 2, seed=2))
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "4.weight",
                                                        "4.bias"]
    opt = optim.Adam(model.parameters(), lr=0.01)
    x, y = nd.tensor(images), nd.tensor(labels)
    for _ in range(40):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (model(x).argmax(axis=1).numpy() == labels).mean() > 0.95


def test_save_and_load_npy_npz_and_modules(tmp_path, rng):
    a = rng.standard_normal((3, 4))
    nd.save(str(tmp_path / "a.npy"), a)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), a)  # NumPy reads it
    np.testing.assert_array_equal(nd.load(str(tmp_path / "a.npy")).numpy(), a)
    np.savez(tmp_path / "b.npz", x=a, y=np.arange(3))
    loaded = nd.load(str(tmp_path / "b.npz"))
    assert sorted(loaded) == ["x", "y"] and loaded["y"].tolist() == [0, 1, 2]
    m1, m2 = TwoLayer(3, 4, 2), TwoLayer(3, 4, 2)
    with nd.no_grad():
        m1.out.bias += 1.0
    m1.save(str(tmp_path / "m.npz"))
    assert "hidden.weight" in np.load(tmp_path / "m.npz")
    m2.load(str(tmp_path / "m.npz"))
    np.testing.assert_array_equal(m2.out.bias.numpy(), m1.out.bias.numpy())
    with pytest.raises(OSError):
        nd.load(str(tmp_path / "missing.npy"))


@pytest.mark.parametrize("name, args", [("StepLR", dict(step_size=3, gamma=0.5)),
                                        ("MultiStepLR", dict(milestones=[2, 5], gamma=0.3)),
                                        ("ExponentialLR", dict(gamma=0.9)),
                                        ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01))])
def test_schedules_match_pytorch(name, args):
    torch = pytest.importorskip("torch")
    tw = torch.zeros(2, requires_grad=True)
    topt = torch.optim.SGD([tw], lr=0.5)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **args)
    nopt = optim.SGD([nd.zeros(2, requires_grad=True)], lr=0.5)
    nsched = getattr(optim.lr_scheduler, name)(nopt, **args)
    for epoch in range(10):
        assert nopt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12), epoch
        assert nsched.get_last_lr()[0] == pytest.approx(tsched.get_last_lr()[0], rel=1e-12)
        topt.step()
        nopt.step()
        tsched.step()
        nsched.step()
    assert nsched.last_epoch == 10


def test_a_schedule_keeps_its_optimizer_alive():
    import gc

    w = nd.zeros(2, requires_grad=True)
    sched = optim.lr_scheduler.CosineWarmupLR(optim.SGD([w], lr=1.0), warmup_steps=2,
                                              total_steps=10)
    gc.collect()
    for _ in range(3):
        sched.step()  # the optimizer made in the call is still there
    assert 0 < sched.get_last_lr()[0] <= 1.0


def test_parameter_groups_match_pytorch_and_can_be_changed(rng):
    torch = pytest.importorskip("torch")
    a0, b0 = rng.standard_normal((2, 3)), rng.standard_normal(3)
    ta, tb = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    na, nb = nd.tensor(a0, requires_grad=True), nd.tensor(b0, requires_grad=True)
    topt = torch.optim.SGD([{"params": [ta]}, {"params": tb, "lr": 0.01, "momentum": 0.5}],
                           lr=0.1, momentum=0.9)
    nopt = optim.SGD([{"params": [na]}, {"params": nb, "lr": 0.01, "momentum": 0.5}],
                     lr=0.1, momentum=0.9)
    assert len(nopt.param_groups) == 2 and nopt.param_groups[1]["lr"] == 0.01
    for step in range(6):
        if step == 3:  # a schedule written by hand, as PyTorch users do
            for tg, ng in zip(topt.param_groups, nopt.param_groups):
                tg["lr"] *= 0.5
                ng["lr"] *= 0.5
        t = rng.standard_normal((2, 3))
        for opt, a, b, lib in ((topt, ta, tb, torch), (nopt, na, nb, nd)):
            opt.zero_grad()
            ((a * lib.tensor(t)).sum() * (b ** 2).sum()).backward()
            opt.step()
    np.testing.assert_allclose(na.numpy(), ta.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(nb.numpy(), tb.detach().numpy(), rtol=1e-10)
    with pytest.raises(ValueError, match="betas"):
        optim.SGD([{"params": [na], "betas": 0.5}], lr=0.1)
    with pytest.raises(KeyError):
        nopt.param_groups[0]["nesterov"] = True


def test_batch_norm_in_training_and_evaluation_matches_pytorch(rng):
    torch = pytest.importorskip("torch")
    tbn = torch.nn.BatchNorm2d(3).double()
    nbn = nn.BatchNorm2d(3, dtype="float64")
    with torch.no_grad():
        tbn.weight.copy_(torch.tensor(rng.standard_normal(3)))
    nbn.load_state_dict({**nbn.state_dict(), "weight": tbn.weight.detach().numpy()})
    for _ in range(3):  # training: batch statistics, running ones updated
        x = rng.standard_normal((4, 3, 5, 5))
        g = rng.standard_normal((4, 3, 5, 5))
        tx, nx = torch.tensor(x, requires_grad=True), nd.tensor(x, requires_grad=True)
        ty, ny = tbn(tx), nbn(nx)
        np.testing.assert_allclose(ny.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        ty.backward(torch.tensor(g))
        ny.backward(g)
        np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(nbn.running_mean.numpy(), tbn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(nbn.running_var.numpy(), tbn.running_var.numpy(), rtol=1e-12)
    np.testing.assert_allclose(nbn.weight.grad.numpy(), tbn.weight.grad.numpy(), rtol=1e-9)
    tbn.eval()
    nbn.eval()
    x = rng.standard_normal((2, 3, 4, 4))
    np.testing.assert_allclose(nbn(nd.tensor(x)).numpy(), tbn(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)
    assert sorted(nbn.state_dict()) == ["bias", "running_mean", "running_var", "weight"]
    assert [n for n, _ in nbn.named_parameters()] == ["weight", "bias"]


def test_dropout_trains_and_evaluates():
    d = nn.Dropout(0.25)
    x = nd.ones(100000)
    nd.manual_seed(1)
    y = d(x).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    d.eval()
    assert (d(x).numpy() == 1).all()
    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    m.eval()
    assert not m[1].training and m.train()[1].training


def test_a_module_graph_with_cycles_and_shared_submodules_lists_each_module_once():
    # A child that keeps its parent (or a module itself) made named_modules recurse without
    # end; a submodule set under two names was visited twice. As PyTorch: each module once,
    # under the first name it was found by.
    class Head(nn.Module):
        def __init__(self, owner):
            super().__init__()
            self.owner = owner
            self.out = nn.Linear(2, 1, seed=3)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(3, 2, seed=1)
            self.me = self
            self.alias = self.body
            self.head = Head(self)
            self.norm = nn.BatchNorm1d(2)
            self.norm_again = self.norm

        def forward(self, x):
            return self.head.out(self.norm(self.body(x)))

    net = Net()
    names = [name for name, _ in net.named_modules()]
    assert names == ["", "body", "head", "head.out", "norm"]
    assert [n for n, _ in net.named_parameters()] == [
        "body.weight", "body.bias", "head.out.weight", "head.out.bias", "norm.weight",
        "norm.bias"]
    assert [n for n, _ in net.named_buffers()] == ["norm.running_mean", "norm.running_var"]
    assert len(net.modules()) == 5 and len(net.state_dict()) == 8
    net.eval()
    assert not net.head.training and not net.norm.training
    net.load_state_dict(net.state_dict())
    net(nd.ones(4, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_batches_of_inputs_and_labels_of_different_lengths_is_a_value_error():
    # It indexed the labels past their end, as an IndexError from inside the generator.
    with pytest.raises(ValueError, match="4 inputs and 3 labels"):
        list(nd.data.batches(nd.ones(4, 2), nd.zeros(3).long(), 2))
    with pytest.raises(ValueError, match="batch_size"):
        list(nd.data.batches(nd.ones(4, 2), nd.zeros(4).long(), 0))
