// Saved state as named tensors (optimizers, schedules, checkpoints): scalars in and out, and a
// reader that checks an entry's presence, dtype and shape, naming it in a ValueError.
#pragma once
#include <cstdio>
#include <map>
#include <set>
#include <string>

#include "ndgrad/error.hpp"
#include "ndgrad/tensor.hpp"

namespace ndgrad::optim {

// A ValueError with message unless ok.
inline void require(bool ok, const std::string& message) {
  if (!ok) throw ValueError(message);
}

// An option's value in a message: %g, so 1e-08 and 0.9 read as written.
inline std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

inline Tensor f64_scalar(double v) { return scalar(v, DType::f64); }
// Exact for every int64 (a double would round past 2^53).
inline Tensor i64_scalar(int64_t v) {
  Tensor t = zeros({}, DType::i64);
  t.data_ptr<int64_t>()[0] = v;
  return t;
}

class StateReader {
 public:
  StateReader(const std::map<std::string, Tensor>& state, std::string who)
      : state_(state), who_(std::move(who)) {}
  bool has(const std::string& key) const { return state_.count(key) > 0; }
  // The entry of key, checked to be of dtype and shape.
  Tensor get(const std::string& key, DType dtype, const Shape& shape) {
    auto it = state_.find(key);
    if (it == state_.end() || !it->second.defined())
      throw ValueError(who_ + ": the state has no entry '" + key + "'");
    const Tensor& t = it->second;
    if (t.dtype() != dtype || t.shape() != shape)
      throw ValueError(who_ + ": '" + key + "' must be " + dtype_name(dtype) + " of shape " +
                       shape_str(shape) + ", got " + dtype_name(t.dtype()) + " of shape " +
                       shape_str(t.shape()));
    used_.insert(key);
    return t;
  }
  double f64(const std::string& key) { return get(key, DType::f64, Shape{}).item(); }
  int64_t i64(const std::string& key) {
    return get(key, DType::i64, Shape{}).contiguous().data_ptr<int64_t>()[0];
  }
  // Marks key as read (checked elsewhere).
  void mark(const std::string& key) { used_.insert(key); }
  void expect_used(const std::string& key) const {
    if (!used_.count(key)) throw ValueError(who_ + ": unexpected entry '" + key + "'");
  }
  // Every entry was read.
  void expect_all_used() const {
    for (const auto& [key, _] : state_) expect_used(key);
  }

 private:
  const std::map<std::string, Tensor>& state_;
  std::string who_;
  std::set<std::string> used_;
};

}  // namespace ndgrad::optim
