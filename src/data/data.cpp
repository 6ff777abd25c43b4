// IDX files (the MNIST format), gzip'd or plain, and mini-batching.
#include "ndgrad/data.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>

#include "core/random.hpp"
#include "core/shape.hpp"
#include "core/tensor_impl.hpp"
#include "core/thread_pool.hpp"
#include "kernels/cpu/dispatch.hpp"

namespace ndgrad::data {

namespace {

struct GzFile {
  gzFile f;
  ~GzFile() {
    if (f) gzclose(f);
  }
};

// Reads up to n bytes; the count actually read.
size_t gz_read(gzFile f, char* dst, size_t n, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    const int r = gzread(f, dst + done, chunk);
    if (r < 0) {
      int err;
      const char* msg = gzerror(f, &err);
      throw IOError("load_idx: '" + path + "' is corrupted: " + msg);
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

template <class S>
S big_endian(const unsigned char* p) {
  unsigned char raw[sizeof(S)];
  for (size_t i = 0; i < sizeof(S); ++i) raw[i] = p[sizeof(S) - 1 - i];
  S v;
  std::memcpy(&v, raw, sizeof(S));
  return v;
}

template <class S, class D>
void decode(const unsigned char* src, D* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (sizeof(S) == 1)
      dst[i] = kernels::convert_value<D>(static_cast<S>(src[i]));
    else  // float data into an integer dtype saturates, as everywhere in ndgrad
      dst[i] = kernels::convert_value<D>(big_endian<S>(src + i * sizeof(S)));
  }
}

}  // namespace

Tensor load_idx(const std::string& path, DType dtype) {
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw IOError("load_idx: cannot open '" + path + "': " + std::strerror(errno));
  }
  GzFile file{gzopen(path.c_str(), "rb")};
  if (!file.f) throw IOError("load_idx: cannot open '" + path + "'");
  unsigned char magic[4];
  if (gz_read(file.f, reinterpret_cast<char*>(magic), 4, path) != 4)
    throw IOError("load_idx: '" + path + "' is truncated: no header");
  size_t elem;
  switch (magic[2]) {
    case 0x08:
    case 0x09:
      elem = 1;
      break;
    case 0x0B:
      elem = 2;
      break;
    case 0x0C:
    case 0x0D:
      elem = 4;
      break;
    case 0x0E:
      elem = 8;
      break;
    default:
      elem = 0;
  }
  if (magic[0] != 0 || magic[1] != 0 || elem == 0 || magic[3] == 0 || magic[3] > 8)
    throw IOError("load_idx: '" + path + "' has a bad magic number (not an IDX file)");
  const int ndim = magic[3];
  std::vector<unsigned char> dims(4 * ndim);
  if (gz_read(file.f, reinterpret_cast<char*>(dims.data()), dims.size(), path) != dims.size())
    throw IOError("load_idx: '" + path + "' is truncated in its header");
  Shape shape;
  for (int d = 0; d < ndim; ++d) shape.push_back(big_endian<uint32_t>(&dims[4 * d]));
  int64_t n;
  try {
    n = checked_numel(shape, "load_idx");
  } catch (const Error& e) {
    throw IOError("load_idx: '" + path + "': " + e.what());
  }
  if (static_cast<uint64_t>(n) > (uint64_t(1) << 40) / elem)
    throw IOError("load_idx: '" + path + "' declares an implausibly large shape " +
                  shape_str(shape));
  const size_t nbytes = static_cast<size_t>(n) * elem;
  // Grow with the data actually present, so a header that lies about its size cannot make
  // us allocate what the file does not hold.
  std::vector<unsigned char> body;
  size_t got = 0;
  while (got < nbytes) {
    const size_t chunk = std::min<size_t>(nbytes - got, size_t(1) << 24);
    body.resize(got + chunk);
    const size_t r = gz_read(file.f, reinterpret_cast<char*>(body.data()) + got, chunk, path);
    got += r;
    if (r < chunk) break;
  }
  if (got != nbytes)
    throw IOError("load_idx: '" + path + "' is truncated: its header " + shape_str(shape) +
                  " needs " + std::to_string(nbytes) + " bytes of data, the file has " +
                  std::to_string(got));
  char extra;
  if (gz_read(file.f, &extra, 1, path) != 0)
    throw IOError("load_idx: '" + path + "' holds more data than its header " + shape_str(shape) +
                  " describes");
  Tensor t = empty(shape, dtype);
  // Any dtype: load_idx(path, DType::u8) keeps uint8 images as they are stored.
  kernels::dispatch_storage(dtype, [&](auto tag) {
    using D = decltype(tag);
    D* dst = reinterpret_cast<D*>(t.impl()->data());
    switch (magic[2]) {
      case 0x08:
        decode<uint8_t>(body.data(), dst, n);
        break;
      case 0x09:
        decode<int8_t>(body.data(), dst, n);
        break;
      case 0x0B:
        decode<int16_t>(body.data(), dst, n);
        break;
      case 0x0C:
        decode<int32_t>(body.data(), dst, n);
        break;
      case 0x0D:
        decode<float>(body.data(), dst, n);
        break;
      case 0x0E:
        decode<double>(body.data(), dst, n);
        break;
    }
  });
  return t;
}

Dataset load_mnist_like(const std::string& dir, bool train) {
  const std::string prefix = dir + "/" + (train ? "train" : "t10k");
  auto find = [](const std::string& base) {
    for (const std::string& p : {base + ".gz", base})
      if (std::ifstream(p, std::ios::binary)) return p;
    throw IOError("load_mnist_like: neither '" + base + ".gz' nor '" + base + "' exists");
  };
  const std::string images_path = find(prefix + "-images-idx3-ubyte");
  const std::string labels_path = find(prefix + "-labels-idx1-ubyte");
  Tensor images = load_idx(images_path, DType::f32);
  Tensor labels = load_idx(labels_path, DType::i64);
  if (images.ndim() != 3)
    throw IOError("load_mnist_like: '" + images_path + "' holds shape " +
                  shape_str(images.shape()) + ", expected (N, rows, cols)");
  if (labels.ndim() != 1)
    throw IOError("load_mnist_like: '" + labels_path + "' holds shape " +
                  shape_str(labels.shape()) + ", expected (N,)");
  if (images.shape()[0] != labels.shape()[0])
    throw IOError("load_mnist_like: " + std::to_string(images.shape()[0]) + " images in '" +
                  images_path + "' but " + std::to_string(labels.shape()[0]) + " labels in '" +
                  labels_path + "'");
  const int64_t n = images.shape()[0];
  return {images.reshape({n, images.shape()[1] * images.shape()[2]}), labels};
}

Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& rows) {
  require_defined_arg(t, "gather_rows", "the tensor");
  if (t.ndim() == 0) throw ValueError("gather_rows: needs at least one dimension");
  Tensor idx = empty({static_cast<int64_t>(rows.size())}, DType::i64);
  if (!rows.empty())
    std::memcpy(idx.data_ptr<int64_t>(), rows.data(), rows.size() * sizeof(int64_t));
  return index_select(t, 0, idx);
}

Tensor standardize(const Tensor& x, double mean, double std) {
  require_defined_arg(x, "standardize", "x");
  if (!(std > 0)) throw ValueError("standardize: std must be positive, got " + std::to_string(std));
  return (x - mean) / std;
}

std::pair<double, double> mean_std(const Tensor& x) {
  require_defined_arg(x, "mean_std", "x");
  if (x.numel() == 0) throw ValueError("mean_std: needs a non-empty tensor");
  const Tensor d = x.detach().to(DType::f64);
  const double mean = d.mean().item();
  const double var = ((d - mean) * (d - mean)).mean().item();
  return {mean, std::sqrt(var)};
}

BatchIterator::BatchIterator(Tensor inputs, Tensor labels, int64_t batch_size, bool shuffle,
                             uint64_t seed)
    : BatchIterator(std::move(inputs), std::move(labels), batch_size, shuffle, seed, Shard{}) {}

BatchIterator::BatchIterator(Tensor inputs, Tensor labels, int64_t batch_size, bool shuffle,
                             uint64_t seed, Shard shard)
    : inputs_(std::move(inputs)),
      labels_(std::move(labels)),
      batch_size_(batch_size),
      shard_(shard),
      shuffle_(shuffle),
      seed_(seed) {
  if (shard.world_size < 1 || shard.rank < 0 || shard.rank >= shard.world_size)
    throw ValueError(
        "BatchIterator: a shard needs world_size >= 1 and 0 <= rank < world_size, got rank " +
        std::to_string(shard.rank) + " and world_size " + std::to_string(shard.world_size));
  require_defined_arg(inputs_, "BatchIterator", "inputs");
  require_defined_arg(labels_, "BatchIterator", "labels");
  if (inputs_.ndim() == 0 || labels_.ndim() == 0)
    throw ValueError("BatchIterator: inputs and labels need a batch axis, got shapes " +
                     shape_str(inputs_.shape()) + " and " + shape_str(labels_.shape()));
  if (inputs_.shape()[0] != labels_.shape()[0])
    throw ShapeError("BatchIterator: " + std::to_string(inputs_.shape()[0]) + " inputs but " +
                     std::to_string(labels_.shape()[0]) + " labels");
  if (batch_size <= 0)
    throw ValueError("BatchIterator: batch_size must be positive, got " +
                     std::to_string(batch_size));
  n_ = inputs_.shape()[0];
  // The global batch, capped at the rows there are: batch_size * world_size may overflow.
  const int64_t cap = std::max<int64_t>(n_, 1);
  global_batch_ = batch_size_ > cap / shard_.world_size ? cap : batch_size_ * shard_.world_size;
  inputs_ = inputs_.detach().contiguous();
  labels_ = labels_.detach().contiguous();
  order_.resize(static_cast<size_t>(n_));
  start_epoch();
}

// Without n_ + batch_size_ - 1, which overflows for a batch size near INT64_MAX.
int64_t BatchIterator::num_batches() const {
  return n_ / global_batch_ + (n_ % global_batch_ != 0 ? 1 : 0);
}

void BatchIterator::start_epoch(int64_t epoch) {
  // (below the int64 maximum: the epoch's number is counted on past it)
  if (epoch < 0 || epoch == std::numeric_limits<int64_t>::max())
    throw ValueError("BatchIterator::start_epoch: epoch must be in [0, 2^63 - 1), got " +
                     std::to_string(epoch));
  epoch_ = epoch;
  start_epoch();
}

void BatchIterator::start_epoch() {
  std::iota(order_.begin(), order_.end(), 0);
  if (shuffle_) {
    SplitMix64 rng{seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch_)};
    for (int64_t i = n_ - 1; i > 0; --i)  // Fisher-Yates
      std::swap(order_[i], order_[rng.next() % static_cast<uint64_t>(i + 1)]);
  }
  ++epoch_;
  cursor_ = 0;
  epoch_done_ = false;
}

bool BatchIterator::next(Tensor& inputs, Tensor& labels) {
  // A loop over epochs that never calls start_epoch() must not train on the first one only.
  if (epoch_done_) start_epoch();
  if (cursor_ >= n_) {
    epoch_done_ = true;
    return false;
  }
  // Compared without cursor_ + global_batch_, which may overflow.
  const int64_t end = global_batch_ >= n_ - cursor_ ? n_ : cursor_ + global_batch_;
  // This rank's part of the global batch [cursor_, end): rows [lo, hi) of it.
  const int64_t len = end - cursor_, r = shard_.rank, w = shard_.world_size;
  auto split = [&](int64_t k) { return static_cast<int64_t>(static_cast<__int128>(k) * len / w); };
  const int64_t lo = split(r), hi = split(r + 1);
  std::vector<int64_t> rows;
  if (lo < hi)
    rows.assign(order_.begin() + cursor_ + lo, order_.begin() + cursor_ + hi);
  else  // fewer rows than ranks: one repeated row, so that every rank steps with the others
    rows.push_back(order_[static_cast<size_t>((static_cast<__int128>(cursor_) + r) % n_)]);
  inputs = gather_rows(inputs_, rows);
  labels = gather_rows(labels_, rows);
  cursor_ = end;
  return true;
}

BatchIterator::iterator BatchIterator::begin() {
  // A finished epoch (whether or not next() has said so yet) gives way to the next one.
  if (epoch_done_ || cursor_ >= n_) start_epoch();
  return iterator(this);
}

}  // namespace ndgrad::data
