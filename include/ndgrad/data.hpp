#pragma once
// Data loading: IDX files (gzip'd or not), batching with a seeded shuffle, normalization.
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

// Rows of t (along axis 0) in the given order, as a new contiguous tensor.
Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& rows);

// (x - mean) / std, and the mean and standard deviation of all of x's elements.
Tensor standardize(const Tensor& x, double mean, double std);
std::pair<double, double> mean_std(const Tensor& x);

// Mini-batches of (inputs, labels) along axis 0; reshuffled at each epoch when shuffle is on,
// deterministically for a seed. The last batch may be smaller.
class BatchIterator {
 public:
  BatchIterator(Tensor inputs, Tensor labels, int64_t batch_size, bool shuffle, uint64_t seed);
  int64_t num_batches() const;
  int64_t num_samples() const { return n_; }
  // Begins a new epoch (a new order when shuffling).
  void start_epoch();
  // The next batch of this epoch; false when the epoch is done.
  bool next(Tensor& inputs, Tensor& labels);

 private:
  Tensor inputs_, labels_;
  int64_t n_, batch_size_, cursor_ = 0, epoch_ = 0;
  bool shuffle_;
  uint64_t seed_;
  std::vector<int64_t> order_;
};

}  // namespace ndgrad::data
