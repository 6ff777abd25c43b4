#include "exec/lazy.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <iterator>
#include <mutex>
#include <utility>

#include "core/shape.hpp"
#include "kernels/cpu/fused.hpp"
#include "kernels/cpu/reference.hpp"

namespace ndgrad {

using kernels::FusedOp;
using kernels::FusedProgram;
using kernels::kFusedMaxDims;
using kernels::kFusedMaxLeaves;
using kernels::kFusedMaxOps;

// A storage's pending computation. Its leaves point into the input storages it holds.
struct Storage::Pending {
  FusedProgram prog;
  Ref<Storage> inputs[kFusedMaxLeaves];  // leaf l's storage
  Storage* owner = nullptr;
  Pending* prev = nullptr;
  Pending* next = nullptr;
};

namespace {

std::atomic<bool> lazy_on{!kernels::reference_kernels()};

// Every pending computation, so that the ones reading a storage can be found before that
// storage is used. One lock: computations are created only for tensors of >= 1M elements.
struct Registry {
  std::mutex mu;
  Storage::Pending* head = nullptr;
  int64_t count = 0;
};
Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: storages may be freed at exit
  return *r;
}

using Releases = std::vector<Ref<Storage>>;

// Unlinks e and frees it; the input storages are handed to `release`, to be dropped once the
// lock is let go. The lock is held.
void retire(Storage::Pending* e, Releases& release) {
  Registry& r = registry();
  (e->prev ? e->prev->next : r.head) = e->next;
  if (e->next) e->next->prev = e->prev;
  --r.count;
  for (int l = 0; l < e->prog.nleaves; ++l) {
    e->inputs[l]->hooks.fetch_sub(1, std::memory_order_release);
    release.push_back(std::move(e->inputs[l]));
  }
  e->owner->pending = nullptr;
  delete e;
}

// Computes s's values; with sums, also their sums over the leading `reduced` dims, in the same
// pass. The lock is held.
void run_locked(Storage& s, Releases& release, int reduced = 0, char* sums = nullptr) {
  s.use_reserved();
  if (sums)
    kernels::fused_materialize_sum_leading(s.pending->prog, s.data, reduced, sums);
  else
    kernels::fused_materialize(s.pending->prog, s.data);
  retire(s.pending, release);
  s.hooks.fetch_sub(1, std::memory_order_release);  // publishes data to the lock-free check
}

// Whether impl sees the whole of its pending storage as the program computed it.
bool whole(const TensorImpl& impl, const FusedProgram& p) {
  if (impl.offset != 0 || static_cast<int>(impl.shape.size()) != p.ndim) return false;
  for (int d = 0; d < p.ndim; ++d)
    if (impl.shape[d] != p.shape[d]) return false;
  return is_contiguous(impl.shape, impl.strides);
}

// Builds one program from the operands of an op. The lock is held.
struct Builder {
  FusedProgram prog;
  Ref<Storage> inputs[kFusedMaxLeaves];
  const Dims& shape;  // the result's
  Releases& release;

  Builder(const Dims& out_shape, DType dt, Releases& r) : shape(out_shape), release(r) {
    prog.dtype = dt;
    prog.ndim = static_cast<int>(shape.size());
    for (int d = 0; d < prog.ndim; ++d) prog.shape[d] = shape[d];
  }

  // A leaf value id, reusing an identical leaf; -1 when there is no room.
  int leaf(const char* data, const int64_t* strides, const Ref<Storage>& storage) {
    const size_t bytes = sizeof(int64_t) * prog.ndim;
    for (int l = 0; l < prog.nleaves; ++l)
      if (prog.leaf_data[l] == data && std::memcmp(prog.leaf_strides[l], strides, bytes) == 0)
        return FusedProgram::kLeaf | l;
    if (prog.nleaves == kFusedMaxLeaves) return -1;
    const int l = prog.nleaves++;
    prog.leaf_data[l] = data;
    std::memcpy(prog.leaf_strides[l], strides, bytes);
    inputs[l] = storage;
    return FusedProgram::kLeaf | l;
  }

  // An op's value id, reusing an identical earlier op unless it must be the last; -1 when
  // there is no room.
  int op(FusedOp o, int a, int b, bool last) {
    for (int k = 0; !last && k < prog.nops; ++k) {
      const FusedProgram::Op& x = prog.ops[k];
      if (x.op == o && x.a == a && (kernels::is_unary(o) || x.b == b)) return k;
    }
    if (prog.nops == kFusedMaxOps || a < 0 || b < 0) return -1;
    prog.ops[prog.nops] = {o, static_cast<uint8_t>(a), static_cast<uint8_t>(b)};
    return prog.nops++;
  }

  // t as a value of the program: its pending program folded in when it is seen whole and
  // fits, otherwise a leaf over its (computed) memory.
  int operand(const Tensor& t) {
    const TensorImpl& impl = *t.impl();
    Storage& st = *impl.storage;
    if (st.pending) {
      const Storage::Pending& sub = *st.pending;
      if (whole(impl, sub.prog) && prog.ndim == sub.prog.ndim &&
          std::memcmp(prog.shape, sub.prog.shape, sizeof(int64_t) * prog.ndim) == 0 &&
          prog.nleaves + sub.prog.nleaves <= kFusedMaxLeaves &&
          prog.nops + sub.prog.nops < kFusedMaxOps)
        return fold(sub);
      run_locked(st, release);
    }
    const Dims strides = broadcast_strides(impl.shape, impl.strides, shape);
    // Not impl.data(): that would run the computations reading st, which are not affected.
    return leaf(st.data + impl.offset * itemsize(impl.dtype), strides.data(), impl.storage);
  }

  int fold(const Storage::Pending& sub) {
    int ids[kFusedMaxLeaves + kFusedMaxOps];
    const FusedProgram& p = sub.prog;
    for (int l = 0; l < p.nleaves; ++l)
      ids[l] = leaf(p.leaf_data[l], p.leaf_strides[l], sub.inputs[l]);
    auto map = [&](uint8_t v) {
      return (v & FusedProgram::kLeaf) ? ids[v & ~FusedProgram::kLeaf] : ids[kFusedMaxLeaves + v];
    };
    for (int k = 0; k < p.nops; ++k)
      ids[kFusedMaxLeaves + k] = op(p.ops[k].op, map(p.ops[k].a),
                                    kernels::is_unary(p.ops[k].op) ? 0 : map(p.ops[k].b), false);
    return ids[kFusedMaxLeaves + p.nops - 1];
  }

  // The pending result, over storage (its memory reserved). The last op is the program's value.
  Tensor finish(const Dims& shape, Ref<Storage> storage) {
    auto e = new Storage::Pending;
    e->prog = prog;
    storage->pending = e;
    storage->hooks.store(1, std::memory_order_relaxed);
    e->owner = storage.get();
    for (int l = 0; l < prog.nleaves; ++l) {
      e->inputs[l] = std::move(inputs[l]);
      e->inputs[l]->hooks.fetch_add(1, std::memory_order_relaxed);
    }
    Registry& r = registry();
    e->next = r.head;
    if (r.head) r.head->prev = e;
    r.head = e;
    ++r.count;
    auto impl = make_ref<TensorImpl>();
    impl->storage = std::move(storage);
    impl->shape = shape;
    contiguous_strides_into(shape, impl->strides);
    impl->dtype = prog.dtype;
    return Tensor(std::move(impl));
  }
};

// The number of axes k when `axes` (sorted) are exactly first .. first+k-1, else 0.
int axes_from(const std::vector<int64_t>& axes, int64_t first) {
  const int k = static_cast<int>(axes.size());
  for (int i = 0; i < k; ++i)
    if (axes[i] != first + i) return 0;
  return k;
}
// How many leading axes `axes` names (0 .. k-1), or trailing ones of ndim (ndim-k .. ndim-1).
int leading_axes(const std::vector<int64_t>& axes) { return axes_from(axes, 0); }
int trailing_axes(const std::vector<int64_t>& axes, int ndim) {
  return axes_from(axes, ndim - static_cast<int64_t>(axes.size()));
}

bool eligible(DType dt, const Dims& shape) {
  return lazy_on.load(std::memory_order_relaxed) && (dt == DType::f32 || dt == DType::f64) &&
         static_cast<int>(shape.size()) <= kFusedMaxDims && lazy::large(shape);
}

}  // namespace

namespace {

// TensorImpl::data()'s and read_data()'s slow path (core's DeferredHooks).
void prepare(Storage& s, Access access) {
  Releases release;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (s.pending) run_locked(s, release);
  if (access == Access::read || s.hooks.load(std::memory_order_relaxed) == 0) return;
  // Computations that read s run now: the caller may be about to write it.
  std::vector<Storage*> readers;
  for (Storage::Pending* e = r.head; e; e = e->next)
    for (int l = 0; l < e->prog.nleaves; ++l)
      if (e->inputs[l].get() == &s) {
        readers.push_back(e->owner);
        break;
      }
  for (Storage* o : readers) run_locked(*o, release);
}

void discard(Storage& s) {
  Releases release;
  std::lock_guard<std::mutex> lock(registry().mu);
  if (!s.pending) return;
  retire(s.pending, release);
  s.hooks.fetch_sub(1, std::memory_order_release);
}

// Core calls back into this layer through these, from the first pending result on.
void install_hooks_once() {
  static const bool installed = (install_deferred_hooks({&prepare, &discard}), true);
  (void)installed;
}

}  // namespace

namespace lazy {

void set_enabled(bool on) { lazy_on.store(on); }
bool enabled() { return lazy_on.load(); }

namespace {

// Memory that code outside the library may write at any time (expose_memory, from_blob): a
// pending computation would read it later than the op was called, so ops over it run now.
bool exposed(const Tensor& t) { return t.impl()->storage->exposed.load(std::memory_order_acquire); }

// One new program: add(builder) appends its ops (false when they do not fit).
template <class F>
Tensor build(const Dims& shape, DType dt, const char* name, F&& add) {
  install_hooks_once();
  Ref<Storage> storage = allocate_storage(shape, dt, name, -1, /*reserve=*/true);
  Releases release;
  std::lock_guard<std::mutex> lock(registry().mu);
  Builder builder(shape, dt, release);
  if (!add(builder)) return Tensor();
  return builder.finish(shape, std::move(storage));
}

}  // namespace

Tensor binary(kernels::BinaryOp op, const Tensor& a, const Tensor& b, const Dims& shape, DType dt,
              const char* name) {
  const int fused = kernels::fused_index(op);
  if (fused < 0 || !eligible(dt, shape) || a.dtype() != dt || b.dtype() != dt) return Tensor();
  if (exposed(a) || exposed(b)) return Tensor();
  return build(shape, dt, name, [&](Builder& builder) {
    const int x = builder.operand(a);
    const int y = builder.operand(b);
    return builder.op(static_cast<FusedOp>(fused), x, y, true) >= 0;
  });
}

Tensor unary(kernels::UnaryOp op, const Tensor& x, const char* name) {
  const int fused = kernels::fused_index(op);
  const Dims& shape = x.impl()->shape;
  if (fused < 0 || !eligible(x.dtype(), shape) || exposed(x)) return Tensor();
  return build(shape, x.dtype(), name, [&](Builder& builder) {
    return builder.op(static_cast<FusedOp>(fused), builder.operand(x), 0, true) >= 0;
  });
}

bool pending_slow(const Tensor& t) {
  Storage& s = *t.impl()->storage;
  std::lock_guard<std::mutex> lock(registry().mu);
  return s.pending != nullptr;
}

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes) {
  const TensorImpl& impl = *x.impl();
  if (impl.storage->hooks.load(std::memory_order_acquire) == 0) return Tensor();
  const int ndim = static_cast<int>(impl.shape.size());
  const int reduced = leading_axes(axes);
  const int trailing = reduced == 0 ? trailing_axes(axes, ndim) : 0;
  if (reduced == 0 && trailing == 0) return Tensor();
  // A copy of the program, and its inputs held, so that it can run without the lock.
  FusedProgram prog;
  Ref<Storage> inputs[kFusedMaxLeaves];
  {
    std::lock_guard<std::mutex> lock(registry().mu);
    const Storage::Pending* e = impl.storage->pending;
    if (!e || !whole(impl, e->prog)) return Tensor();
    prog = e->prog;
    for (int l = 0; l < prog.nleaves; ++l) inputs[l] = e->inputs[l];
  }
  // Otherwise the caller computes the values and reduces them.
  if (trailing > 0 && !kernels::fused_sum_trailing_fits(prog, trailing)) return Tensor();
  Tensor out = make_tensor(reduced_shape(impl.shape, axes, true), impl.dtype, "sum");
  char* dst = out.impl()->data();
  if (reduced == ndim) {
    const double total = kernels::fused_sum_all(prog);
    if (prog.dtype == DType::f32)
      *reinterpret_cast<float*>(dst) = static_cast<float>(total);
    else
      *reinterpret_cast<double*>(dst) = total;
  } else if (reduced > 0) {
    kernels::fused_sum_leading(prog, reduced, dst);
  } else {
    kernels::fused_sum_trailing(prog, trailing, dst);
  }
  return out;
}

Tensor sum_computing(const Tensor& x, const std::vector<int64_t>& axes, const Tensor& also) {
  const TensorImpl& impl = *x.impl();
  const TensorImpl& other = *also.impl();
  if (impl.storage->hooks.load(std::memory_order_acquire) == 0 ||
      other.storage->hooks.load(std::memory_order_acquire) == 0 || impl.storage == other.storage)
    return Tensor();
  const int reduced = leading_axes(axes);
  if (reduced == 0 || reduced == static_cast<int>(impl.shape.size())) return Tensor();
  Tensor out = make_tensor(reduced_shape(impl.shape, axes, true), impl.dtype, "sum");
  char* dst = out.impl()->data();
  Releases release;
  std::lock_guard<std::mutex> lock(registry().mu);
  const Storage::Pending* e = impl.storage->pending;
  const Storage::Pending* f = other.storage->pending;
  if (!e || !f || !whole(impl, e->prog) || !whole(other, f->prog) ||
      !kernels::same_program(e->prog, f->prog))
    return Tensor();
  run_locked(*other.storage, release, reduced, dst);
  return out;
}

void compute(const Tensor& t) {
  Storage& s = *t.impl()->storage;
  if (s.hooks.load(std::memory_order_acquire) == 0) return;
  Releases release;
  std::lock_guard<std::mutex> lock(registry().mu);
  if (s.pending) run_locked(s, release);
}

int64_t pending_count() {
  std::lock_guard<std::mutex> lock(registry().mu);
  return registry().count;
}

}  // namespace lazy
}  // namespace ndgrad
