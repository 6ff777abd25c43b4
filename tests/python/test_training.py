"""ndgrad.optim beyond SGD and Adam: RMSprop, Adagrad, state_dict/load_state_dict of optimizers
and schedules, OneCycleLR and ReduceLROnPlateau, each checked step by step against torch.optim."""
import numpy as np
import pytest

import ndgrad as nd
from ndgrad import optim


def run_steps(make_nd, make_torch, rng, steps=5, shapes=((3, 4), (5,))):
    """The same parameters and the same random gradients given to both optimizers; returns the
    parameters (NumPy) after each step, ndgrad's and torch's."""
    torch = pytest.importorskip("torch")
    init = [rng.standard_normal(s) for s in shapes]
    ours = [nd.tensor(a.copy(), requires_grad=True) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    o, t = make_nd(ours), make_torch(theirs)
    out = []
    for _ in range(steps):
        grads = [rng.standard_normal(s) for s in shapes]
        for p, g in zip(ours, grads):
            (p * nd.tensor(g)).sum().backward()
        for p, g in zip(theirs, grads):
            p.grad = torch.tensor(g)
        o.step()
        t.step()
        o.zero_grad()
        t.zero_grad()
        out.append(([p.numpy().copy() for p in ours], [p.detach().numpy().copy() for p in theirs]))
    return o, t, out


@pytest.mark.parametrize("kwargs", [
    {}, {"momentum": 0.9}, {"centered": True}, {"weight_decay": 0.1, "alpha": 0.9},
    {"momentum": 0.5, "centered": True, "eps": 1e-3}])
def test_rmsprop_matches_torch(rng, kwargs):
    torch = pytest.importorskip("torch")
    _, _, out = run_steps(lambda p: optim.RMSprop(p, lr=0.01, **kwargs),
                          lambda p: torch.optim.RMSprop(p, lr=0.01, **kwargs), rng)
    for ours, theirs in out:
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", [
    {}, {"lr_decay": 0.1}, {"weight_decay": 0.2}, {"initial_accumulator_value": 0.5, "eps": 1e-6}])
def test_adagrad_matches_torch(rng, kwargs):
    torch = pytest.importorskip("torch")
    _, _, out = run_steps(lambda p: optim.Adagrad(p, lr=0.1, **kwargs),
                          lambda p: torch.optim.Adagrad(p, lr=0.1, **kwargs), rng)
    for ours, theirs in out:
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}), ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1})])
def test_optimizer_state_dict_has_torchs_entries_and_values(rng, name, kwargs):
    torch = pytest.importorskip("torch")
    o, t, _ = run_steps(lambda p: getattr(optim, name)(p, **kwargs),
                        lambda p: getattr(torch.optim, name)(p, **kwargs), rng, steps=3)
    ours, theirs = o.state_dict(), t.state_dict()
    assert set(ours) == {"state", "param_groups"}
    assert sorted(ours["state"]) == sorted(theirs["state"]) == [0, 1]
    for k, s in theirs["state"].items():
        # ndgrad counts steps for SGD too (torch does not): the one extra entry allowed.
        assert set(ours["state"][k]) - {"step"} == set(s) - {"step"}
        for n, v in s.items():
            if n == "step":
                assert ours["state"][k]["step"] == int(v) == 3
            else:
                np.testing.assert_allclose(ours["state"][k][n].numpy(), v.numpy(), rtol=1e-12,
                                           atol=1e-12)
        assert ours["state"][k]["step"] == 3
    assert [g["params"] for g in ours["param_groups"]] == [g["params"] for g in
                                                          theirs["param_groups"]]
    assert ours["param_groups"][0]["lr"] == theirs["param_groups"][0]["lr"]


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5}), ("Adagrad", {"lr": 0.1, "lr_decay": 0.01})])
def test_a_loaded_optimizer_continues_as_the_original(rng, name, kwargs):
    shapes = ((4, 3), (3,))
    ps = [nd.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    o = getattr(optim, name)(ps, **kwargs)
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(6)]

    def step(opt, params, gs):
        for p, g in zip(params, gs):
            (p * nd.tensor(g)).sum().backward()
        opt.step()
        opt.zero_grad()

    for gs in grads[:3]:
        step(o, ps, gs)
    state = o.state_dict()
    qs = [nd.tensor(p.numpy().copy(), requires_grad=True) for p in ps]
    # Another lr (the state's must win); the optimizer's other options (betas, eps, lr_decay)
    # are not in the library's state: the same ones are given.
    o2 = getattr(optim, name)(qs, **dict(kwargs, lr=123.0))
    o2.load_state_dict(state)
    assert o2.lr == o.lr
    for gs in grads[3:]:
        step(o, ps, gs)
        step(o2, qs, gs)
    for p, q in zip(ps, qs):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_optimizer_load_state_dict_refuses_bad_input(rng):
    p = nd.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    o = optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    o.step()
    good = o.state_dict()
    with pytest.raises(TypeError):
        o.load_state_dict([1, 2])
    with pytest.raises(ValueError):
        o.load_state_dict({"state": {}})
    bad = {"state": {0: dict(good["state"][0], exp_avg=nd.zeros(3, dtype="float64"))},
           "param_groups": good["param_groups"]}
    with pytest.raises(ValueError, match="exp_avg"):
        o.load_state_dict(bad)
    before = p.numpy().copy()
    with pytest.raises(TypeError):
        o.load_state_dict({"state": {"x": {}}, "param_groups": good["param_groups"]})
    np.testing.assert_array_equal(p.numpy(), before)


def torch_pair(rng, torch):
    a = rng.standard_normal(3)
    return ([nd.tensor(a, requires_grad=True)], [torch.tensor(a, requires_grad=True)])


@pytest.mark.parametrize("kwargs", [
    {}, {"anneal_strategy": "linear"}, {"three_phase": True, "pct_start": 0.25},
    {"div_factor": 10.0, "final_div_factor": 100.0, "base_momentum": 0.8, "max_momentum": 0.9}])
def test_one_cycle_matches_torch(rng, kwargs):
    torch = pytest.importorskip("torch")
    ours, theirs = torch_pair(rng, torch)
    o = optim.SGD(ours, lr=0.1, momentum=0.9)
    t = torch.optim.SGD(theirs, lr=0.1, momentum=0.9)
    s = optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, epochs=4, steps_per_epoch=5, **kwargs)
    ts = torch.optim.lr_scheduler.OneCycleLR(t, max_lr=0.5, total_steps=20, **kwargs)
    assert isinstance(s, optim.lr_scheduler.OneCycleLR)
    for _ in range(19):
        assert o.lr == pytest.approx(t.param_groups[0]["lr"], rel=1e-12)
        assert o.param_groups[0].momentum == pytest.approx(t.param_groups[0]["momentum"],
                                                           rel=1e-12)
        o.step()
        t.step()
        s.step()
        ts.step()
    assert s.get_last_lr()[0] == pytest.approx(ts.get_last_lr()[0], rel=1e-12)
    with pytest.raises(ValueError):
        optim.lr_scheduler.OneCycleLR(o, max_lr=0.5)
    with pytest.raises(ValueError):
        optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=10, anneal_strategy="cosine")
    with pytest.raises(TypeError):
        optim.lr_scheduler.OneCycleLR(o, max_lr=[0.5], total_steps=10)


def test_one_cycle_cycles_adams_beta1_as_torch(rng):
    torch = pytest.importorskip("torch")
    ours, theirs = torch_pair(rng, torch)
    o = optim.Adam(ours, lr=0.1)
    t = torch.optim.Adam(theirs, lr=0.1)
    s = optim.lr_scheduler.OneCycleLR(o, max_lr=0.3, total_steps=12)
    ts = torch.optim.lr_scheduler.OneCycleLR(t, max_lr=0.3, total_steps=12)
    for _ in range(11):
        assert o.param_groups[0].momentum == pytest.approx(t.param_groups[0]["betas"][0],
                                                           rel=1e-12)
        for p, q in zip(ours, theirs):
            g = rng.standard_normal(3)
            (p * nd.tensor(g)).sum().backward()
            q.grad = torch.tensor(g)
        o.step()
        t.step()
        o.zero_grad()
        s.step()
        ts.step()
        np.testing.assert_allclose(ours[0].numpy(), theirs[0].detach().numpy(), rtol=1e-12,
                                   atol=1e-12)
    with pytest.raises(ValueError):
        optim.lr_scheduler.OneCycleLR(optim.Adagrad(ours), max_lr=0.3, total_steps=12)


@pytest.mark.parametrize("kwargs", [
    {"patience": 2}, {"mode": "max", "patience": 1, "cooldown": 2, "factor": 0.5},
    {"threshold_mode": "abs", "threshold": 0.1, "patience": 0, "min_lr": 0.003}])
def test_reduce_lr_on_plateau_matches_torch(rng, kwargs):
    torch = pytest.importorskip("torch")
    ours, theirs = torch_pair(rng, torch)
    o = optim.SGD(ours, lr=0.1)
    t = torch.optim.SGD(theirs, lr=0.1)
    s = optim.lr_scheduler.ReduceLROnPlateau(o, **kwargs)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(t, **kwargs)
    metrics = np.round(rng.uniform(0, 1, 30), 1)  # rounded: ties, and plateaus
    changed = 0
    for m in metrics:
        before = o.lr
        s.step(float(m))
        ts.step(float(m))
        changed += o.lr != before
        assert o.lr == pytest.approx(t.param_groups[0]["lr"], rel=1e-12)
        assert s.num_bad_epochs == ts.num_bad_epochs
    assert changed > 0
    with pytest.raises(ValueError):
        optim.lr_scheduler.ReduceLROnPlateau(o, mode="maximum")


def test_scheduler_state_dicts_restore_the_schedule(rng):
    p = [nd.tensor(rng.standard_normal(2), requires_grad=True)]
    o = optim.SGD(p, lr=0.1, momentum=0.9)
    for make in (lambda o: optim.lr_scheduler.StepLR(o, 2, gamma=0.5),
                 lambda o: optim.lr_scheduler.CosineAnnealingLR(o, 10),
                 lambda o: optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=12)):
        o.lr = 0.1
        s = make(o)
        for _ in range(4):
            s.step()
        state = s.state_dict()
        assert state["last_epoch"] == 4
        o2 = optim.SGD([nd.tensor(p[0].numpy(), requires_grad=True)], lr=0.1, momentum=0.9)
        s2 = make(o2)
        s2.load_state_dict(state)
        o2.load_state_dict(o.state_dict())
        assert s2.state_dict() == state
        for _ in range(5):
            s.step()
            s2.step()
            assert o2.lr == o.lr
        with pytest.raises(TypeError):
            s2.load_state_dict(3)
        with pytest.raises(ValueError):
            s2.load_state_dict(dict(state, last_epoch=-5))

    r = optim.lr_scheduler.ReduceLROnPlateau(o, patience=1)
    for m in (3.0, 2.0, 2.5, 2.6):
        r.step(m)
    r2 = optim.lr_scheduler.ReduceLROnPlateau(o, patience=1)
    r2.load_state_dict(r.state_dict())
    assert r2.best == r.best == 2.0 and r2.num_bad_epochs == r.num_bad_epochs
    assert r2.state_dict() == r.state_dict()


# --- resumable training: save_checkpoint / load_checkpoint ---
TRAIN_SCRIPT = r'''
import sys
import numpy as np
import ndgrad as nd
from ndgrad import nn, optim, data

mode, ckpt, out = sys.argv[1], sys.argv[2], sys.argv[3]

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8, seed=1), nn.Tanh(), nn.Linear(8, 8, seed=2))
        self.norm = nn.BatchNorm1d(8)
        self.drop = nn.Dropout(0.3)  # draws from the default generator
        self.own = nn.Dropout(0.2, seed=11)  # from a generator of its own
        self.head = nn.Linear(8, 1, seed=3)
    def forward(self, x):
        return self.head(self.own(self.drop(nd.relu(self.norm(self.body(x))))))

r = np.random.default_rng(5)
x = nd.tensor(r.standard_normal((40, 4)), dtype="float32")
y = nd.tensor(r.standard_normal((40, 1)), dtype="float32")
model = Net()
opt = optim.Adam(model.parameters(), lr=0.01)
sched = optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)

def epoch(e, step):
    for xb, yb in data.batches(x, y, 8, seed=7, epoch=e):
        loss = nn.functional.mse_loss(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step += 1
    return step

step = 0
if mode == "straight":
    step = epoch(0, step)
    step = epoch(1, step)
elif mode == "first":
    step = epoch(0, step)
    nd.save_checkpoint(ckpt, model, opt, sched, epoch=1, step=step, extra={"best": 0.5})
    sys.exit(0)
else:
    nd.manual_seed(99)  # the checkpoint's position must win over this
    info = nd.load_checkpoint(ckpt, model, opt, sched)
    assert info["epoch"] == 1 and info["step"] == 5 and info["extra"] == {"best": 0.5}, info
    step = epoch(info["epoch"], info["step"])
state = {"model." + k: v for k, v in model.state_dict().items()}
state.update({"opt." + k: v for k, v in opt._flat_state_dict().items()})
state.update({"sched." + k: v for k, v in sched._flat_state_dict().items()})
nd.save(out, state)
'''


def test_two_epochs_straight_equal_one_save_load_in_a_fresh_process_and_one(tmp_path):
    import os
    import subprocess
    import sys
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(nd.__file__)))
    ckpt = str(tmp_path / "ckpt.npz")

    def run(mode, out):
        subprocess.run([sys.executable, str(script), mode, ckpt, str(tmp_path / out)], env=env,
                       check=True, capture_output=True, text=True, cwd=tmp_path)
        return np.load(tmp_path / out) if mode != "first" else None

    straight = run("straight", "straight.npz")
    run("first", "unused.npz")
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz", "straight.npz", "train.py"]
    resumed = run("resume", "resumed.npz")
    assert sorted(straight.files) == sorted(resumed.files)
    assert any(k.startswith("opt.state.") for k in straight.files)
    assert any(k.startswith("model.norm.running_mean") for k in straight.files)
    for k in straight.files:
        assert straight[k].dtype == resumed[k].dtype, k
        np.testing.assert_array_equal(straight[k], resumed[k], err_msg=k)


def test_load_checkpoint_checks_everything_before_changing_anything(tmp_path):
    from ndgrad import nn
    model = nn.Sequential(nn.Linear(3, 2, seed=1))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.StepLR(opt, 2)
    path = str(tmp_path / "c.npz")
    nd.save_checkpoint(path, model, opt, sched, epoch=3, step=30)
    other = nn.Sequential(nn.Linear(3, 2, seed=2))
    other_opt = optim.SGD(other.parameters(), lr=0.5, momentum=0.9)
    before = other[0].weight.numpy().copy()
    with pytest.raises(ValueError, match="scheduler"):
        nd.load_checkpoint(path, other, other_opt)  # the checkpoint has a schedule
    bigger = nn.Sequential(nn.Linear(3, 4, seed=2))
    with pytest.raises(ValueError, match="weight"):
        nd.load_checkpoint(path, bigger, optim.SGD(bigger.parameters(), lr=0.5, momentum=0.9),
                           optim.lr_scheduler.StepLR(other_opt, 2))
    # A model that fits and an optimizer that does not (another number of groups): the model
    # is left alone.
    two_groups = optim.SGD([{"params": [other[0].weight]}, {"params": [other[0].bias]}], lr=0.5)
    with pytest.raises(ValueError):
        nd.load_checkpoint(path, other, two_groups, optim.lr_scheduler.StepLR(two_groups, 2))
    np.testing.assert_array_equal(other[0].weight.numpy(), before)
    info = nd.load_checkpoint(path, other, other_opt, optim.lr_scheduler.StepLR(other_opt, 2))
    assert info == {"epoch": 3, "step": 30, "extra": {}}
    np.testing.assert_array_equal(other[0].weight.numpy(), model[0].weight.numpy())
    assert other_opt.lr == 0.1
    with pytest.raises(ValueError, match=".npz"):
        nd.save_checkpoint(str(tmp_path / "c.ckpt"), model)
    with pytest.raises(TypeError):
        nd.save_checkpoint(path, model, epoch=1.5)


def test_dropout_with_a_seed_draws_from_its_own_generator():
    from ndgrad import nn
    x = nd.ones(64, 64)
    a, b, c = nn.Dropout(0.5, seed=3), nn.Dropout(0.5, seed=3), nn.Dropout(0.5, seed=4)
    nd.manual_seed(1)
    ya = a(x).numpy()
    nd.manual_seed(2)  # the default generator does not matter
    np.testing.assert_array_equal(ya, b(x).numpy())
    assert not np.array_equal(ya, c(x).numpy())
    assert not np.array_equal(ya, a(x).numpy())  # the generator moved on
    assert set(np.unique(ya)) == {0.0, 2.0}
    a.eval()
    np.testing.assert_array_equal(a(x).numpy(), 1.0)


def test_a_checkpoint_holds_a_plateau_schedule_and_extra_numbers(tmp_path):
    from ndgrad import nn
    model = nn.Linear(2, 2, seed=1)
    opt = optim.RMSprop(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    for m in (1.0, 0.5, 0.7, 0.8):
        sched.step(m)
    assert opt.lr == 0.025  # two reductions, exact in binary
    path = str(tmp_path / "p.npz")
    nd.save_checkpoint(path, model, opt, sched, epoch=4, step=9, extra={"loss": 0.125, "n": 3})
    model2 = nn.Linear(2, 2, seed=2)
    opt2 = optim.RMSprop(model2.parameters(), lr=0.1)
    sched2 = optim.lr_scheduler.ReduceLROnPlateau(opt2, patience=0, factor=0.5)
    info = nd.load_checkpoint(path, model2, opt2, sched2)
    assert info == {"epoch": 4, "step": 9, "extra": {"loss": 0.125, "n": 3}}
    assert isinstance(info["extra"]["n"], int)
    assert sched2.state_dict() == sched.state_dict() and opt2.lr == opt.lr
    sched.step(0.9)
    sched2.step(0.9)
    assert opt2.lr == opt.lr == 0.0125
    with pytest.raises(TypeError):
        nd.save_checkpoint(path, model, extra={"flag": True})
