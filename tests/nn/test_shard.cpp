// Sharded BatchIterator (data-parallel training): each rank's batches are its part of the
// single process's batches of size batch_size * world_size, epoch by epoch, with no
// communication between ranks.
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include "test_util.hpp"

using namespace ndgrad;

namespace {

using Rows = std::vector<int64_t>;

// Rows identifiable by value: inputs (n, 1) f32 and labels i64, both 0..n-1.
data::BatchIterator make(int64_t n, int64_t batch, bool shuffle, data::Shard shard = {}) {
  return data::BatchIterator(arange(n).reshape({n, 1}), arange(n, DType::i64), batch, shuffle, 11,
                             shard);
}

// The rows of one batch, checking that inputs and labels agree.
Rows rows_of(const Tensor& x, const Tensor& y) {
  Rows out;
  const std::vector<double> xs = x.to_vector(), ys = y.to_vector();
  EXPECT_EQ(xs.size(), ys.size());
  EXPECT_EQ(x.ndim(), 2);
  for (size_t i = 0; i < ys.size(); ++i) {
    EXPECT_EQ(xs[i], ys[i]);
    out.push_back(static_cast<int64_t>(ys[i]));
  }
  return out;
}

// One epoch's batches, in order.
std::vector<Rows> epoch_of(data::BatchIterator& it) {
  std::vector<Rows> out;
  Tensor x, y;
  while (it.next(x, y)) out.push_back(rows_of(x, y));
  return out;
}

std::vector<data::BatchIterator> ranks(int64_t n, int64_t batch, int64_t world, bool shuffle) {
  std::vector<data::BatchIterator> out;
  for (int64_t r = 0; r < world; ++r) out.push_back(make(n, batch, shuffle, {r, world}));
  return out;
}

// The part [floor(r L / W), floor((r + 1) L / W)) of a global batch of L rows.
int64_t split(int64_t r, int64_t len, int64_t world) { return r * len / world; }

}  // namespace

// Per step, the ranks' batches concatenated by rank are the single process's batch of size
// batch * world (where no rank is padded), over several epochs, shuffled or not.
TEST(ShardBatchIterator, RanksTogetherServeTheSingleProcessBatches) {
  for (int64_t world : {1, 2, 3, 4})
    for (int64_t n : {10, 11, 97, 3})
      for (int64_t batch : {1, 2, 3, 5, 16})
        for (bool shuffle : {true, false}) {
          SCOPED_TRACE("world " + std::to_string(world) + " n " + std::to_string(n) + " batch " +
                       std::to_string(batch) + " shuffle " + std::to_string(shuffle));
          data::BatchIterator single = make(n, batch * world, shuffle);
          std::vector<data::BatchIterator> its = ranks(n, batch, world, shuffle);
          for (int epoch = 0; epoch < 3; ++epoch) {
            const std::vector<Rows> want = epoch_of(single);
            std::vector<std::vector<Rows>> got;
            for (auto& it : its) got.push_back(epoch_of(it));
            for (int64_t r = 0; r < world; ++r) ASSERT_EQ(got[r].size(), want.size());
            for (size_t step = 0; step < want.size(); ++step) {
              const int64_t len = static_cast<int64_t>(want[step].size());
              Rows joined;
              for (int64_t r = 0; r < world; ++r) {
                if (len < world && split(r, len, world) == split(r + 1, len, world)) continue;
                joined.insert(joined.end(), got[r][step].begin(), got[r][step].end());
              }
              EXPECT_EQ(joined, want[step]) << "epoch " << epoch << " step " << step;
              if (len == batch * world) {
                for (int64_t r = 0; r < world; ++r)
                  EXPECT_EQ(static_cast<int64_t>(got[r][step].size()), batch);
              }
            }
          }
        }
}

// An epoch's shards are disjoint and cover every row once; when the last global batch has
// fewer rows than ranks, the ranks without a part get one row each, (cursor + rank) mod n of
// the epoch's order.
TEST(ShardBatchIterator, ShardsAreDisjointAndCoverEveryRowOnce) {
  for (int64_t world : {2, 3, 4, 7})
    for (int64_t n : {1, 2, 5, 10, 11, 97})
      for (int64_t batch : {1, 2, 4, 100}) {
        SCOPED_TRACE("world " + std::to_string(world) + " n " + std::to_string(n) + " batch " +
                     std::to_string(batch));
        data::BatchIterator single = make(n, 1, true);  // the global order, one row a batch
        std::vector<data::BatchIterator> its = ranks(n, batch, world, true);
        for (int epoch = 0; epoch < 2; ++epoch) {
          Rows order;
          for (const Rows& b : epoch_of(single)) order.push_back(b[0]);
          std::vector<std::vector<Rows>> got;
          for (auto& it : its) got.push_back(epoch_of(it));
          std::multiset<int64_t> seen;
          int64_t cursor = 0;
          for (size_t step = 0; step < got[0].size(); ++step) {
            const int64_t len = std::min(batch * world, n - cursor);
            for (int64_t r = 0; r < world; ++r) {
              const Rows& part = got[r][step];
              if (split(r, len, world) == split(r + 1, len, world)) {  // padded
                ASSERT_LT(len, world);
                ASSERT_EQ(part, Rows{order[(cursor + r) % n]});
              } else {
                seen.insert(part.begin(), part.end());
              }
            }
            cursor += len;
          }
          EXPECT_EQ(cursor, n);
          EXPECT_EQ(seen.size(), static_cast<size_t>(n));
          for (int64_t row = 0; row < n; ++row) EXPECT_EQ(seen.count(row), 1u) << "row " << row;
        }
      }
}

// All ranks step together: the same num_batches() (ceil(n / (batch * world))), and a
// non-empty batch at every step, whether by next() or by a range-for.
TEST(ShardBatchIterator, EveryRankHasTheSameNonEmptySteps) {
  for (int64_t world : {1, 2, 3, 4, 5})
    for (int64_t n : {1, 3, 10, 11, 97})
      for (int64_t batch : {1, 3, 8}) {
        SCOPED_TRACE("world " + std::to_string(world) + " n " + std::to_string(n) + " batch " +
                     std::to_string(batch));
        const int64_t g = batch * world, want = (n + g - 1) / g;
        for (int64_t r = 0; r < world; ++r) {
          data::BatchIterator it = make(n, batch, true, {r, world});
          EXPECT_EQ(it.num_batches(), want);
          EXPECT_EQ(it.num_samples(), n);
          EXPECT_EQ(it.shard().rank, r);
          EXPECT_EQ(it.shard().world_size, world);
          for (int epoch = 0; epoch < 2; ++epoch) {
            int64_t steps = 0;
            for (auto [x, y] : it) {
              EXPECT_GE(y.numel(), 1);
              EXPECT_LE(y.numel(), batch);
              EXPECT_EQ(x.shape()[0], y.numel());
              ++steps;
            }
            EXPECT_EQ(steps, want);
          }
        }
      }
  // No rows: no steps, on every rank.
  data::BatchIterator none = make(0, 4, true, {1, 3});
  EXPECT_EQ(none.num_batches(), 0);
  Tensor x, y;
  EXPECT_FALSE(none.next(x, y));
}

// A batch size whose global batch overflows int64 is one batch of all the rows.
TEST(ShardBatchIterator, HugeBatchSizesDoNotOverflow) {
  const int64_t huge = std::numeric_limits<int64_t>::max() / 2;
  for (int64_t r = 0; r < 4; ++r) {
    data::BatchIterator it = make(10, huge, true, {r, 4});
    EXPECT_EQ(it.num_batches(), 1);
    const std::vector<Rows> batches = epoch_of(it);
    ASSERT_EQ(batches.size(), 1u);
    EXPECT_EQ(static_cast<int64_t>(batches[0].size()), split(r + 1, 10, 4) - split(r, 10, 4));
  }
}

TEST(ShardBatchIterator, BadRankOrWorldSizeIsAValueError) {
  const std::vector<data::Shard> bad = {{0, 0}, {0, -1}, {-1, 2}, {2, 2}, {5, 3}};
  for (const data::Shard& s : bad)
    ndgrad::testing::expect_error<ValueError>([&] { make(10, 2, true, s); },
                                              {"BatchIterator", "rank " + std::to_string(s.rank),
                                               "world_size " + std::to_string(s.world_size)});
  EXPECT_NO_THROW(make(10, 2, true, {2, 3}));
  // The five-argument constructor is the one-rank shard.
  data::BatchIterator plain(arange(5).reshape({5, 1}), arange(5, DType::i64), 2, true, 11);
  EXPECT_EQ(plain.shard().rank, 0);
  EXPECT_EQ(plain.shard().world_size, 1);
}

// start_epoch(k) gives every rank epoch k's order: the ranks' batches still join into the
// single process's epoch k, whatever epochs each rank went through before.
TEST(ShardBatchIterator, StartEpochAgreesAcrossRanks) {
  const int64_t n = 23, batch = 2, world = 3;
  data::BatchIterator single = make(n, batch * world, true);
  std::vector<data::BatchIterator> its = ranks(n, batch, world, true);
  epoch_of(its[1]);  // ranks at different places must not matter
  epoch_of(its[2]);
  epoch_of(its[2]);
  Tensor x, y;
  its[0].next(x, y);
  for (int64_t epoch : {5, 2, 0, 9}) {
    single.start_epoch(epoch);
    for (auto& it : its) it.start_epoch(epoch);
    const std::vector<Rows> want = epoch_of(single);
    for (auto& it : its) EXPECT_EQ(it.epoch(), epoch);
    std::vector<std::vector<Rows>> got;
    for (auto& it : its) got.push_back(epoch_of(it));
    for (size_t step = 0; step < want.size(); ++step) {
      Rows joined;
      for (int64_t r = 0; r < world; ++r)
        joined.insert(joined.end(), got[r][step].begin(), got[r][step].end());
      EXPECT_EQ(joined, want[step]) << "epoch " << epoch << " step " << step;
    }
  }
  // And the epoch after a restarted one follows on by itself, on every rank alike.
  std::vector<Rows> want = epoch_of(single);
  for (int64_t r = 0; r < world; ++r) {
    const std::vector<Rows> got = epoch_of(its[r]);
    ASSERT_EQ(got.size(), want.size());
    for (size_t step = 0; step < want.size(); ++step) {
      const int64_t len = static_cast<int64_t>(want[step].size());
      const Rows part(want[step].begin() + split(r, len, world),
                      want[step].begin() + split(r + 1, len, world));
      EXPECT_EQ(got[step], part);
    }
  }
}
