#pragma once
// Data loading: IDX files (gzip'd or not), batching with a seeded shuffle, normalization.
#include <cstddef>
#include <iterator>
#include <string>
#include <vector>

#include "ndgrad/tensor.hpp"

namespace ndgrad::data {

// Reads an IDX file (the MNIST format), gzip'd or plain, into a tensor of the given dtype with
// the file's shape. IOError on a missing file, a bad magic number or a truncated body.
Tensor load_idx(const std::string& path, DType dtype = DType::f32);

struct Dataset {
  Tensor images;  // (N, 784) f32, raw pixel values 0..255
  Tensor labels;  // (N) i64
};
// The MNIST-layout files in dir (train-images-idx3-ubyte[.gz], ...). IOError when a file is
// missing or the image and label counts disagree.
Dataset load_mnist_like(const std::string& dir, bool train);

// Rows of t (along axis 0) in the given order, as a new contiguous tensor: index_select(t, 0,
// rows), differentiable (negative rows count from the end; out of range is an IndexError).
Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& rows);

// (x - mean) / std, and the mean and standard deviation of all of x's elements.
Tensor standardize(const Tensor& x, double mean, double std);
std::pair<double, double> mean_std(const Tensor& x);

// One mini-batch: inputs and labels rows in the same order. `auto [x, y] = batch` works.
struct Batch {
  Tensor inputs, labels;
};

// Mini-batches of (inputs, labels) along axis 0; reshuffled at each epoch when shuffle is on,
// deterministically for a seed. The last batch may be smaller.
//
// Epochs follow one another on their own, in either of two styles:
//
//   for (int epoch = 0; epoch < 10; ++epoch)    // next(): false once at each epoch's end;
//     while (batches.next(x, y)) train(x, y);   // the call after that starts the next epoch
//
//   for (int epoch = 0; epoch < 10; ++epoch)    // a range-for serves the epoch in progress
//     for (auto [x, y] : batches) train(x, y);  // to its end, or the next epoch when the
//                                               // current one is finished
//
// Each new epoch is reshuffled exactly as start_epoch() would, so the orders are the same as
// when start_epoch() is called between epochs (which keeps working). A range-for left early
// (break) leaves the rest of its epoch to the next next() or range-for. Not thread-safe: one
// iterator serves one loop at a time.
//
// Sharded (data-parallel training, one iterator per rank, no communication): batch_size is
// the per-rank batch, G = batch_size * world_size the global one. Every rank computes the
// order a single process with the same seed would, epoch by epoch; at each step rank r takes
// rows [floor(r * L / W), floor((r + 1) * L / W)) of the next L = min(G, rows left) rows of
// that order (W = world_size). So the ranks' batches of a step, concatenated by rank, are the
// single process's batch of size G, and each row of an epoch goes to exactly one rank, except
// that when the last batch has fewer rows than there are ranks, a rank whose part would be
// empty gets one repeated row instead, row (cursor + r) mod n of the order (cursor: where the
// batch begins), wrapping to the epoch's start like PyTorch's DistributedSampler padding.
// Every rank has ceil(n / G) steps per epoch, none empty (for n > 0).
struct Shard {
  int64_t rank = 0;
  int64_t world_size = 1;
};

class BatchIterator {
 public:
  BatchIterator(Tensor inputs, Tensor labels, int64_t batch_size, bool shuffle, uint64_t seed);
  // This rank's shard of the batches (above); ValueError unless 0 <= rank < world_size.
  BatchIterator(Tensor inputs, Tensor labels, int64_t batch_size, bool shuffle, uint64_t seed,
                Shard shard);
  int64_t num_batches() const;                // per epoch, the same on every rank
  int64_t num_samples() const { return n_; }  // all ranks' together
  Shard shard() const { return shard_; }
  // Begins a new epoch now (a new order when shuffling), dropping the rest of the current one.
  void start_epoch();
  // Begins epoch number `epoch` now (counting the constructor's as 0): its order is a function
  // of the seed and that number alone, so a resumed loop gets the order an uninterrupted one
  // would have.
  void start_epoch(int64_t epoch);
  // The number of the epoch in progress.
  int64_t epoch() const { return epoch_ - 1; }
  // The next batch; false, once, when the epoch is done, and the call after that begins the
  // next epoch.
  bool next(Tensor& inputs, Tensor& labels);

  // The range-for's input iterator: each step calls next(); the end is the epoch's end.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = const Batch*;
    using reference = const Batch&;

    iterator() = default;  // the end
    const Batch& operator*() const { return batch_; }
    const Batch* operator->() const { return &batch_; }
    iterator& operator++() {
      if (!owner_->next(batch_.inputs, batch_.labels)) owner_ = nullptr;
      return *this;
    }
    bool operator==(const iterator& o) const { return owner_ == o.owner_; }
    bool operator!=(const iterator& o) const { return owner_ != o.owner_; }

   private:
    friend class BatchIterator;
    explicit iterator(BatchIterator* owner) : owner_(owner) { ++*this; }
    BatchIterator* owner_ = nullptr;
    Batch batch_;
  };
  // The rest of the epoch in progress, or a new epoch when the current one is finished.
  iterator begin();
  iterator end() { return iterator(); }

 private:
  Tensor inputs_, labels_;
  int64_t n_, batch_size_, cursor_ = 0, epoch_ = 0;
  int64_t global_batch_;  // min(batch_size_ * world_size, max(n_, 1)), without overflow
  Shard shard_;
  bool epoch_done_ = false;  // next() has returned false for the current epoch
  bool shuffle_;
  uint64_t seed_;
  std::vector<int64_t> order_;
};

}  // namespace ndgrad::data
