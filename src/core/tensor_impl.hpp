#pragma once
// What a Tensor handle points at: a strided view over Storage, plus autograd state.
#include <memory>
#include <vector>

#include "core/dims.hpp"
#include "core/pool.hpp"
#include "core/storage.hpp"
#include "ndgrad/tensor.hpp"

namespace ndgrad {

struct Node;

struct TensorImpl final : Counted {
  TensorImpl() noexcept : Counted(Kind::tensor) {}
  Ref<Storage> storage;
  Dims shape;
  Dims strides;        // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;

  bool requires_grad = false;
  // Set only while one elementwise op runs (ops/elementwise.cpp), on an operand it may write its
  // result over when nothing else holds it: a backward rule's incoming gradient read once (the
  // op table's g_reads), or a temporary (an rvalue) the caller passed. 1: the memory is lent;
  // 2: a temporary, whose handle the result may also be moved from (no reference-count updates,
  // and no second handle left for the next op in a chain to find).
  uint8_t donated = 0;
  Ref<Node> grad_fn;  // the op that produced this tensor; null for leaves
  Tensor grad;        // accumulated gradient (leaves only)
  // A leaf's gradient hooks (Tensor::register_hook); a non-leaf's live on its grad_fn.
  std::unique_ptr<std::vector<GradHook>> hooks;
  // A leaf's post-accumulate hooks (Tensor::register_post_accumulate_grad_hook).
  std::unique_ptr<std::vector<PostAccumulateGradHook>> post_hooks;

  // The first element, for writing (or reading and writing): every deferred computation over
  // this memory runs first.
  [[gnu::always_inline]] char* data() const {
    if (storage->hooks.load(std::memory_order_acquire) != 0)
      prepare_access(*storage, Access::write);
    return storage->data + offset * itemsize(dtype);
  }
  // The first element, for reading only: the values are computed if they are deferred;
  // deferred computations that read them stay deferred.
  [[gnu::always_inline]] const char* read_data() const {
    if (storage->hooks.load(std::memory_order_acquire) != 0) prepare_access(*storage, Access::read);
    return storage->data + offset * itemsize(dtype);
  }
};

// A fresh contiguous tensor; contents uninitialized. op names the caller in errors: ShapeError
// for an invalid shape, MemoryError (with the shape and the bytes) when the memory cannot be had.
Tensor make_tensor(const Dims& shape, DType dtype, const char* op = nullptr);
// The same for a shape known to be valid (an existing tensor's, or one the caller checked with
// checked_numel): only the byte count's overflow is checked.
// n: its element count, when the caller has it.
Tensor make_tensor_of_valid_shape(const Dims& shape, DType dtype, const char* op = nullptr,
                                  int64_t n = -1);
// Memory for a contiguous tensor of a valid shape (n: its element count, when known), or a
// MemoryError naming op, the shape and the bytes. reserve: address space only, for a pending
// result (Storage::reserve).
Ref<Storage> allocate_storage(const Dims& shape, DType dtype, const char* op, int64_t n = -1,
                              bool reserve = false);
// A view over t's storage with other shape/strides/offset; no autograd state.
Tensor make_view(const Tensor& t, Dims shape, Dims strides, int64_t offset);

// Why a tensor handed to a call may be undefined, for the messages that say it is.
constexpr const char* kUndefinedCause =
    " (a default-constructed Tensor, or a .grad() read before any backward)";
// ValueError unless t is defined: "<op>: <what> is undefined", with the usual causes. op is the
// call the user made, what the argument ("input", "the first operand", "the tensor").
void require_defined_arg(const Tensor& t, const char* op, const char* what = "input");

}  // namespace ndgrad
