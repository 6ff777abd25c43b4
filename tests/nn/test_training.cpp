// The training toolkit: schedules against PyTorch's (tests/data, written by
// tools/oracles/make_torch_data.py), resumable checkpoints (a run resumed in a fresh process
// gives the bits of one that never stopped), and loading a PyTorch-trained model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include "ndgrad/ndgrad.hpp"

using namespace ndgrad;

namespace {

const std::string kData = NDGRAD_TEST_DATA;

// --- schedules -------------------------------------------------------------------------------

struct Run {
  std::vector<std::array<double, 2>> lr;  // the two groups'
  std::vector<double> momentum;           // group 0's (Adam's beta1)
};

// The same protocol as the oracle script: two groups (the second at half the lr), recorded
// after construction and after each step.
Run run(std::unique_ptr<optim::Optimizer> opt, const std::function<void(int)>& step, int steps) {
  Run r;
  auto record = [&] {
    r.lr.push_back({*opt->param_groups()[0].lr, *opt->param_groups()[1].lr});
    r.momentum.push_back(*opt->param_groups()[0].momentum);
  };
  record();
  for (int i = 0; i < steps; ++i) {
    step(i);
    record();
  }
  return r;
}

std::vector<optim::ParamGroup> two_groups(double lr) {
  std::vector<optim::ParamGroup> g{optim::ParamGroup({zeros({1}).requires_grad_()})};
  g.push_back(optim::ParamGroup({zeros({1}).requires_grad_()}, lr * 0.5));
  return g;
}

void expect_matches(const std::string& name, const Run& got, int upto = -1) {
  static const std::map<std::string, Tensor> want = load_npz(kData + "/torch_schedules.npz");
  const Tensor lr = want.at(name + ".lr"), mom = want.at(name + ".momentum");
  const std::vector<double> lv = lr.to_vector(), mv = mom.to_vector();
  const size_t n = upto < 0 ? got.lr.size() : size_t(upto);
  ASSERT_EQ(size_t(lr.size(0)), got.lr.size()) << name;
  for (size_t i = 0; i < n; ++i) {
    for (int g = 0; g < 2; ++g)
      EXPECT_NEAR(got.lr[i][g], lv[2 * i + g], 1e-12 * (1 + std::fabs(lv[2 * i + g])))
          << name << " step " << i << " group " << g;
    EXPECT_NEAR(got.momentum[i], mv[i], 1e-12) << name << " momentum, step " << i;
  }
}

template <class S, class... A>
Run closed_form(int steps, std::unique_ptr<optim::Optimizer> opt, A... args) {
  optim::Optimizer& o = *opt;
  auto s = std::make_shared<S>(o, args...);
  return run(
      std::move(opt), [s](int) { s->step(); }, steps);
}

std::unique_ptr<optim::Optimizer> sgd(double lr = 0.1) {
  return std::make_unique<optim::SGD>(two_groups(lr), optim::SGDOptions(lr).momentum(0.9));
}

}  // namespace

TEST(Schedules, MatchPyTorch) {
  expect_matches("step", closed_form<optim::StepLR>(12, sgd(), int64_t(3), 0.5));
  expect_matches("multistep",
                 closed_form<optim::MultiStepLR>(12, sgd(), std::vector<int64_t>{5, 2, 9, 5}, 0.3));
  expect_matches("exponential", closed_form<optim::ExponentialLR>(12, sgd(), 0.8));
  expect_matches("cosine", closed_form<optim::CosineAnnealingLR>(12, sgd(), int64_t(7), 0.001));
  // (PyTorch's chained warmup-then-cosine rises again past its end; this one stays at eta_min)
  expect_matches("cosine_warmup",
                 closed_form<optim::CosineWarmupLR>(14, sgd(), int64_t(4), int64_t(12), 0.0, 0.1),
                 13);
  expect_matches("onecycle_cos",
                 closed_form<optim::OneCycleLR>(20, sgd(), optim::OneCycleOptions(1.0, 20)));
  expect_matches("onecycle_linear_three",
                 closed_form<optim::OneCycleLR>(
                     17, std::make_unique<optim::Adam>(two_groups(0.1), optim::AdamOptions(0.1)),
                     optim::OneCycleOptions(0.5, 17)
                         .pct_start(0.25)
                         .cos_anneal(false)
                         .three_phase(true)
                         .div_factor(10)
                         .final_div_factor(100)
                         .base_momentum(0.8)
                         .max_momentum(0.9)));
  expect_matches("onecycle_no_momentum",
                 closed_form<optim::OneCycleLR>(
                     10, sgd(), optim::OneCycleOptions(0.3, 10).cycle_momentum(false)));
  const std::vector<double> metrics =
      load_npz(kData + "/torch_schedules.npz").at("plateau.metrics").to_vector();
  for (const bool max_mode : {false, true}) {
    auto opt = sgd();
    auto s = std::make_shared<optim::ReduceLROnPlateau>(
        *opt,
        max_mode
            ? optim::ReduceLROnPlateauOptions()
                  .mode_max(true)
                  .factor(0.1)
                  .patience(1)
                  .threshold(0.05)
                  .threshold_rel(false)
            : optim::ReduceLROnPlateauOptions().factor(0.5).patience(2).cooldown(1).min_lr(0.01));
    expect_matches(max_mode ? "plateau_max_abs" : "plateau_min_rel",
                   run(
                       std::move(opt), [&](int i) { s->step(metrics[i]); }, int(metrics.size())));
  }
}

TEST(Schedules, BadArgumentsAndStates) {
  auto opt = sgd();
  EXPECT_THROW(optim::StepLR(*opt, 0), ValueError);
  EXPECT_THROW(optim::CosineAnnealingLR(*opt, 0), ValueError);
  EXPECT_THROW(optim::CosineWarmupLR(*opt, 5, 5), ValueError);
  EXPECT_THROW(optim::OneCycleLR(*opt, optim::OneCycleOptions(-1, 10)), ValueError);
  EXPECT_THROW(optim::ReduceLROnPlateau(*opt, optim::ReduceLROnPlateauOptions().factor(1.0)),
               ValueError);
  optim::Adagrad adagrad({zeros({1}).requires_grad_()});
  EXPECT_THROW(optim::OneCycleLR(adagrad, optim::OneCycleOptions(0.1, 10)), ValueError);
  // Past total_steps: an error, and the schedule stays where it was.
  optim::OneCycleLR one(*opt, optim::OneCycleOptions(0.1, 3));
  for (int i = 0; i < 3; ++i) one.step();
  EXPECT_THROW(one.step(), ValueError);
  EXPECT_EQ(one.last_epoch(), 3);
  // A state of another schedule, or a damaged one: a ValueError naming the entry, no change.
  optim::StepLR a(*opt, 2);
  a.step();
  auto st = a.state_dict();
  optim::StepLR b(*opt, 2);
  b.load_state_dict(st);
  EXPECT_EQ(b.last_epoch(), 1);
  auto bad = st;
  bad["base_lrs"] = zeros({3}, DType::f64);
  optim::StepLR c(*opt, 2);
  try {
    c.load_state_dict(bad);
    FAIL() << "loaded a state with three groups into an optimizer of two";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("base_lrs"), std::string::npos) << e.what();
  }
  EXPECT_EQ(c.last_epoch(), 0);
  optim::ReduceLROnPlateau plateau(*opt);
  EXPECT_THROW(plateau.load_state_dict(st), ValueError);  // no "best"
  auto extra = st;
  extra["surprise"] = zeros({});
  EXPECT_THROW(b.load_state_dict(extra), ValueError);
}

TEST(Optim, StateDictRoundTripAndBadStates) {
  Tensor p = randn({3, 2}, 1).requires_grad_(), q = randn({4}, 2).requires_grad_();
  optim::Adam a(std::vector<optim::ParamGroup>{optim::ParamGroup({p}), optim::ParamGroup({q}, 0.5)},
                optim::AdamOptions(0.1).amsgrad(true));
  (p.sum() + (q * q).sum()).backward();
  a.step();
  const auto st = a.state_dict();
  EXPECT_EQ(st.at("state.0.step").to_vector(), std::vector<double>{1});
  EXPECT_EQ(st.count("state.1.max_exp_avg_sq"), 1u);
  EXPECT_EQ(st.at("param_groups.1.lr").item(), 0.5);
  // Into a fresh optimizer: the next steps are the same bits.
  Tensor p2 = p.detach().clone().requires_grad_(), q2 = q.detach().clone().requires_grad_();
  optim::Adam b(
      std::vector<optim::ParamGroup>{optim::ParamGroup({p2}), optim::ParamGroup({q2}, 0.9)},
      optim::AdamOptions(0.1).amsgrad(true));
  b.load_state_dict(st);
  EXPECT_EQ(*b.param_groups()[1].lr, 0.5);
  for (int i = 0; i < 3; ++i) {
    a.zero_grad();
    b.zero_grad();
    (p.sum() + (q * q).sum()).backward();
    (p2.sum() + (q2 * q2).sum()).backward();
    a.step();
    b.step();
  }
  EXPECT_EQ(p.to_vector(), p2.to_vector());
  EXPECT_EQ(q.to_vector(), q2.to_vector());
  // Damaged states: each a ValueError naming the entry, the optimizer unchanged.
  auto check_bad = [&](std::map<std::string, Tensor> s, const std::string& names) {
    const auto before = b.state_dict();
    try {
      b.load_state_dict(s);
      ADD_FAILURE() << "loaded a bad state (" << names << ")";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
    }
    const auto after = b.state_dict();
    ASSERT_EQ(before.size(), after.size());
    for (const auto& [k, v] : before) EXPECT_EQ(v.to_vector(), after.at(k).to_vector()) << k;
  };
  auto s1 = st;
  s1["state.1.exp_avg"] = zeros({5});
  check_bad(s1, "state.1.exp_avg");
  auto s2 = st;
  s2["state.7.exp_avg"] = zeros({4});
  check_bad(s2, "state.7.exp_avg");
  auto s3 = st;
  s3["state.0.momentum_buffer"] = zeros({3, 2});
  check_bad(s3, "momentum_buffer");
  auto s4 = st;
  s4.erase("param_groups.1.lr");
  check_bad(s4, "param_groups.1.lr");
  auto s5 = st;
  s5["param_groups.0.lr"] = scalar(-1, DType::f64);
  check_bad(s5, "lr");
  auto s6 = st;
  s6["param_groups.1.params"] = tensor({0}, {1}, DType::i64);
  check_bad(s6, "param_groups.1.params");
  // SGD's state into Adam: its momentum buffers are not Adam's.
  Tensor r = randn({3, 2}, 3).requires_grad_();
  optim::SGD s(std::vector<Tensor>{r}, 0.1, 0.9);
  r.sum().backward();
  s.step();
  optim::Adam into(std::vector<Tensor>{r}, 0.1);
  EXPECT_THROW(into.load_state_dict(s.state_dict()), ValueError);
  // Parameter groups: a parameter in two groups is refused.
  EXPECT_THROW(
      optim::SGD(std::vector<optim::ParamGroup>{optim::ParamGroup({r}), optim::ParamGroup({r})},
                 optim::SGDOptions(0.1)),
      ValueError);
  EXPECT_THROW(optim::SGD(std::vector<Tensor>{r}, optim::SGDOptions(0.1).nesterov(true)),
               ValueError);  // nesterov without momentum
}

// --- resumable training ------------------------------------------------------------------------

namespace {

// A model with every kind of state: parameters, batch-norm statistics (buffers), dropout's
// generator; an optimizer with moments and two groups; a one-cycle schedule (lr and momentum);
// shuffling from a generator of the loop's; noise from the default generator.
struct Trainer {
  nn::Sequential model;
  std::unique_ptr<optim::AdamW> opt;
  std::unique_ptr<optim::OneCycleLR> schedule;
  Generator shuffle{77};
  Tensor x, y;
  static constexpr int64_t kSamples = 48, kBatch = 16, kEpochs = 2;

  Trainer() {
    manual_seed(5);
    model.push_back(std::make_shared<nn::Conv2d>(1, 4, 3, 1, 1, 1, 1, true, 11));
    model.push_back(std::make_shared<nn::BatchNorm2d>(4));
    model.push_back(std::make_shared<nn::ReLU>());
    model.push_back(std::make_shared<nn::MaxPool2d>(2));
    model.push_back(std::make_shared<nn::Flatten>());
    model.push_back(std::make_shared<nn::Dropout>(0.3, 12));
    model.push_back(std::make_shared<nn::Linear>(4 * 4 * 4, 3, 13));
    std::vector<Tensor> conv, rest;
    for (auto& [name, p] : model.named_parameters()) (name[0] == '0' ? conv : rest).push_back(p);
    std::vector<optim::ParamGroup> groups{optim::ParamGroup(conv, 0.02), optim::ParamGroup(rest)};
    opt = std::make_unique<optim::AdamW>(groups, optim::AdamWOptions(0.01).amsgrad(true));
    schedule = std::make_unique<optim::OneCycleLR>(
        *opt, optim::OneCycleOptions(0.05, kEpochs * (kSamples / kBatch)));
    x = randn({kSamples, 1, 8, 8}, 1000);
    y = randint(0, 3, {kSamples});
  }
  TrainingState state() {
    TrainingState s;
    s.model = &model;
    s.optimizer = opt.get();
    s.scheduler = schedule.get();
    s.generators = {{"shuffle", &shuffle}};
    return s;
  }
  void epoch() {
    model.train();
    const Tensor order = shuffle.permutation(kSamples);
    for (int64_t b = 0; b < kSamples; b += kBatch) {
      const Tensor idx = order.slice(0, b, b + kBatch);
      const Tensor xb = index_select(x, 0, idx) + randn({kBatch, 1, 8, 8}) * 0.1;
      opt->zero_grad();
      nn::cross_entropy(model(xb), index_select(y, 0, idx)).backward();
      opt->step();
      schedule->step();
    }
  }
};

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  buf[n] = 0;
  return buf;
}

}  // namespace

// Run by ResumedInAFreshProcessIsBitIdentical in a child process of its own.
TEST(TrainingChild, Phase) {
  const char* phase = std::getenv("NDGRAD_TEST_TRAINING_PHASE");
  const char* dir = std::getenv("NDGRAD_TEST_TRAINING_DIR");
  if (!phase || !dir) GTEST_SKIP() << "run by Checkpoint.ResumedInAFreshProcessIsBitIdentical";
  Trainer t;
  TrainingState s = t.state();
  const std::string ckpt = std::string(dir) + "/checkpoint.npz";
  if (std::string(phase) == "first") {
    t.epoch();
    s.epoch = 1;
    save_checkpoint(ckpt, s);
  } else {
    load_checkpoint(ckpt, s);
    ASSERT_EQ(s.epoch, 1);
    t.epoch();
    t.model.save(std::string(dir) + "/resumed.npz");
  }
}

TEST(Checkpoint, ResumedInAFreshProcessIsBitIdentical) {
  char tmpl[] = "/tmp/ndgrad_resume_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, exe = self_exe();
  ASSERT_FALSE(exe.empty());
  for (const char* phase : {"first", "second"}) {
    const std::string cmd =
        "NDGRAD_TEST_TRAINING_PHASE=" + std::string(phase) + " NDGRAD_TEST_TRAINING_DIR='" + dir +
        "' '" + exe + "' --gtest_filter=TrainingChild.Phase > '" + dir + "/" + phase + ".log' 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << phase << " phase failed; see " << dir;
  }
  // Two epochs straight, here.
  Trainer straight;
  straight.epoch();
  straight.epoch();
  const auto want = straight.model.state_dict();
  const auto got = load_npz(dir + "/resumed.npz");
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, t] : want) {
    const std::vector<double> a = t.to_vector(), b = got.at(name).to_vector();
    ASSERT_EQ(a.size(), b.size()) << name;
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)), 0)
        << name << " differs from the uninterrupted run";
  }
  // The run really moved: the parameters are not their initial values.
  Trainer fresh;
  EXPECT_NE(fresh.model.state_dict().at("6.weight").to_vector(), want.at("6.weight").to_vector());
  for (const char* f : {"checkpoint.npz", "resumed.npz", "first.log", "second.log"})
    std::remove((dir + "/" + f).c_str());
  rmdir(dir.c_str());
}

TEST(Checkpoint, AnotherModelOrADamagedFileChangesNothing) {
  char tmpl[] = "/tmp/ndgrad_ckpt_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, path = dir + "/c.npz";
  Trainer t;
  t.epoch();
  TrainingState s = t.state();
  s.epoch = 1;
  s.extra["history"] = tensor({0.5, 0.25}, {2}, DType::f64);
  save_checkpoint(path, s);

  Trainer u;
  auto snapshot = [&] {
    auto m = u.model.state_dict();
    for (auto& [k, v] : u.opt->state_dict()) m["opt." + k] = v;
    m["rng"] = scalar(double(u.shuffle.get_state().offset), DType::f64);
    m["default_rng"] = scalar(double(default_generator().get_state().offset), DType::f64);
    return m;
  };
  auto expect_unchanged = [&](const std::map<std::string, Tensor>& before, const char* what) {
    const auto after = snapshot();
    ASSERT_EQ(before.size(), after.size()) << what;
    for (const auto& [k, v] : before)
      EXPECT_EQ(v.to_vector(), after.at(k).to_vector()) << what << ": " << k << " changed";
  };
  // Another model (a layer wider): a ValueError naming the entry; nothing restored.
  {
    nn::Sequential other;
    other.push_back(std::make_shared<nn::Conv2d>(1, 5, 3, 1, 1));
    TrainingState o;
    o.model = &other;
    try {
      load_checkpoint(path, o);
      ADD_FAILURE() << "loaded another model's checkpoint";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("0.weight"), std::string::npos) << e.what();
    }
  }
  const auto before = snapshot();
  {
    // The right model but a generator the file lacks: refused before the model is touched.
    Generator extra_gen(3);
    TrainingState o = u.state();
    o.generators.push_back({"augment", &extra_gen});
    try {
      load_checkpoint(path, o);
      ADD_FAILURE() << "loaded without the generator's entry";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("rng.augment"), std::string::npos) << e.what();
    }
    expect_unchanged(before, "a missing generator");
  }
  // Truncated files (every length up to a few kilobytes and some more): IOError or ValueError,
  // never a crash, and the objects unchanged.
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  for (size_t len = 0; len < bytes.size(); len += (len < 4096 ? 97 : 1499)) {
    {
      std::ofstream f(dir + "/t.npz", std::ios::binary);
      f.write(bytes.data(), std::streamsize(len));
    }
    TrainingState o = u.state();
    EXPECT_ANY_THROW(load_checkpoint(dir + "/t.npz", o)) << len;
  }
  expect_unchanged(before, "truncated files");
  // The whole file: everything restored, the extra entries and counters included.
  TrainingState o = u.state();
  load_checkpoint(path, o);
  EXPECT_EQ(o.epoch, 1);
  EXPECT_EQ(o.extra.at("history").to_vector(), (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(u.model.state_dict().at("1.running_mean").to_vector(),
            t.model.state_dict().at("1.running_mean").to_vector());
  EXPECT_EQ(u.shuffle.get_state().offset, t.shuffle.get_state().offset);
  // A model alone, for evaluation: the optimizer's, schedule's and loop's entries are skipped.
  Trainer v;
  TrainingState model_only;
  model_only.model = &v.model;
  load_checkpoint(path, model_only);
  EXPECT_EQ(v.model.state_dict().at("6.weight").to_vector(),
            t.model.state_dict().at("6.weight").to_vector());
  // Two generators of one name: refused, nothing written.
  TrainingState dup = u.state();
  dup.generators.push_back({"shuffle", &v.shuffle});
  EXPECT_THROW(save_checkpoint(dir + "/d.npz", dup), ValueError);
  EXPECT_NE(access((dir + "/d.npz").c_str(), F_OK), 0);
  for (const char* f : {"c.npz", "t.npz"}) std::remove((dir + "/" + f).c_str());
  rmdir(dir.c_str());
}

// --- PyTorch interop ---------------------------------------------------------------------------

// The model of tools/oracles/make_torch_data.py, in ndgrad's modules (the same order, so the
// same dotted names).
TEST(TorchInterop, APyTorchTrainedModelGivesItsLogits) {
  nn::Sequential m;
  m.push_back(std::make_shared<nn::Conv2d>(1, 4, 3, 1, 1));
  m.push_back(std::make_shared<nn::BatchNorm2d>(4));
  m.push_back(std::make_shared<nn::ReLU>());
  m.push_back(std::make_shared<nn::MaxPool2d>(2));
  m.push_back(std::make_shared<nn::Conv2d>(4, 8, 3, 1, 1, 1, 2));
  m.push_back(std::make_shared<nn::ReLU>());
  m.push_back(std::make_shared<nn::AvgPool2d>(2));
  m.push_back(std::make_shared<nn::Flatten>());
  m.push_back(std::make_shared<nn::Linear>(8 * 3 * 3, 16));
  m.push_back(std::make_shared<nn::LayerNorm>(Shape{16}));
  m.push_back(std::make_shared<nn::ReLU>());
  m.push_back(std::make_shared<nn::Linear>(16, 5));
  m.load_torch_state_dict(load_npz(kData + "/torch_small_cnn.npz"));
  m.eval();
  const auto io = load_npz(kData + "/torch_small_cnn_io.npz");
  const Tensor logits = m(io.at("input"));
  const std::vector<double> got = logits.to_vector(), want = io.at("logits").to_vector();
  ASSERT_EQ(logits.shape(), io.at("logits").shape());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << i;
  // And back: ndgrad's state in PyTorch's layout is the file's.
  const auto back = m.torch_state_dict();
  const auto file = load_npz(kData + "/torch_small_cnn.npz");
  ASSERT_EQ(back.size(), file.size());
  for (const auto& [k, v] : file) {
    ASSERT_EQ(back.at(k).shape(), v.shape()) << k;
    EXPECT_EQ(back.at(k).to_vector(), v.to_vector()) << k;
  }
  // A model that is not the file's: a ValueError naming the entry.
  nn::Sequential other;
  other.push_back(std::make_shared<nn::Conv2d>(1, 4, 5, 1, 1));
  try {
    other.load_torch_state_dict(file);
    ADD_FAILURE() << "loaded into another model";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("0.weight"), std::string::npos) << e.what();
  }
}

// A one-cycle phase of no length is PyTorch's ZeroDivisionError: a ValueError, never a NaN lr.
TEST(Schedules, OneCycleEmptyPhaseIsAnErrorNotANaN) {
  auto opt = sgd();
  // pct_start * total_steps == 1: the warmup phase ends at step 0, where it starts.
  EXPECT_THROW(optim::OneCycleLR(*opt, optim::OneCycleOptions(0.1, 10).pct_start(0.1)), ValueError);
  // pct_start 1: the annealing phase is empty, reached at step total_steps.
  optim::OneCycleLR one(*opt, optim::OneCycleOptions(0.1, 4).pct_start(1.0));
  for (int i = 0; i < 3; ++i) one.step();
  const double lr = opt->lr(), momentum = *opt->param_groups()[0].momentum;
  EXPECT_THROW(one.step(), ValueError);
  EXPECT_EQ(one.last_epoch(), 3);
  EXPECT_EQ(opt->lr(), lr);
  EXPECT_EQ(*opt->param_groups()[0].momentum, momentum);
  EXPECT_TRUE(std::isfinite(lr));
}

// AdamW's default weight decay (1e-2) whatever form its parameters and lr come in; AdamOptions
// given as they are keep theirs.
TEST(Optim, AdamWKeepsItsWeightDecayWithAnLrAlone) {
  Tensor p = zeros({1}).requires_grad_();
  optim::AdamW a(std::vector<optim::ParamGroup>{optim::ParamGroup({p})}, 1e-3);
  EXPECT_EQ(*a.param_groups()[0].weight_decay, 1e-2);
  optim::AdamW b(std::vector<Tensor>{p}, 1e-3);
  EXPECT_EQ(*b.param_groups()[0].weight_decay, 1e-2);
  optim::AdamW c(std::vector<optim::ParamGroup>{optim::ParamGroup({p}, 0.5)});
  EXPECT_EQ(*c.param_groups()[0].weight_decay, 1e-2);
  optim::AdamW d(std::vector<Tensor>{p}, optim::AdamWOptions(1e-3).beta2(0.99));
  EXPECT_EQ(*d.param_groups()[0].weight_decay, 1e-2);
  optim::AdamW e(std::vector<Tensor>{p}, optim::AdamOptions(1e-3));
  EXPECT_EQ(*e.param_groups()[0].weight_decay, 0);
}

// Malformed optimizer states are refused before anything changes: an index written two ways
// ("01" and "1"), a step at the end of int64 (the next update's number overflows), a parameter
// with updates but without the state its update reads (Adam's moments), and a group's indices in
// a strided view are read correctly.
TEST(Optim, MalformedStatesAreRefused) {
  Tensor p = randn({3}, 1).requires_grad_(), q = randn({3}, 2).requires_grad_();
  optim::Adam a(std::vector<Tensor>{p, q}, optim::AdamOptions(0.1).amsgrad(true));
  (p.sum() + (q * q).sum()).backward();
  a.step();
  const auto st = a.state_dict();
  auto check_bad = [&](const std::map<std::string, Tensor>& s, const std::string& names) {
    const auto before = a.state_dict();
    try {
      a.load_state_dict(s);
      ADD_FAILURE() << "loaded a bad state (" << names << ")";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
    }
    const auto after = a.state_dict();
    ASSERT_EQ(before.size(), after.size());
    for (const auto& [k, v] : before) EXPECT_EQ(v.to_vector(), after.at(k).to_vector()) << k;
  };
  auto s1 = st;
  s1["state.01.step"] = st.at("state.1.step");
  s1["state.01.exp_avg"] = ones({3});
  check_bad(s1, "state.01");
  auto s2 = st;
  Tensor last = zeros({}, DType::i64);
  last.data_ptr<int64_t>()[0] = std::numeric_limits<int64_t>::max();
  s2["state.0.step"] = last;
  check_bad(s2, "state.0.step");
  for (const char* name : {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}) {
    auto s3 = st;
    s3.erase(std::string("state.0.") + name);
    check_bad(s3, std::string("state.0.") + name);
  }
  // The same state with its indices in a strided view loads.
  auto s4 = st;
  s4["param_groups.0.params"] =
      tensor({0, -7, 1, -7}, {4}, DType::i64).slice(0, 0, std::nullopt, 2);
  ASSERT_FALSE(s4["param_groups.0.params"].is_contiguous());
  EXPECT_NO_THROW(a.load_state_dict(s4));
  // A schedule's epoch at the end of int64: its next step would overflow.
  optim::StepLR sched(a, 2);
  auto s5 = sched.state_dict();
  s5["last_epoch"] = last;
  EXPECT_THROW(sched.load_state_dict(s5), ValueError);
  EXPECT_EQ(sched.last_epoch(), 0);
  // Its base lrs: the groups' lr after the next step, so never NaN or negative.
  for (double bad : {std::nan(""), -1.0}) {
    auto s6 = sched.state_dict();
    s6["base_lrs"] = tensor({bad}, {1}, DType::f64);
    EXPECT_THROW(sched.load_state_dict(s6), ValueError);
    EXPECT_EQ(sched.base_lrs()[0], 0.1);
  }
}

// An epoch number the iterator cannot count past is refused, the iterator left as it was.
TEST(Checkpoint, StartEpochRefusesTheLastInt64) {
  data::BatchIterator it(arange(6).reshape({6, 1}), arange(6, DType::i64), 2, true, 7);
  it.start_epoch(3);
  EXPECT_THROW(it.start_epoch(std::numeric_limits<int64_t>::max()), ValueError);
  EXPECT_THROW(it.start_epoch(-1), ValueError);
  EXPECT_EQ(it.epoch(), 3);
}

// The optimizer-wide options travel in the state_dict ("options.NAME"): a state saved by an
// optimizer with other options (another eps, amsgrad, nesterov; Adam's into AdamW) is refused
// naming the option, where it would otherwise update differently without a word; a state
// without them (written before they existed) still loads.
TEST(Optim, StateDictOptionsMustMatch) {
  auto params = [] {
    Tensor w = randn({3, 2}, 11).requires_grad_();
    return std::vector<Tensor>{w};
  };
  auto stepped = [](optim::Optimizer& opt) {
    Tensor w = opt.params()[0];
    (w * w).sum().backward();
    opt.step();
    return opt.state_dict();
  };
  auto refused = [](optim::Optimizer& opt, const std::map<std::string, Tensor>& state,
                    const std::string& option) {
    const std::map<std::string, Tensor> before = opt.state_dict();
    try {
      opt.load_state_dict(state);
      ADD_FAILURE() << "loaded a state with another '" << option << "'";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("options." + option), std::string::npos) << e.what();
    }
    EXPECT_EQ(opt.state_dict().size(), before.size());  // nothing changed
  };
  optim::Adam adam(params(), optim::AdamOptions(1e-2).eps(1e-6));
  const auto adam_state = stepped(adam);
  ASSERT_EQ(adam_state.count("options.eps"), 1u);
  EXPECT_EQ(adam_state.at("options.eps").item(), 1e-6);
  optim::Adam other_eps(params(), optim::AdamOptions(1e-2).eps(1e-8));
  refused(other_eps, adam_state, "eps");
  optim::Adam ams(params(), optim::AdamOptions(1e-2).eps(1e-6).amsgrad(true));
  refused(ams, adam_state, "amsgrad");
  optim::AdamW adamw(params(), optim::AdamWOptions(1e-2).eps(1e-6));
  refused(adamw, adam_state, "decoupled");
  optim::Adam same(params(), optim::AdamOptions(1e-2).eps(1e-6));
  same.load_state_dict(adam_state);  // the same options: loads
  std::map<std::string, Tensor> old = adam_state;
  for (auto it = old.begin(); it != old.end();)
    it = it->first.rfind("options.", 0) == 0 ? old.erase(it) : std::next(it);
  other_eps.load_state_dict(old);  // no options recorded: taken as it is

  optim::SGD sgd(params(), optim::SGDOptions(0.1).momentum(0.9).nesterov(true));
  optim::SGD plain(params(), optim::SGDOptions(0.1).momentum(0.9));
  refused(plain, stepped(sgd), "nesterov");
  optim::RMSprop rms(params(), optim::RMSpropOptions(0.01).alpha(0.9));
  optim::RMSprop rms2(params(), optim::RMSpropOptions(0.01));
  refused(rms2, stepped(rms), "alpha");
  optim::Adagrad ada(params(), optim::AdagradOptions(0.1).lr_decay(0.01));
  optim::Adagrad ada2(params(), optim::AdagradOptions(0.1));
  refused(ada2, stepped(ada), "lr_decay");
  std::map<std::string, Tensor> unknown = adam_state;
  unknown["options.betas"] = scalar(0.5, DType::f64);
  refused(same, unknown, "betas");
}
