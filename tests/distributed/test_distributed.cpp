// ndgrad::distributed under mpirun (2 and 3 ranks, tests/distributed/CMakeLists.txt): the
// collectives on every dtype, checking mode, DistributedDataParallel against one process with
// the global batch, bit-identical parameters after every step, and checkpoints on rank 0 only.
// With NDGRAD_TEST_FAULT=hang|kill|throw it runs one fault scenario instead (fault.cmake
// checks how the job ends).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ndgrad/checkpoint.hpp"
#include "ndgrad/data.hpp"
#include "ndgrad/distributed.hpp"
#include "ndgrad/ndgrad.hpp"

using namespace ndgrad;
namespace dist = ndgrad::distributed;

namespace {

// Rank r's values for a test tensor: distinct per rank and element, exact in every dtype.
Tensor rank_values(const Shape& shape, DType dtype, int r) {
  const int64_t n = [&] {
    int64_t k = 1;
    for (int64_t s : shape) k *= s;
    return k;
  }();
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t x = (i * 7 + r * 13) % 23;
    v[size_t(i)] = dtype == DType::boolean ? double((i + r) % 3 == 0)
                   : dtype == DType::u8    ? double(x)
                                           : double(x - 11);
  }
  return tensor(v, shape, DType::f64).to(dtype);
}

const std::vector<DType> kAllDtypes = {DType::f32,     DType::f64, DType::i64,
                                       DType::boolean, DType::i32, DType::u8,
                                       DType::i8,      DType::f16, DType::bf16};

// A (3, 4) tensor seen through its transpose: not contiguous.
Tensor strided(const Tensor& t43) { return t43.T(); }

void expect_equal_values(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  const auto a = got.to_vector(), b = want.to_vector();
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << what << " at " << i;
}

// Every rank's copy of t is the same bits (rank 0's).
void expect_same_on_every_rank(const Tensor& t, const std::string& what) {
  const Tensor all = dist::all_gather(t.detach().contiguous());
  const int64_t bytes = t.numel() * itemsize(t.dtype());
  const Tensor f = all.to(DType::f64).contiguous();
  const double* p = f.data_ptr<double>();
  const int64_t n = t.numel();
  for (int r = 1; r < dist::world_size(); ++r)
    ASSERT_EQ(std::memcmp(p, p + r * n, size_t(n) * sizeof(double)), 0)
        << what << ": rank " << r << " differs from rank 0 (" << bytes << " bytes)";
}

}  // namespace

TEST(Collectives, AllReduceEveryDtypeOpAndLayout) {
  const int w = dist::world_size(), me = dist::rank();
  for (DType d : kAllDtypes)
    for (dist::ReduceOp op :
         {dist::ReduceOp::sum, dist::ReduceOp::max, dist::ReduceOp::min, dist::ReduceOp::mean})
      for (bool contiguous : {true, false}) {
        if (op == dist::ReduceOp::mean && !is_floating(d)) continue;
        const std::string what = std::string(dtype_name(d)) + " " + dist::reduce_op_name(op) +
                                 (contiguous ? " contiguous" : " strided");
        // Expected: the reduction of every rank's values, in float64, then in d.
        Tensor want = rank_values({3, 4}, d, 0).to(DType::f64);
        for (int r = 1; r < w; ++r) {
          const Tensor v = rank_values({3, 4}, d, r).to(DType::f64);
          want = op == dist::ReduceOp::max   ? maximum(want, v)
                 : op == dist::ReduceOp::min ? minimum(want, v)
                                             : want + v;
        }
        if (op == dist::ReduceOp::mean) want = want / double(w);
        if (d == DType::boolean) want = want.to(DType::boolean);
        want = want.to(d);
        Tensor t = rank_values({3, 4}, d, me);
        Tensor view = contiguous ? t : strided(t.T().contiguous());
        const Tensor expected = contiguous ? want : want.T().contiguous().T();
        dist::all_reduce(view, op);
        if (is_floating(d) && op != dist::ReduceOp::max && op != dist::ReduceOp::min) {
          const double tol = (d == DType::f16 || d == DType::bf16) ? 0.05 : 1e-6;
          const auto a = view.to_vector(), b = expected.to_vector();
          for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol) << what;
        } else {
          expect_equal_values(view.contiguous(), expected.contiguous(), what);
        }
        expect_same_on_every_rank(view, what);
      }
}

TEST(Collectives, ContiguousTensorsAreReducedInTheirOwnMemory) {
  Tensor t = rank_values({1000}, DType::f32, dist::rank());
  const float* before = t.data_ptr<float>();
  dist::all_reduce(t);
  EXPECT_EQ(t.data_ptr<float>(), before);
  Tensor b = rank_values({1000}, DType::f64, dist::rank());
  const double* bp = b.data_ptr<double>();
  dist::broadcast(b, dist::world_size() - 1);
  EXPECT_EQ(b.data_ptr<double>(), bp);
}

TEST(Collectives, BroadcastAllGatherReduceScatterEveryDtype) {
  const int w = dist::world_size(), me = dist::rank();
  for (DType d : kAllDtypes) {
    const std::string what = dtype_name(d);
    for (int root : {0, w - 1}) {
      Tensor t = rank_values({3, 4}, d, me);
      dist::broadcast(t, root);
      expect_equal_values(t, rank_values({3, 4}, d, root), what + " broadcast");
      Tensor s = rank_values({4, 3}, d, me).T();  // strided
      dist::broadcast(s, root);
      expect_equal_values(s.contiguous(), rank_values({4, 3}, d, root).T().contiguous(),
                          what + " strided broadcast");
    }
    const Tensor g = dist::all_gather(rank_values({2, 3}, d, me).T());
    ASSERT_EQ(g.shape(), (Shape{w, 3, 2}));
    for (int r = 0; r < w; ++r)
      expect_equal_values(g.select(0, r).contiguous(), rank_values({2, 3}, d, r).T().contiguous(),
                          what + " all_gather");
    if (d == DType::boolean) continue;
    const Tensor rs = dist::reduce_scatter(rank_values({2 * w, 3}, d, me), dist::ReduceOp::max);
    Tensor want = rank_values({2 * w, 3}, d, 0).to(DType::f64);
    for (int r = 1; r < w; ++r) want = maximum(want, rank_values({2 * w, 3}, d, r).to(DType::f64));
    expect_equal_values(rs, want.slice(0, 2 * me, 2 * me + 2).to(d).contiguous(),
                        what + " reduce_scatter");
  }
  dist::barrier();
}

TEST(Collectives, BadArgumentsFailOnEveryRankBeforeSending) {
  Tensor p = randn({3}, 1).requires_grad_();
  EXPECT_THROW(dist::all_reduce(p), AutogradError);
  Tensor i = arange(4, DType::i64);
  EXPECT_THROW(dist::all_reduce(i, dist::ReduceOp::mean), DTypeError);
  Tensor view = randn({1, 4}, 2).broadcast_to({3, 4});
  EXPECT_THROW(dist::all_reduce(view), ValueError);
  EXPECT_THROW(dist::broadcast(i, dist::world_size()), ValueError);
  EXPECT_THROW(dist::reduce_scatter(randn({dist::world_size() + 1, 2}, 3)), ShapeError);
  Tensor undefined;
  EXPECT_THROW(dist::all_reduce(undefined), ValueError);
  // Nothing was sent: the ranks are still in step.
  Tensor t = full({2}, 1.0);
  dist::all_reduce(t);
  EXPECT_EQ(t.item({0}), dist::world_size());
}

TEST(Collectives, CheckingModeNamesEachRanksTensor) {
  const dist::Options saved = dist::options();
  dist::Options o = saved;
  o.check = true;
  dist::set_options(o);
  Tensor t = zeros({3, dist::rank() == 0 ? 4 : 5});
  try {
    dist::all_reduce(t);
    ADD_FAILURE() << "no error for different shapes";
  } catch (const dist::DistributedError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("rank 0 passes f32 (3,4)"), std::string::npos) << m;
    EXPECT_NE(m.find("rank 1 passes f32 (3,5)"), std::string::npos) << m;
  }
  Tensor u = zeros({3}, dist::rank() == 0 ? DType::f32 : DType::f64);
  EXPECT_THROW(dist::broadcast(u), dist::DistributedError);
  Tensor same = full({3}, 2.0);
  dist::all_reduce(same);  // agreeing ranks go through
  EXPECT_EQ(same.item({1}), 2.0 * dist::world_size());
  dist::set_options(saved);
}

// ---- DistributedDataParallel ----

namespace {

std::shared_ptr<nn::Sequential> mlp(uint64_t seed) {
  auto m = std::make_shared<nn::Sequential>();
  m->push_back(std::make_shared<nn::Linear>(6, 16, seed + 1));
  m->push_back(std::make_shared<nn::ReLU>());
  m->push_back(std::make_shared<nn::Linear>(16, 12, seed + 2));
  m->push_back(std::make_shared<nn::ReLU>());
  m->push_back(std::make_shared<nn::Linear>(12, 4, seed + 3));
  return m;
}

struct Data {
  Tensor x, y;
};
Data dataset(int64_t n, uint64_t seed) {
  Data d;
  d.x = randn({n, 6}, seed);
  d.y = (randn({n}, seed + 1) * 2.0 + 2.0).clamp(0.0, 3.0).to(DType::i64);
  return d;
}

}  // namespace

TEST(DDP, ConstructionGivesEveryRankRankZerosParameters) {
  auto model = mlp(100 + uint64_t(dist::rank()));  // different on each rank
  dist::DistributedDataParallel ddp(model);
  const auto reference = mlp(100);
  const auto mine = model->parameters(), ref = reference->parameters();
  for (size_t i = 0; i < mine.size(); ++i) {
    expect_equal_values(mine[i], ref[i], "parameter " + std::to_string(i));
    expect_same_on_every_rank(mine[i], "parameter " + std::to_string(i));
  }
  EXPECT_EQ(ddp.named_parameters().front().first.rfind("module.", 0), 0u);
}

TEST(DDP, GradientsAreTheAverageOverRanksUnderARandomUpstream) {
  const int w = dist::world_size(), me = dist::rank();
  auto model = mlp(7);
  dist::DDPOptions options;
  options.bucket_cap_mb = 0.0004;  // ~100 floats: several buckets
  options.first_bucket_cap_mb = 0.0002;
  dist::DistributedDataParallel ddp(model, options);
  EXPECT_GE(ddp.bucket_names().size(), 3u);
  EXPECT_EQ(ddp.bucket_names().front().front(), "module.4.bias");  // the last layer's first
  // Rank r's loss: a random upstream over its own inputs.
  auto loss_of = [&](nn::Module& m, int r) {
    const Tensor x = randn({5, 6}, 1000 + uint64_t(r)), up = randn({5, 4}, 2000 + uint64_t(r));
    return (m(x) * up).sum();
  };
  loss_of(ddp, me).backward();
  // Expected: the mean of every rank's gradient, computed here on a copy.
  auto copy = mlp(7);
  std::vector<Tensor> want;
  for (int r = 0; r < w; ++r) {
    const auto g = grad(loss_of(*copy, r), copy->parameters());
    if (want.empty())
      want = g;
    else
      for (size_t i = 0; i < g.size(); ++i) want[i] = want[i] + g[i];
  }
  const auto params = model->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const auto a = params[i].grad().to_vector(), b = (want[i] / double(w)).to_vector();
    for (size_t k = 0; k < a.size(); ++k) ASSERT_NEAR(a[k], b[k], 1e-5) << "parameter " << i;
    expect_same_on_every_rank(params[i].grad(), "gradient " + std::to_string(i));
  }
  EXPECT_EQ(ddp.stats().steps, 1);
  EXPECT_EQ(ddp.stats().buckets, int64_t(ddp.bucket_names().size()));
}

TEST(DDP, ABucketIsSentWhileBackwardStillRuns) {
  auto model = mlp(3);
  dist::DDPOptions options;
  options.first_bucket_cap_mb = 0.0003;  // the last layers' gradients alone
  dist::DistributedDataParallel ddp(model, options);
  ASSERT_GE(ddp.bucket_names().size(), 2u);
  int64_t sent_before_first_layer = -1;
  model->parameters().front().register_post_accumulate_grad_hook(
      [&](const Tensor&) { sent_before_first_layer = ddp.stats().buckets; });
  (ddp(randn({8, 6}, 5)) * randn({8, 4}, 6)).sum().backward();
  EXPECT_GE(sent_before_first_layer, 1);  // the first bucket went out before backward's end
}

TEST(DDP, AProgressThreadGivesTheSameBits) {
  const int me = dist::rank();
  std::vector<std::vector<double>> grads[2];
  for (bool thread : {false, true}) {
    auto model = mlp(31);
    dist::DDPOptions options;
    options.first_bucket_cap_mb = 0.0003;  // two buckets at least: one is sent mid-backward
    options.progress_thread = thread;
    dist::DistributedDataParallel ddp(model, options);
    for (int step = 0; step < 3; ++step)
      (ddp(randn({8, 6}, 90 + uint64_t(me * 7 + step))) * randn({8, 4}, 95 + uint64_t(step)))
          .sum()
          .backward();
    for (const Tensor& p : model->parameters()) grads[thread].push_back(p.grad().to_vector());
  }
  EXPECT_EQ(grads[0], grads[1]);
}

TEST(DDP, AFailedBackwardDoesNotLeaveTheNextStepUnreduced) {
  const int w = dist::world_size(), me = dist::rank();
  auto model = mlp(41);
  dist::DDPOptions options;
  options.first_bucket_cap_mb = 0.0003;  // bucket 0 goes out before the first layer is done
  dist::DistributedDataParallel ddp(model, options);
  bool fail = true;
  model->parameters().front().register_post_accumulate_grad_hook([&](const Tensor&) {
    if (fail) throw ValueError("a hook fails on every rank");
  });
  EXPECT_THROW((ddp(randn({4, 6}, 1)) * randn({4, 4}, 2)).sum().backward(), ValueError);
  fail = false;
  model->zero_grad();
  auto loss_of = [&](nn::Module& m, int r) {
    return (m(randn({4, 6}, 500 + uint64_t(r))) * randn({4, 4}, 600 + uint64_t(r))).sum();
  };
  loss_of(ddp, me).backward();
  auto copy = mlp(41);
  Tensor want = zeros(copy->parameters()[2].shape());
  for (int r = 0; r < w; ++r) want = want + grad(loss_of(*copy, r), {copy->parameters()[2]})[0];
  const auto got = model->parameters()[2].grad().to_vector(), e = (want / double(w)).to_vector();
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], e[i], 1e-5);
}

TEST(DDP, TrainingMatchesOneProcessWithTheGlobalBatchAndStaysBitIdentical) {
  const int w = dist::world_size(), me = dist::rank();
  const Data d = dataset(203, 11);  // 203: the last global batch is short
  const int64_t per_rank = 8;
  auto model = mlp(21);
  dist::DistributedDataParallel ddp(model);
  optim::SGD opt(ddp.parameters(), optim::SGDOptions(0.05).momentum(0.9).weight_decay(1e-4));
  data::BatchIterator batches(d.x, d.y, per_rank, true, 5, data::Shard{me, w});
  // One process with the global batch, here on every rank.
  auto single = mlp(21);
  optim::SGD single_opt(single->parameters(),
                        optim::SGDOptions(0.05).momentum(0.9).weight_decay(1e-4));
  data::BatchIterator global(d.x, d.y, per_rank * w, true, 5);
  int steps = 0;
  for (int epoch = 0; epoch < 2; ++epoch) {
    Tensor x, y, gx, gy;
    while (batches.next(x, y)) {
      ASSERT_TRUE(global.next(gx, gy));
      opt.zero_grad();
      nn::cross_entropy(ddp(x), y).backward();
      opt.step();
      single_opt.zero_grad();
      // The global batch's mean loss is the mean of the ranks' means when the shards are equal;
      // the last short batch splits unevenly, weighted as the ranks' means are.
      Tensor loss;
      {
        std::vector<Tensor> parts;
        for (int r = 0; r < w; ++r) {
          const int64_t L = gx.size(0), lo = r * L / w, hi = (r + 1) * L / w;
          if (hi > lo)
            parts.push_back(nn::cross_entropy((*single)(gx.slice(0, lo, hi)), gy.slice(0, lo, hi)));
        }
        loss = parts[0];
        for (size_t i = 1; i < parts.size(); ++i) loss = loss + parts[i];
        loss = loss / double(w);
      }
      loss.backward();
      single_opt.step();
      ++steps;
      for (const Tensor& p : model->parameters())
        expect_same_on_every_rank(p, "step " + std::to_string(steps));
    }
    EXPECT_FALSE(global.next(gx, gy));
  }
  const auto a = model->parameters(), b = single->parameters();
  for (size_t i = 0; i < a.size(); ++i) {
    const auto va = a[i].to_vector(), vb = b[i].to_vector();
    for (size_t k = 0; k < va.size(); ++k) ASSERT_NEAR(va[k], vb[k], 2e-4) << "parameter " << i;
  }
  const int64_t global_batch = per_rank * w;
  EXPECT_EQ(steps, 2 * ((203 + global_batch - 1) / global_batch));
}

TEST(DDP, ParametersWithoutAGradientOnSomeRanksCountAsZero) {
  const int w = dist::world_size(), me = dist::rank();
  // Two heads; rank 0 uses only head a, the others both. Head c is used by no rank.
  auto trunk = std::make_shared<nn::Linear>(6, 5, 1);
  auto a = std::make_shared<nn::Linear>(5, 2, 2), b = std::make_shared<nn::Linear>(5, 2, 3),
       c = std::make_shared<nn::Linear>(5, 2, 4);
  struct Net : nn::Module {
    std::shared_ptr<nn::Linear> trunk, a, b, c;
    bool use_b = true;
    Net(std::shared_ptr<nn::Linear> t, std::shared_ptr<nn::Linear> a_,
        std::shared_ptr<nn::Linear> b_, std::shared_ptr<nn::Linear> c_)
        : trunk(register_module("trunk", t)),
          a(register_module("a", a_)),
          b(register_module("b", b_)),
          c(register_module("c", c_)) {}
    Tensor forward(const Tensor& x) override {
      const Tensor h = relu((*trunk)(x));
      return use_b ? (*a)(h) + (*b)(h) : (*a)(h);
    }
  };
  auto net = std::make_shared<Net>(trunk, a, b, c);
  net->use_b = me != 0;
  dist::DistributedDataParallel ddp(net);
  const Tensor x = randn({4, 6}, 50 + uint64_t(me)), up = randn({4, 2}, 60 + uint64_t(me));
  (ddp(x) * up).sum().backward();
  // b's gradient: the others' sum over w ranks (rank 0 gave zeros).
  Net copy(std::make_shared<nn::Linear>(6, 5, 1), std::make_shared<nn::Linear>(5, 2, 2),
           std::make_shared<nn::Linear>(5, 2, 3), std::make_shared<nn::Linear>(5, 2, 4));
  Tensor want = zeros(b->weight.shape());
  for (int r = 1; r < w; ++r) {
    copy.use_b = true;
    want =
        want + grad((copy(randn({4, 6}, 50 + uint64_t(r))) * randn({4, 2}, 60 + uint64_t(r))).sum(),
                    {copy.b->weight})[0];
  }
  const auto got = b->weight.grad().to_vector(), expected = (want / double(w)).to_vector();
  for (size_t k = 0; k < got.size(); ++k) ASSERT_NEAR(got[k], expected[k], 1e-5);
  EXPECT_FALSE(c->weight.grad().defined());  // no rank used c: left as it was
  for (const Tensor& p : {trunk->weight, a->weight, b->weight})
    expect_same_on_every_rank(p.grad(), "gradient");
}

TEST(DDP, GradientAccumulationWithoutSyncThenOneReduction) {
  const int w = dist::world_size(), me = dist::rank();
  auto model = mlp(9);
  dist::DistributedDataParallel ddp(model);
  auto loss_of = [&](nn::Module& m, int r, int k) {
    return (m(randn({3, 6}, 300 + uint64_t(10 * r + k))) *
            randn({3, 4}, 400 + uint64_t(10 * r + k)))
        .sum();
  };
  ddp.set_gradient_sync(false);
  loss_of(ddp, me, 0).backward();
  EXPECT_EQ(ddp.stats().steps, 0);
  ddp.set_gradient_sync(true);
  loss_of(ddp, me, 1).backward();
  EXPECT_EQ(ddp.stats().steps, 1);
  auto copy = mlp(9);
  Tensor want = zeros(copy->parameters()[0].shape());
  for (int r = 0; r < w; ++r)
    for (int k = 0; k < 2; ++k)
      want = want + grad(loss_of(*copy, r, k), {copy->parameters()[0]})[0];
  const auto got = model->parameters()[0].grad().to_vector(), e = (want / double(w)).to_vector();
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], e[i], 1e-5);
}

TEST(DDP, BuffersFollowRankZeroAndModelsMustAgree) {
  const int me = dist::rank();
  // A buffer the forward reads: each rank changes its own between steps (as batch norm's
  // running statistics do); the next forward in training mode uses rank 0's everywhere.
  struct Shifted : nn::Module {
    Tensor weight, shift;
    Shifted() {
      weight = register_parameter("weight", randn({3, 3}, 4));
      shift = register_buffer("shift", zeros({3}));
    }
    Tensor forward(const Tensor& x) override { return matmul(x, weight) + shift; }
  };
  auto model = std::make_shared<Shifted>();
  dist::DistributedDataParallel ddp(model);
  for (int step = 1; step <= 3; ++step) {
    {
      NoGradGuard no_grad;
      model->shift.copy_(full({3}, double(step * 10 + me)));
    }
    const Tensor y = ddp(ones({2, 3}));
    expect_equal_values(model->shift, full({3}, double(step * 10)), "buffer");
    expect_same_on_every_rank(y, "output");
    y.sum().backward();
  }
  model->eval();  // in evaluation mode each rank keeps its own
  {
    NoGradGuard no_grad;
    model->shift.copy_(full({3}, double(me)));
  }
  (void)ddp(ones({2, 3}));
  EXPECT_EQ(model->shift.item({0}), double(me));
  // Another model on one rank: refused on every rank.
  auto other = std::make_shared<nn::Sequential>();
  other->push_back(std::make_shared<nn::Linear>(6, me == 0 ? 5 : 7, 1));
  EXPECT_THROW(dist::DistributedDataParallel bad(other), dist::DistributedError);
}

TEST(Checkpoint, OnlyRankZeroWritesUnlessAsked) {
  const std::string path = "/tmp/ndgrad_dist_ckpt_" + std::to_string(getpid()) + ".npz";
  auto model = mlp(1);
  TrainingState s;
  s.model = model.get();
  save_checkpoint(path, s);
  EXPECT_EQ(std::ifstream(path).good(), dist::rank() == 0);
  std::remove(path.c_str());
  s.every_rank = true;
  save_checkpoint(path, s);
  EXPECT_TRUE(std::ifstream(path).good());
  std::remove(path.c_str());
  EXPECT_EQ(process_rank(), dist::rank());
}

// ---- fault scenarios (NDGRAD_TEST_FAULT) ----

namespace {

int fault(const std::string& kind, int* argc, char*** argv) {
  try {
    dist::Environment env(argc, argv);
    Tensor t = full({1024}, 1.0);
    dist::all_reduce(t);  // everyone is up
    if (env.rank() == 1) {
      if (kind == "kill") raise(SIGKILL);
      if (kind == "hang") std::this_thread::sleep_for(std::chrono::seconds(120));
      if (kind == "throw") throw std::runtime_error("rank 1 fails in the middle of training");
    }
    dist::all_reduce(t);  // rank 1 never comes
    std::printf("rank %d: the second all_reduce completed\n", env.rank());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "caught: %s\n", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* kind = std::getenv("NDGRAD_TEST_FAULT")) return fault(kind, &argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  dist::Environment env(&argc, &argv);
  if (env.rank() != 0) GTEST_FLAG_SET(brief, true);  // the other ranks print their failures
  const int rc = RUN_ALL_TESTS();
  // A failure on any rank fails every rank's exit status.
  Tensor failed = full({1}, double(rc != 0));
  dist::all_reduce(failed, dist::ReduceOp::max);
  if (failed.item() != 0 && env.rank() == 0 && rc == 0)
    std::fprintf(stderr, "a test failed on another rank\n");
  return failed.item() != 0 ? 1 : 0;
}
