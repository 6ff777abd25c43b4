// Elementwise ops: every row of the op table (include/ndgrad/op_table.def) becomes a public
// function, its dtype rule, its forward dispatch and its autograd node with the row's one
// derivative. Binary ops broadcast like NumPy; each backward returns gradients in the broadcast
// output's shape and the engine sums them back to each input's shape.
#include <cmath>
#include <type_traits>

#include "exec/lazy.hpp"
#include "ops/derivatives.hpp"
#include "ops/ops_common.hpp"
#include "ops/strict.hpp"

namespace ndgrad {

using kernels::BinaryOp;
using kernels::DTypeRule;
using kernels::UnaryOp;

namespace {

// Whether op(a, b) (or op(a) when b is null) into out (contiguous, n elements) is one flat run:
// each input laid out like out, or one value, and few enough elements for one thread. Saves the
// kernel examining strides.
bool flat_operands(int64_t n, const TensorImpl& out, const TensorImpl& a, const TensorImpl* b,
                   kernels::FlatRun& f) {
  if (n == 0 || n >= kernels::kFlatMax) return false;
  auto step = [&](const TensorImpl& t) -> int64_t {
    if (t.shape.empty()) return 0;
    return t.shape == out.shape && t.strides == out.strides ? 1 : -1;
  };
  f = {n, step(a), b ? step(*b) : 0};
  return f.a_step >= 0 && f.b_step >= 0;
}

// TensorImpl::donated: lent memory, or a temporary (handle and memory).
constexpr uint8_t kLent = 1, kTemporary = 2;

// Whether t is a donated gradient that an op's result (shape, dtype) can be written over:
// nothing else holds it or its memory, it is laid out as the result and already computed.
// Memory the caller owns or was handed (from_blob, expose_memory) is never written over: its
// owner reads it outside the library.
inline bool can_take(const Tensor& t, const Dims& shape, DType dtype) {
  const TensorImpl& impl = *t.impl();
  // (A leaf that requires grad is the target of its consumers' edges: never taken.)
  return impl.donated && t.impl().unique() && impl.storage.unique() &&
         !impl.storage->exposed.load(std::memory_order_acquire) &&
         !(impl.requires_grad && !impl.grad_fn) && impl.dtype == dtype && impl.shape == shape &&
         is_contiguous(impl.shape, impl.strides) && !lazy::pending(t);
}

// The result written over t: t itself, as a tensor of its own (its autograd state, if any,
// was its producer's, which a recorded op already holds in its edges, or a former leaf's). A
// temporary's handle is moved from, so that the result is again the only handle to its memory.
Tensor taken(const Tensor& t) {
  TensorImpl& impl = *t.impl();
  const bool temporary = impl.donated == kTemporary;
  impl.donated = 0;                                         // taken: not offered again
  if (impl.grad_fn || impl.grad.defined() || impl.hooks) {  // a former leaf keeps nothing
    impl.grad_fn.reset();
    impl.requires_grad = false;
    impl.grad = Tensor();
    impl.hooks.reset();
  }
  return temporary ? std::move(const_cast<Tensor&>(t)) : t;
}

// Marks operands as offered for the duration of one op, then withdraws what was not taken.
// temporary: they are the caller's rvalues (else a rule's incoming gradient, lent).
class Offer {
 public:
  // Only a tensor no other handle shares: no other thread can be reading the flag.
  Offer(const Tensor* a, const Tensor* b, bool temporary = false)
      : a_(a && a->impl().unique() ? a : nullptr), b_(b && b->impl().unique() ? b : nullptr) {
    const uint8_t how = temporary ? kTemporary : kLent;
    if (a_) a_->impl()->donated = how;
    if (b_) b_->impl()->donated = how;
  }
  ~Offer() {  // (a temporary that was taken is empty now)
    if (a_ && a_->defined()) a_->impl()->donated = 0;
    if (b_ && b_->defined()) b_->impl()->donated = 0;
  }
  Offer(const Offer&) = delete;
  Offer& operator=(const Offer&) = delete;

 private:
  const Tensor *a_, *b_;
};

// A rule's incoming gradient g, offered to the op that reads it (when the row's derivative reads
// it once, one_use) unless a graph is recorded (create_graph would save it); else null.
const Tensor* offered(const Tensor& g, bool one_use) {
  return one_use && !grad_enabled_here() ? &g : nullptr;
}

// The integral rule's refusal of a floating operand.
[[noreturn]] void require_integral(DType dt, const char* name) {
  throw DTypeError(std::string(name) + " is defined for integer and bool tensors, got " +
                   dtype_name(dt));
}

// An integer power's exponents: a negative one is a ValueError (NumPy's; the result would not
// be an integer).
void require_nonnegative_exponent(const Tensor& b, const char* name) {
  if (b.impl()->dtype == DType::boolean || b.impl()->dtype == DType::u8) return;
  // (A tensor 0, not a number: b may be the thread's scalar_like holder, which a number reuses.)
  const Tensor negative = ndgrad::less(b, zeros({}, DType::i64));
  if (ndgrad::any(negative).item() != 0.0)
    throw ValueError(std::string(name) +
                     ": integers to negative integer powers are not allowed (an exponent is " +
                     std::to_string(static_cast<int64_t>(ndgrad::min(b).item())) +
                     "); convert the base with .to(DType::f32)");
}

// The execution seam for one elementwise op: a pending (lazy) result when the table marks the
// op fused and the result is large, the eager kernel otherwise.
Tensor unary_forward(UnaryOp op, const Tensor& x) {
  const char* name = kernels::info(op).name;
  if (!x.defined()) require_defined_arg(x, name);
  const DType dt = x.impl()->dtype;
  const DTypeRule rule = kernels::info(op).dtypes;
  if (rule == DTypeRule::floating_promote && !is_floating(dt))  // f32, rounded once from f64
    return unary_forward(op, x.to(DType::f64)).to(DType::f32);
  if (rule == DTypeRule::integral) {
    if (is_floating(dt)) require_integral(dt, name);
  } else if (rule != DTypeRule::predicate && !is_floating(dt) &&
             (rule == DTypeRule::floating || dt == DType::boolean)) {
    require_floating(x, name);
  }
  if (is_storage_only(dt)) {  // computed in its compute dtype, the result rounded back once
    Tensor r = unary_forward(op, raw_cast(x, compute_dtype(dt), name));
    return rule == DTypeRule::predicate ? r : raw_cast(r, dt, name);
  }
  const DType out_dtype = rule == DTypeRule::predicate ? DType::boolean : dt;
  const int64_t n = numel_of(x.impl()->shape);  // a tensor's: valid
  if (lazy::large(n))
    if (Tensor pending = lazy::unary(op, x, name); pending.defined()) return pending;
  if (x.impl()->donated && out_dtype == dt && can_take(x, x.impl()->shape, dt)) {
    const TensorImpl& xi = *x.impl();
    kernels::FlatRun flat;
    const bool is_flat = flat_operands(n, xi, xi, nullptr, flat);
    if (const auto direct = is_flat ? kernels::flat_unary(op, dt) : nullptr) {
      direct(xi.data(), xi.data(), flat);
    } else {
      kernels::unary(op, xi.shape, {xi.data(), xi.strides.data(), xi.dtype},
                     {xi.data(), xi.strides.data(), xi.dtype}, is_flat ? &flat : nullptr);
    }
    return taken(x);
  }
  Tensor out = make_tensor_of_valid_shape(x.impl()->shape, out_dtype, name, n);
  const TensorImpl &o = *out.impl(), &xi = *x.impl();
  kernels::FlatRun flat;
  const bool is_flat = flat_operands(n, o, xi, nullptr, flat);
  if (const auto direct = is_flat ? kernels::flat_unary(op, dt) : nullptr) {
    direct(o.data(), xi.read_data(), flat);
    return out;
  }
  kernels::unary(op, o.shape, {o.data(), o.strides.data(), o.dtype},
                 {const_cast<char*>(xi.read_data()), xi.strides.data(), xi.dtype},
                 is_flat ? &flat : nullptr);
  return out;
}

// op(a, b) into out's buffer (a contiguous result of shape `shape`, n elements; a and b in the
// op's dtype): as a flat run when flat_operands allows, through the broadcasting kernel
// otherwise.
void binary_into(BinaryOp op, const Dims& shape, int64_t n, const TensorImpl& out, const Tensor& a,
                 const Tensor& b) {
  const TensorImpl &ai = *a.impl(), &bi = *b.impl();
  const kernels::Operand o{out.data(), out.strides.data(), out.dtype};
  kernels::FlatRun flat;
  if (flat_operands(n, out, ai, &bi, flat)) {
    if (const auto direct = kernels::flat_binary(op, ai.dtype)) {
      direct(out.data(), ai.read_data(), bi.read_data(), flat);
      return;
    }
    kernels::binary(op, shape, o, {const_cast<char*>(ai.read_data()), nullptr, ai.dtype},
                    {const_cast<char*>(bi.read_data()), nullptr, bi.dtype}, &flat);
    return;
  }
  OperandOf oa(a, shape), ob(b, shape);
  kernels::binary(op, shape, o, oa.op, ob.op);
}

Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const void* call_site);

// True division (or a floating_promote row) of two integer or bool operands: in f64, so that
// the f32 result is the f64 result rounded once (integers up to 2^53 exact). Neither can carry a
// gradient.
Tensor divide_non_floating(BinaryOp op, const Tensor& a, const Tensor& b, const void* call_site) {
  return binary_forward(op, a.to(DType::f64), b.to(DType::f64), call_site).to(DType::f32);
}

// call_site: the return address in the user's code, for strict broadcasting's message.
Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const void* call_site) {
  const kernels::OpInfo& info = kernels::info(op);
  const char* name = info.name;
  if (!a.defined() || !b.defined()) {
    require_defined_arg(a, name, "the first operand");
    require_defined_arg(b, name, "the second operand");
  }
  const DType da = a.impl()->dtype, db = b.impl()->dtype;
  switch (info.dtypes) {
    case DTypeRule::true_divide:
    case DTypeRule::floating_promote:
      if (!is_floating(da) && !is_floating(db)) return divide_non_floating(op, a, b, call_site);
      break;
    case DTypeRule::floating:
      if (!is_floating(db)) require_floating(b, name);
      [[fallthrough]];
    case DTypeRule::floating_first:
      if (!is_floating(da)) require_floating(a, name);
      break;
    case DTypeRule::integral:
      if (is_floating(da) || is_floating(db)) require_integral(is_floating(da) ? da : db, name);
      break;
    case DTypeRule::power:
      if (!is_floating(da) && !is_floating(db)) require_nonnegative_exponent(b, name);
      break;
    default:
      break;
  }
  // The result's shape; no new vector when one operand already has it (the common cases).
  const Dims& sa = a.impl()->shape;
  const Dims& sb = b.impl()->shape;
  Dims computed;
  const bool same = sa == sb || sb.empty();
  if (!same && !sa.empty()) computed = broadcast_shapes_for(sa, sb, name);
  const Dims& shape = same ? sa : (sa.empty() ? sb : computed);
  if (!same && !sa.empty()) {  // equal shapes and 0-d operands are allowed in every strict mode
    check_strict_broadcast(name, sa, sb, shape, call_site);
    checked_numel(shape, name);  // a new shape; operands' are valid
  }
  const DType dt = da == db ? da : promote_types(da, db);
  const bool compare = info.dtypes == DTypeRule::comparison;
  if (is_storage_only(dt)) {  // computed in its compute dtype, the result rounded back once
    const DType cd = compute_dtype(dt);
    Tensor a_cd, b_cd;
    Tensor r = binary_forward(op, in_dtype(a, cd, a_cd), in_dtype(b, cd, b_cd), call_site);
    return compare ? r : raw_cast(r, dt, name);
  }
  if (!compare && dt == DType::boolean && info.dtypes != DTypeRule::integral)
    throw DTypeError(std::string(name) + " is not defined for bool tensors; convert with .to()");
  const int64_t n = numel_of(shape);  // an operand's, or checked above
  if (lazy::large(n))
    if (Tensor pending = lazy::binary(op, a, b, shape, dt, name); pending.defined()) return pending;
  Tensor a_cast, b_cast;
  if (!compare && (a.impl()->donated || b.impl()->donated))
    for (const Tensor* t : {&a, &b})
      if (can_take(*t, shape, dt)) {
        binary_into(op, shape, n, *t->impl(), in_dtype(a, dt, a_cast), in_dtype(b, dt, b_cast));
        return taken(*t);
      }
  // An operand's shape, or checked above.
  Tensor out = make_tensor_of_valid_shape(shape, compare ? DType::boolean : dt, name, n);
  binary_into(op, shape, n, *out.impl(), in_dtype(a, dt, a_cast), in_dtype(b, dt, b_cast));
  return out;
}

// What a row's derivative reads (the saves columns): bit 0 the input (x, or a), bit 1 the
// second operand (b), bit 2 the output (y).
constexpr unsigned kReads_nothing = 0, kReads_no_grad = 0, kReads_x = 1, kReads_a = 1, kReads_b = 2,
                   kReads_ab = 3, kReads_y = 4, kReads_ay = 5, kReads_by = 6, kReads_aby = 7;

// The node of a table row: the tensors its derivative reads, saved with their versions (the
// output without its autograd link: no reference cycle; the rule gets it back linked to this
// node under create_graph, so that second derivatives flow through it).
struct ElementwiseNode : SavingNode {
  Tensor a, b, y;
  void release_saved() override {
    a = Tensor();
    b = Tensor();
    y = Tensor();
  }
  // Saves what the gradients of the operands that need one read.
  [[gnu::always_inline]] void save_operands(unsigned reads, const Tensor& first,
                                            const Tensor* second, const Tensor& out) {
    if (reads & 1) a = save(first, second ? "the first operand" : "the input");
    if (reads & 2) b = save(*second, "the second operand");
    if (reads & 4) y = save(out.detach(), "the output");
  }
};

// A row whose derivative reads no tensor (add, sub, neg): a plain node, nothing to save.
struct NothingSaved : Node {
  static inline const Tensor a, b, y;  // never set: for the derivative's names only
  void save_operands(unsigned, const Tensor&, const Tensor*, const Tensor&) {}
  static const Tensor& saved_output(const Tensor& t, Tensor&) { return t; }
};
template <unsigned Reads>
using RowNode = std::conditional_t<Reads == 0, NothingSaved, ElementwiseNode>;

#define NDGRAD_UNARY_OP(name_, dtypes, domain, fusion, saves, g_reads, derivative) \
  struct name_##_node final : RowNode<kReads_##saves> {                            \
    NDGRAD_OP_NAME(#name_)                                                         \
    static constexpr UnaryOp kOp = UnaryOp::name_;                                 \
    static constexpr unsigned kReads = kReads_##saves;                             \
    GradList backward(const Tensor& g) override {                                  \
      const Offer offer(offered(g, kernels::info(kOp).reads_grad_once), nullptr);  \
      [[maybe_unused]] const Tensor& x = a;                                        \
      Tensor linked;                                                               \
      [[maybe_unused]] const Tensor& y = saved_output(this->y, linked);            \
      using namespace derivatives;                                                 \
      return grad_list(derivative);                                                \
    }                                                                              \
  };
#define NDGRAD_BINARY_OP(name_, dtypes, domain, fusion, saves_a, saves_b, g_reads, grad_a, grad_b) \
  struct name_##_node final : RowNode<kReads_##saves_a | kReads_##saves_b> {                       \
    NDGRAD_OP_NAME(#name_)                                                                         \
    static constexpr BinaryOp kOp = BinaryOp::name_;                                               \
    static constexpr unsigned kReadsA = kReads_##saves_a, kReadsB = kReads_##saves_b;              \
    GradList backward(const Tensor& g) override {                                                  \
      const Offer offer(offered(g, kernels::info(kOp).reads_grad_once&& needs(0) != needs(1)),     \
                        nullptr);                                                                  \
      Tensor linked;                                                                               \
      [[maybe_unused]] const Tensor& y = saved_output(this->y, linked);                            \
      using namespace derivatives;                                                                 \
      GradList grads;                                                                              \
      grads.emplace_back(needs(0) ? Tensor(grad_a) : Tensor());                                    \
      grads.emplace_back(needs(1) ? Tensor(grad_b) : Tensor());                                    \
      return grads;                                                                                \
    }                                                                                              \
    int broadcast_core_dims() const override { return 0; }                                         \
  };
#include "ndgrad/op_table.def"

// offer: x is a temporary (an rvalue) whose memory the result may take, unless the op's
// derivative will read it.
template <class N>
Tensor unary_op(const Tensor& x, bool offer = false) {
  Ref<N> node;  // built first: its edges hold x's producer, should x be reused
  if constexpr (kernels::info(N::kOp).differentiable) node = prepare<N>({&x});
  const bool lend = offer && x.defined() && !(N::kReads & kReads_x && node);
  Tensor out;
  {
    const Offer lent(lend ? &x : nullptr, nullptr, /*temporary=*/true);
    out = unary_forward(N::kOp, x);
  }
  if (node) {
    N* raw = node.get();
    adopt(out, std::move(node));
    raw->save_operands(N::kReads, x, nullptr, out);
  }
  return out;
}

// offer: bit 0 a, bit 1 b, temporaries whose memory the result may take, unless the op's
// derivative will read them.
template <class N>
Tensor binary_op(const Tensor& a, const Tensor& b, const void* call_site, unsigned offer = 0) {
  Ref<N> node;  // built first: its edges hold the producers of reused operands
  if constexpr (kernels::info(N::kOp).differentiable) node = prepare<N>({&a, &b});
  const unsigned reads =
      node ? (node->needs(0) ? N::kReadsA : 0) | (node->needs(1) ? N::kReadsB : 0) : 0;
  offer &= ~reads;  // only what the needed gradients will not read
  if (offer & 1 && !a.defined()) offer &= ~1u;
  if (offer & 2 && !b.defined()) offer &= ~2u;
  Tensor out;
  {
    const Offer lent(offer & 1 ? &a : nullptr, offer & 2 ? &b : nullptr, /*temporary=*/true);
    out = binary_forward(N::kOp, a, b, call_site);
  }
  if (node) {
    N* raw = node.get();
    adopt(out, std::move(node));
    raw->save_operands(reads, a, &b, out);
  }
  return out;
}

// Whether a row computes two non-floating operands in f64 and gives f32.
constexpr bool to_f32_through_f64(DTypeRule rule) {
  return rule == DTypeRule::true_divide || rule == DTypeRule::floating_promote;
}

// The 0-d operand for a scalar in a binary op: its dtype follows the scalar's kind
// (scalar_like); a comparison of a non-floating tensor with a floating scalar is made in f64
// (3 < 3.5 holds, i64 values up to 2^53 compare exactly), and so are true division and the
// floating_promote rows (t / 7.0 and t / 7 give the same quotient, rounded once to f32).
const Tensor& scalar_operand(BinaryOp op, double value, const Tensor& t) {
  const kernels::OpInfo& info = kernels::info(op);
  if (to_f32_through_f64(info.dtypes) && t.defined() && !is_floating(t.impl()->dtype)) {
    thread_local Tensor holder;
    holder = scalar(value, DType::f64);
    return holder;
  }
  return scalar_like(value, t, info.name,
                     info.dtypes == DTypeRule::comparison ? DType::f64 : DType::f32);
}
// An integer scalar takes an i32, u8 or i8 tensor's dtype (NumPy 2); one outside that dtype's
// range is a ValueError (NumPy's OverflowError), except where the result is exact anyway: a
// comparison, made in i64, or a true division or floating_promote row, made in f64.
const Tensor& scalar_operand(BinaryOp op, int64_t value, const Tensor& t) {
  const kernels::OpInfo& info = kernels::info(op);
  if (t.defined()) {
    const DType td = t.impl()->dtype;
    if (is_storage_only(td) && !is_floating(td) && !integer_scalar_fits(value, td) &&
        info.dtypes != DTypeRule::comparison && !to_f32_through_f64(info.dtypes))
      throw ValueError(std::string(info.name) + ": the integer scalar " + std::to_string(value) +
                       " is out of range for the " + dtype_name(td) +
                       " tensor; convert the tensor with .to(DType::i64)");
  }
  return scalar_like(value, t, info.name);
}

// op(t, value) or op(value, t) (scalar_first): a 0-d operand from scalar_operand; a true
// division (or floating_promote row) that it makes in f64 gives f32, as two tensors would.
template <class N, class S>
Tensor with_scalar(const Tensor& t, S value, bool scalar_first, const void* call_site,
                   bool offer = false) {
  const Tensor& s = scalar_operand(N::kOp, value, t);
  const DType t_dtype = t.defined() ? t.impl()->dtype : DType::f32;  // t may be taken below
  Tensor out = scalar_first ? binary_op<N>(s, t, call_site, offer ? 2 : 0)
                            : binary_op<N>(t, s, call_site, offer ? 1 : 0);
  if constexpr (to_f32_through_f64(kernels::info(N::kOp).dtypes) && std::is_same_v<S, double>)
    if (!is_floating(t_dtype) && out.impl()->dtype == DType::f64) return out.to(DType::f32);
  return out;
}

}  // namespace

// The table's public functions, with their scalar forms; rvalue operands are offered.
#define NDGRAD_UNARY_OP(name, ...)                                  \
  Tensor name(const Tensor& x) { return unary_op<name##_node>(x); } \
  Tensor name(Tensor&& x) { return unary_op<name##_node>(x, true); }
#define NDGRAD_BINARY_OP(name, ...) NDGRAD_BINARY_FORMS(name, name)
#define NDGRAD_BINARY_FORMS(fn, row)                                                \
  Tensor fn(const Tensor& a, const Tensor& b) {                                     \
    return binary_op<row##_node>(a, b, __builtin_return_address(0));                \
  }                                                                                 \
  Tensor fn(Tensor&& a, const Tensor& b) {                                          \
    return binary_op<row##_node>(a, b, __builtin_return_address(0), 1);             \
  }                                                                                 \
  Tensor fn(const Tensor& a, Tensor&& b) {                                          \
    return binary_op<row##_node>(a, b, __builtin_return_address(0), 2);             \
  }                                                                                 \
  Tensor fn(Tensor&& a, Tensor&& b) {                                               \
    return binary_op<row##_node>(a, b, __builtin_return_address(0), 3);             \
  }                                                                                 \
  Tensor fn(const Tensor& a, double b) {                                            \
    return with_scalar<row##_node>(a, b, false, __builtin_return_address(0));       \
  }                                                                                 \
  Tensor fn(Tensor&& a, double b) {                                                 \
    return with_scalar<row##_node>(a, b, false, __builtin_return_address(0), true); \
  }                                                                                 \
  Tensor fn(double a, const Tensor& b) {                                            \
    return with_scalar<row##_node>(b, a, true, __builtin_return_address(0));        \
  }                                                                                 \
  Tensor fn(double a, Tensor&& b) {                                                 \
    return with_scalar<row##_node>(b, a, true, __builtin_return_address(0), true);  \
  }                                                                                 \
  Tensor fn(const Tensor& a, int64_t b) {                                           \
    return with_scalar<row##_node>(a, b, false, __builtin_return_address(0));       \
  }                                                                                 \
  Tensor fn(Tensor&& a, int64_t b) {                                                \
    return with_scalar<row##_node>(a, b, false, __builtin_return_address(0), true); \
  }                                                                                 \
  Tensor fn(int64_t a, const Tensor& b) {                                           \
    return with_scalar<row##_node>(b, a, true, __builtin_return_address(0));        \
  }                                                                                 \
  Tensor fn(int64_t a, Tensor&& b) {                                                \
    return with_scalar<row##_node>(b, a, true, __builtin_return_address(0), true);  \
  }
#include "ndgrad/op_table.def"

// The operators are spellings of table rows.
Tensor operator-(const Tensor& a) { return unary_op<neg_node>(a); }
Tensor operator-(Tensor&& a) { return unary_op<neg_node>(a, true); }
NDGRAD_BINARY_FORMS(operator+, add)
NDGRAD_BINARY_FORMS(operator-, sub)
NDGRAD_BINARY_FORMS(operator*, mul)
NDGRAD_BINARY_FORMS(operator/, div)
#define NDGRAD_COMPARISON(symbol, row)                                        \
  Tensor operator symbol(const Tensor& a, const Tensor& b) {                  \
    return binary_op<row##_node>(a, b, __builtin_return_address(0));          \
  }                                                                           \
  Tensor operator symbol(const Tensor& a, double b) {                         \
    return with_scalar<row##_node>(a, b, false, __builtin_return_address(0)); \
  }                                                                           \
  Tensor operator symbol(double a, const Tensor& b) {                         \
    return with_scalar<row##_node>(b, a, true, __builtin_return_address(0));  \
  }                                                                           \
  Tensor operator symbol(const Tensor& a, int64_t b) {                        \
    return with_scalar<row##_node>(a, b, false, __builtin_return_address(0)); \
  }                                                                           \
  Tensor operator symbol(int64_t a, const Tensor& b) {                        \
    return with_scalar<row##_node>(b, a, true, __builtin_return_address(0));  \
  }
NDGRAD_COMPARISON(==, equal)
NDGRAD_COMPARISON(!=, not_equal)
NDGRAD_COMPARISON(<, less)
NDGRAD_COMPARISON(<=, less_equal)
NDGRAD_COMPARISON(>, greater)
NDGRAD_COMPARISON(>=, greater_equal)
#undef NDGRAD_COMPARISON
#undef NDGRAD_BINARY_FORMS

namespace detail {
void throw_scalar_out_of_range(const char* op, unsigned long long value) {
  throw ValueError(std::string(op) + ": the integer scalar " + std::to_string(value) +
                   " is out of range for i64");
}
}  // namespace detail

namespace {
struct WhereBackward : SavingNode {
  int broadcast_core_dims() const override { return 0; }
  NDGRAD_OP_NAME("where")
  Tensor condition;
  void release_saved() override { condition = Tensor(); }
  GradList backward(const Tensor& g) override {
    const Tensor zero = scalar(0.0, g.dtype());
    return grad_list(needs(0) ? where(condition, g, zero) : Tensor(),
                     needs(1) ? where(condition, zero, g) : Tensor());
  }
};
}  // namespace

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  require_defined_arg(condition, "where", "the condition");
  require_defined_arg(a, "where", "the first choice");
  require_defined_arg(b, "where", "the second choice");
  if (condition.dtype() != DType::boolean)
    throw DTypeError(std::string("where: the condition must be a bool tensor, got ") +
                     dtype_name(condition.dtype()));
  const Dims shape =
      broadcast_shapes_for(broadcast_shapes_for(condition.impl()->shape, a.impl()->shape, "where"),
                           b.impl()->shape, "where");
  checked_numel(shape, "where");
  const void* site = __builtin_return_address(0);
  check_strict_broadcast_where(condition.impl()->shape, a.impl()->shape, b.impl()->shape, shape,
                               site);
  const DType dt = promote_types(a.dtype(), b.dtype());
  Tensor a_cast, b_cast;
  Tensor out = make_tensor(shape, dt, "where");
  OperandOf oc(condition, shape), oa(in_dtype(a, dt, a_cast), shape),
      ob(in_dtype(b, dt, b_cast), shape);
  kernels::where(shape, {out.impl()->data(), out.impl()->strides.data(), dt}, oc.op, oa.op, ob.op);
  if (auto node = record<WhereBackward>(out, {&a, &b}))
    node->condition = node->save(condition, "the condition");
  return out;
}

Tensor where(const Tensor& condition, const Tensor& a, double b) {
  return where(condition, a, scalar_like(b, a, "where"));
}
Tensor where(const Tensor& condition, double a, const Tensor& b) {
  return where(condition, scalar_like(a, b, "where"), b);
}
Tensor where(const Tensor& condition, const Tensor& a, int64_t b) {
  return where(condition, a, scalar_like(b, a, "where"));
}
Tensor where(const Tensor& condition, int64_t a, const Tensor& b) {
  return where(condition, scalar_like(a, b, "where"), b);
}

}  // namespace ndgrad

namespace ndgrad {

void add_into(Tensor& acc, const Tensor& g, bool subtract) {
  const TensorImpl& a = *acc.impl();
  const Dims& shape = a.shape;
  if (is_storage_only(a.dtype)) {  // in the compute dtype, rounded back once
    Tensor sum = raw_cast(acc, compute_dtype(a.dtype));
    add_into(sum, raw_cast(g, compute_dtype(a.dtype)), subtract);
    copy_into(acc, sum);
    return;
  }
  const TensorImpl& gi = *g.impl();
  if (is_floating(a.dtype) && gi.shape == shape && is_contiguous(shape, a.strides) &&
      is_contiguous(gi.shape, gi.strides)) {  // g has acc's dtype (the contract)
    // The common case (a gradient added to a buffer of its own shape): one flat loop, no
    // broadcasting set-up.
    char* to = a.data();  // first: a write to acc computes what reads it
    kernels::accumulate(a.dtype, numel_of(shape), to, gi.read_data(), subtract);
    return;
  }
  OperandOf out(acc, shape, Access::write), in(g, shape);
  kernels::binary(subtract ? BinaryOp::sub : BinaryOp::add, shape, out.op, out.op, in.op);
}

}  // namespace ndgrad
