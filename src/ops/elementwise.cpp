// Elementwise ops. Binary ones broadcast like NumPy; each backward returns gradients in the
// broadcast output's shape and the engine sums them back to each input's shape.
#include <cmath>

#include "autograd/strict.hpp"
#include "ops/lazy.hpp"
#include "ops/ops_common.hpp"

namespace ndgrad {

using kernels::BinaryOp;
using kernels::UnaryOp;

namespace {

// Whether op(a, b) (or op(a) when b is null) into out (contiguous) is one flat run: each input
// laid out like out, or one value, and few enough elements for one thread. Saves the kernel
// examining strides.
bool flat_operands(const TensorImpl& out, const TensorImpl& a, const TensorImpl* b,
                   kernels::FlatRun& f) {
  const int64_t n = numel_of(out.shape);
  if (n == 0 || n >= kernels::kFlatMax) return false;
  auto step = [&](const TensorImpl& t) -> int64_t {
    if (t.shape.empty()) return 0;
    return t.shape == out.shape && t.strides == out.strides ? 1 : -1;
  };
  f = {n, step(a), b ? step(*b) : 0};
  return f.a_step >= 0 && f.b_step >= 0;
}

Tensor unary_forward(UnaryOp op, const Tensor& x, const char* name, bool floating_only = true) {
  require_defined_arg(x, name);
  if (floating_only || x.dtype() == DType::boolean) require_floating(x, name);
  if (op == UnaryOp::neg && lazy::large(x.impl()->shape))
    if (Tensor pending = lazy::neg(x); pending.defined()) return pending;
  Tensor out = make_tensor_of_valid_shape(x.impl()->shape, x.impl()->dtype, name);
  const TensorImpl &o = *out.impl(), &xi = *x.impl();
  kernels::FlatRun flat;
  const bool is_flat = flat_operands(o, xi, nullptr, flat);
  kernels::unary(op, o.shape, {o.data(), o.strides.data(), o.dtype},
                 {xi.data(), xi.strides.data(), xi.dtype}, is_flat ? &flat : nullptr);
  return out;
}

// op(a, b) into out's buffer (a contiguous result of shape `shape`; a and b in the op's dtype):
// as a flat run when flat_operands allows, through the broadcasting kernel otherwise.
void binary_into(BinaryOp op, const Dims& shape, const TensorImpl& out, const Tensor& a,
                 const Tensor& b) {
  const TensorImpl &ai = *a.impl(), &bi = *b.impl();
  const kernels::Operand o{out.data(), out.strides.data(), out.dtype};
  kernels::FlatRun flat;
  if (flat_operands(out, ai, &bi, flat)) {
    kernels::binary(op, shape, o, {ai.data(), nullptr, ai.dtype}, {bi.data(), nullptr, bi.dtype},
                    &flat);
    return;
  }
  OperandOf oa(a, shape), ob(b, shape);
  kernels::binary(op, shape, o, oa.op, ob.op);
}

// call_site: the return address in the user's code, for strict broadcasting's message.
Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const char* name,
                      const void* call_site = nullptr) {
  if (!a.defined() || !b.defined()) {
    require_defined_arg(a, name, "the first operand");
    require_defined_arg(b, name, "the second operand");
  }
  // The result's shape; no new vector when one operand already has it (the common cases).
  const Dims& sa = a.impl()->shape;
  const Dims& sb = b.impl()->shape;
  Dims computed;
  const bool same = sa == sb || sb.empty();
  if (!same && !sa.empty()) computed = broadcast_shapes_for(sa, sb, name);
  const Dims& shape = same ? sa : (sa.empty() ? sb : computed);
  check_strict_broadcast(name, sa, sb, shape, call_site);
  if (!same && !sa.empty()) checked_numel(shape, name);  // a new shape; operands' are valid
  const DType da = a.impl()->dtype, db = b.impl()->dtype;
  const DType dt = da == db ? da : promote_types(da, db);
  const bool compare = kernels::is_comparison(op);
  if (!compare && dt == DType::boolean)
    throw DTypeError(std::string(name) + " is not defined for bool tensors; convert with .to()");
  if (!compare && lazy::large(shape))
    if (Tensor pending = lazy::binary(op, a, b, shape, dt, name); pending.defined()) return pending;
  Tensor a_cast, b_cast;
  const DType out_dt = compare ? DType::boolean : dt;
  // An operand's shape, or checked above.
  Tensor out = make_tensor_of_valid_shape(shape, out_dt, name);
  binary_into(op, shape, *out.impl(), in_dtype(a, dt, a_cast), in_dtype(b, dt, b_cast));
  return out;
}

// For backward rules outside create_graph: op(a, b) where g, one of a and b, is the gradient
// the engine handed to the rule. When nothing else holds g (not its handle, not its memory) and
// it already has the result's shape, dtype and a contiguous layout, the result is written over
// g's own buffer and g is returned: no new tensor for an elementwise rule's result. Otherwise,
// and for large (lazy) shapes, as binary_forward.
Tensor binary_into_grad(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& g,
                        const char* name) {
  const TensorImpl& gi = *g.impl();
  const Tensor& other = &g == &a ? b : a;
  const TensorImpl& oi = *other.impl();
  const bool fits = g.impl().use_count() == 1 && gi.storage.use_count() == 1 &&
                    oi.dtype == gi.dtype && !lazy::large(gi.shape) &&
                    (oi.shape == gi.shape || oi.shape.empty()) && g.is_contiguous() &&
                    !lazy::pending(g) && !lazy::pending(other);
  if (!fits) return binary_forward(op, a, b, name);
  binary_into(op, gi.shape, gi, a, b);
  return g;
}

// A node that can reuse its forward output: the saved copy carries no autograd link (no
// reference cycle). With create_graph the rule recomputes it from the input, so that second
// derivatives see the dependency.
struct SavesOutput : SavingNode {
  Tensor x, out;
  void release_saved() override { x = out = Tensor(); }
  template <class F>
  Tensor output(F recompute) const {
    return is_grad_enabled() ? recompute(x) : out;
  }
};

template <class N>
Tensor unary_with_output(UnaryOp op, const Tensor& x, const char* name) {
  Tensor out = unary_forward(op, x, name);
  if (auto node = record<N>(out, {&x})) {
    // The rule reads the output, or the input when it is recorded (create_graph).
    node->x = node->save(x, "the input", SavingNode::kWithCreateGraph);
    node->out = node->save(out.detach(), "the output", SavingNode::kWithoutCreateGraph);
  }
  return out;
}

struct AddBackward : Node {
  int broadcast_core_dims() const override { return 0; }
  NDGRAD_OP_NAME("add")
  GradList backward(const Tensor& g) override { return grad_list(g, g); }
};

struct SubBackward : Node {
  int broadcast_core_dims() const override { return 0; }
  NDGRAD_OP_NAME("sub")
  bool fold = false;  // b's gradient returned as g, for the engine to subtract
  GradList backward(const Tensor& g) override {
    // b a leaf (x in y - x): no -g tensor, the engine subtracts g from x's gradient. Not when
    // the backward is recorded (create_graph) nor for large gradients (their -g is lazy).
    fold = needs(1) && !edges[1].fn && !is_grad_enabled() && !lazy::large(g.impl()->shape);
    if (fold) return grad_list(g, g);
    return grad_list(g, needs(1) ? -g : Tensor());
  }
  bool negated(size_t i) const override { return i == 1 && fold; }
};

struct MulBackward : SavingNode {
  int broadcast_core_dims() const override { return 0; }
  NDGRAD_OP_NAME("mul")
  Tensor a, b;
  bool reads(size_t operand) const { return needs(1 - operand); }  // ga = g b, gb = g a
  void release_saved() override { a = b = Tensor(); }
  GradList backward(const Tensor& g) override {
    if (!is_grad_enabled()) {
      // The second product may be written over g: the first is taken before it.
      Tensor ga = needs(0) ? (needs(1) ? g * b : binary_into_grad(BinaryOp::mul, g, b, g, "mul"))
                           : Tensor();
      Tensor gb = needs(1) ? binary_into_grad(BinaryOp::mul, g, a, g, "mul") : Tensor();
      return grad_list(std::move(ga), std::move(gb));
    }
    return grad_list(needs(0) ? g * b : Tensor(), needs(1) ? g * a : Tensor());
  }
};

struct DivBackward : SavingNode {
  int broadcast_core_dims() const override { return 0; }
  NDGRAD_OP_NAME("div")
  Tensor a, b;
  bool reads(size_t operand) const { return operand == 1 || needs(1); }
  void release_saved() override { a = b = Tensor(); }
  GradList backward(const Tensor& g) override {
    // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
    return grad_list(needs(0) ? g / b : Tensor(), needs(1) ? -(g * a) / (b * b) : Tensor());
  }
};

struct NegBackward : Node {
  NDGRAD_OP_NAME("neg")
  GradList backward(const Tensor& g) override { return grad_list(-g); }
};

struct PowScalarBackward : SavingNode {
  NDGRAD_OP_NAME("pow_scalar")
  Tensor x;
  double exponent = 0;
  void release_saved() override { x = Tensor(); }
  GradList backward(const Tensor& g) override {
    if (exponent == 0) return grad_list(zeros_like(g));
    return grad_list(g * (exponent * pow(x, exponent - 1)));
  }
};

struct PowBackward : SavingNode {
  int broadcast_core_dims() const override { return 0; }
  NDGRAD_OP_NAME("pow")
  Tensor a, b, out;
  void release_saved() override { a = b = out = Tensor(); }
  GradList backward(const Tensor& g) override {
    // d(a^b)/da = b a^(b-1), 0 where b == 0 (not 0 * 0^-1 = NaN at a = 0);
    // d(a^b)/db = a^b log(a), 0 where a == 0 and b >= 0 (not 0 * log 0 = NaN, nor 1 * -inf):
    // PyTorch's conventions. The masked entries are computed from stand-ins (b = 1, a = 1) so
    // that no inf or NaN sits in where's unselected branch, where it would reach second
    // derivatives (create_graph) as 0 * inf.
    const Tensor zero = scalar(0.0, g.dtype());
    const Tensor one = scalar(1.0, g.dtype());
    Tensor ga, gb;
    if (needs(0)) {
      const Tensor b_zero = b == 0.0;
      const Tensor b_safe = where(b_zero, one, b);
      ga = where(b_zero, zero, g * b_safe * pow(a, b_safe - 1.0));
    }
    if (needs(1)) {
      Tensor y = is_grad_enabled() ? pow(a, b) : out;
      const Tensor a_zero = where(a == 0.0, b >= 0.0, scalar(0.0, DType::boolean));
      gb = where(a_zero, zero, g * y * log(where(a_zero, one, a)));
    }
    return grad_list(std::move(ga), std::move(gb));
  }
};

struct ExpBackward : SavesOutput {
  NDGRAD_OP_NAME("exp")
  GradList backward(const Tensor& g) override {
    return grad_list(g * output([](const Tensor& x) { return exp(x); }));
  }
};

struct LogBackward : SavingNode {
  NDGRAD_OP_NAME("log")
  Tensor x;
  void release_saved() override { x = Tensor(); }
  GradList backward(const Tensor& g) override { return grad_list(g / x); }
};

struct SqrtBackward : SavesOutput {
  NDGRAD_OP_NAME("sqrt")
  GradList backward(const Tensor& g) override {
    return grad_list(g / (2.0 * output([](const Tensor& x) { return sqrt(x); })));
  }
};

struct TanhBackward : SavesOutput {
  NDGRAD_OP_NAME("tanh")
  GradList backward(const Tensor& g) override {
    if (!is_grad_enabled())
      return grad_list(binary_into_grad(BinaryOp::tanh_grad, out, g, g, "tanh backward"));
    Tensor y = tanh(x);  // recomputed, so that second derivatives see the dependency
    return grad_list(g * (1.0 - y * y));
  }
};

struct SigmoidBackward : SavesOutput {
  NDGRAD_OP_NAME("sigmoid")
  GradList backward(const Tensor& g) override {
    if (!is_grad_enabled())
      return grad_list(binary_into_grad(BinaryOp::sigmoid_grad, out, g, g, "sigmoid backward"));
    Tensor y = sigmoid(x);
    return grad_list(g * (y * (1.0 - y)));
  }
};

struct ReluBackward : SavingNode {
  NDGRAD_OP_NAME("relu")
  Tensor x;
  void release_saved() override { x = Tensor(); }
  GradList backward(const Tensor& g) override {
    // Differentiable in g when a graph is recorded (create_graph); one fused pass otherwise.
    // g where x is NaN, as relu_grad: relu passes NaN through.
    if (is_grad_enabled()) return grad_list(where(x <= 0.0, scalar(0.0, g.dtype()), g));
    return grad_list(binary_into_grad(BinaryOp::relu_grad, x, g, g, "relu backward"));
  }
};

struct AbsBackward : SavingNode {
  NDGRAD_OP_NAME("abs")
  Tensor x;
  void release_saved() override { x = Tensor(); }
  GradList backward(const Tensor& g) override { return grad_list(g * sign(x)); }
};

// maximum/minimum: the gradient goes to the selected operand; a tie splits it evenly. A NaN
// operand is the one selected (NaN wins, as in the forward kernel), so it gets the gradient.
struct SelectBackward : SavingNode {
  int broadcast_core_dims() const override { return 0; }
  Tensor a, b;
  bool is_max = true;
  bool reads(size_t) const { return true; }  // the forward's choice, for either gradient
  void release_saved() override { a = b = Tensor(); }
  GradList backward(const Tensor& g) override {
    const Tensor zero = scalar(0.0, g.dtype());
    const Tensor is_tie = a == b;  // false when either is NaN
    const Tensor half = g * 0.5;
    // The forward's choice of a: strictly better, or NaN.
    const Tensor a_wins = where(a != a, scalar(1.0, DType::boolean), is_max ? a > b : a < b);
    return grad_list(needs(0) ? where(a_wins, g, where(is_tie, half, zero)) : Tensor(),
                     needs(1) ? where(a_wins, zero, where(is_tie, half, g)) : Tensor());
  }
};
struct MaximumBackward : SelectBackward {
  NDGRAD_OP_NAME("maximum")
};
struct MinimumBackward : SelectBackward {
  NDGRAD_OP_NAME("minimum")
  MinimumBackward() { is_max = false; }
};

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

template <class N>
Tensor binary_saving(BinaryOp op, const Tensor& a, const Tensor& b, const char* name,
                     const void* call_site) {
  Tensor out = binary_forward(op, a, b, name, call_site);
  if (auto node = record<N>(out, {&a, &b})) {  // only what the rule will read
    if (node->reads(0)) node->a = node->save(a, "the first operand");
    if (node->reads(1)) node->b = node->save(b, "the second operand");
  }
  return out;
}

}  // namespace

Tensor operator+(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::add, a, b, "add", __builtin_return_address(0));
  record<AddBackward>(out, {&a, &b});
  return out;
}

Tensor operator-(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::sub, a, b, "sub", __builtin_return_address(0));
  record<SubBackward>(out, {&a, &b});
  return out;
}

Tensor operator*(const Tensor& a, const Tensor& b) {
  return binary_saving<MulBackward>(BinaryOp::mul, a, b, "mul", __builtin_return_address(0));
}

namespace {

// `/` of two integer or bool tensors: true division, in f64 so that the f32 result is the
// quotient rounded once (exact for integers up to 2^53). Neither can carry a gradient.
Tensor divide_non_floating(const Tensor& a, const Tensor& b, const void* call_site) {
  Tensor q = binary_forward(BinaryOp::div, a.to(DType::f64), b.to(DType::f64), "div", call_site);
  return q.to(DType::f32);
}

}  // namespace

Tensor operator/(const Tensor& a, const Tensor& b) {
  // For a floating a this is decided by a's dtype alone; b is examined only after an i64 or
  // bool a (an undefined operand goes on to binary_forward's error).
  if (a.defined() && !is_floating(a.impl()->dtype) && b.defined() && !is_floating(b.impl()->dtype))
    return divide_non_floating(a, b, __builtin_return_address(0));
  return binary_saving<DivBackward>(BinaryOp::div, a, b, "div", __builtin_return_address(0));
}

Tensor floor_divide(const Tensor& a, const Tensor& b) {
  return binary_forward(BinaryOp::floor_div, a, b, "floor_divide", __builtin_return_address(0));
}

Tensor operator-(const Tensor& a) {
  Tensor out = unary_forward(UnaryOp::neg, a, "neg", false);
  record<NegBackward>(out, {&a});
  return out;
}

// The scalar forms: the 0-d operand's dtype follows the scalar's kind (scalar_like).
#define NDGRAD_SCALAR_OPERATOR(symbol, name)                                                      \
  Tensor operator symbol(const Tensor& a, double b) { return a symbol scalar_like(b, a, name); }  \
  Tensor operator symbol(double a, const Tensor& b) { return scalar_like(a, b, name) symbol b; }  \
  Tensor operator symbol(const Tensor& a, int64_t b) { return a symbol scalar_like(b, a, name); } \
  Tensor operator symbol(int64_t a, const Tensor& b) { return scalar_like(a, b, name) symbol b; }
NDGRAD_SCALAR_OPERATOR(+, "add")
NDGRAD_SCALAR_OPERATOR(-, "sub")
NDGRAD_SCALAR_OPERATOR(*, "mul")
#undef NDGRAD_SCALAR_OPERATOR
// An integer or bool tensor with a floating scalar divides in f64 too, so that t / 7.0 and
// t / 7 give the same quotient, rounded once to f32.
Tensor operator/(const Tensor& a, double b) {
  if (a.defined() && !is_floating(a.impl()->dtype))
    return divide_non_floating(a, scalar(b, DType::f64), __builtin_return_address(0));
  return a / scalar_like(b, a, "div");
}
Tensor operator/(double a, const Tensor& b) {
  if (b.defined() && !is_floating(b.impl()->dtype))
    return divide_non_floating(scalar(a, DType::f64), b, __builtin_return_address(0));
  return scalar_like(a, b, "div") / b;
}
Tensor operator/(const Tensor& a, int64_t b) { return a / scalar_like(b, a, "div"); }
Tensor operator/(int64_t a, const Tensor& b) { return scalar_like(a, b, "div") / b; }

Tensor floor_divide(const Tensor& a, double b) {
  return floor_divide(a, scalar_like(b, a, "floor_divide"));
}
Tensor floor_divide(double a, const Tensor& b) {
  return floor_divide(scalar_like(a, b, "floor_divide"), b);
}
Tensor floor_divide(const Tensor& a, int64_t b) {
  return floor_divide(a, scalar_like(b, a, "floor_divide"));
}
Tensor floor_divide(int64_t a, const Tensor& b) {
  return floor_divide(scalar_like(a, b, "floor_divide"), b);
}

namespace detail {
void throw_scalar_out_of_range(const char* op, unsigned long long value) {
  throw ValueError(std::string(op) + ": the integer scalar " + std::to_string(value) +
                   " is out of range for i64");
}
}  // namespace detail

Tensor pow(const Tensor& base, double exponent) {
  require_defined_arg(base, "pow");
  require_floating(base, "pow");
  Tensor out = binary_forward(BinaryOp::pow, base, scalar(exponent, base.dtype()), "pow");
  if (auto node = record<PowScalarBackward>(out, {&base})) {
    node->x = node->save(base, "the base");
    node->exponent = exponent;
  }
  return out;
}

Tensor pow(const Tensor& base, const Tensor& exponent) {
  require_defined_arg(base, "pow");
  require_defined_arg(exponent, "pow", "the exponent");
  require_floating(base, "pow");
  Tensor out = binary_forward(BinaryOp::pow, base, exponent, "pow", __builtin_return_address(0));
  if (auto node = record<PowBackward>(out, {&base, &exponent})) {
    node->a = node->save(base, "the base");
    node->b = node->save(exponent, "the exponent");
    node->out = node->save(out.detach(), "the output", SavingNode::kWithoutCreateGraph);
  }
  return out;
}

Tensor exp(const Tensor& x) { return unary_with_output<ExpBackward>(UnaryOp::exp, x, "exp"); }
Tensor sqrt(const Tensor& x) { return unary_with_output<SqrtBackward>(UnaryOp::sqrt, x, "sqrt"); }
Tensor tanh(const Tensor& x) { return unary_with_output<TanhBackward>(UnaryOp::tanh, x, "tanh"); }
Tensor sigmoid(const Tensor& x) {
  return unary_with_output<SigmoidBackward>(UnaryOp::sigmoid, x, "sigmoid");
}

Tensor log(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::log, x, "log");
  if (auto node = record<LogBackward>(out, {&x})) node->x = node->save(x, "the input");
  return out;
}

Tensor relu(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::relu, x, "relu", false);
  if (auto node = record<ReluBackward>(out, {&x})) node->x = node->save(x, "the input");
  return out;
}

Tensor abs(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::abs, x, "abs", false);
  if (auto node = record<AbsBackward>(out, {&x})) node->x = node->save(x, "the input");
  return out;
}

Tensor sign(const Tensor& x) { return unary_forward(UnaryOp::sign, x, "sign", false); }

Tensor maximum(const Tensor& a, const Tensor& b) {
  return binary_saving<MaximumBackward>(BinaryOp::maximum, a, b, "maximum",
                                        __builtin_return_address(0));
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  return binary_saving<MinimumBackward>(BinaryOp::minimum, a, b, "minimum",
                                        __builtin_return_address(0));
}

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
  check_strict_broadcast("where", condition.impl()->shape, a.impl()->shape, shape, site);
  check_strict_broadcast("where", a.impl()->shape, b.impl()->shape, shape, site);
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

// A floating scalar compares with an integer or bool tensor in f64 (the result is bool either
// way): 3 < 3.5 holds, and i64 values up to 2^53 compare exactly.
#define NDGRAD_COMPARISON(symbol, kind, name)                                                     \
  Tensor operator symbol(const Tensor& a, const Tensor& b) {                                      \
    return binary_forward(BinaryOp::kind, a, b, name, __builtin_return_address(0));               \
  }                                                                                               \
  Tensor operator symbol(const Tensor& a, double b) {                                             \
    return a symbol scalar_like(b, a, name, DType::f64);                                          \
  }                                                                                               \
  Tensor operator symbol(double a, const Tensor& b) {                                             \
    return scalar_like(a, b, name, DType::f64) symbol b;                                          \
  }                                                                                               \
  Tensor operator symbol(const Tensor& a, int64_t b) { return a symbol scalar_like(b, a, name); } \
  Tensor operator symbol(int64_t a, const Tensor& b) { return scalar_like(a, b, name) symbol b; }

NDGRAD_COMPARISON(==, eq, "equal")
NDGRAD_COMPARISON(!=, ne, "not_equal")
NDGRAD_COMPARISON(<, lt, "less")
NDGRAD_COMPARISON(<=, le, "less_equal")
NDGRAD_COMPARISON(>, gt, "greater")
NDGRAD_COMPARISON(>=, ge, "greater_equal")
#undef NDGRAD_COMPARISON

}  // namespace ndgrad

namespace ndgrad {

void add_into(Tensor& acc, const Tensor& g, bool subtract) {
  const TensorImpl& a = *acc.impl();
  const Dims& shape = a.shape;
  if (is_floating(a.dtype) && g.impl()->shape == shape && acc.is_contiguous() &&
      g.is_contiguous()) {  // g has acc's dtype (the contract)
    // The common case (a gradient added to a buffer of its own shape): one flat loop, no
    // broadcasting set-up.
    kernels::accumulate(a.dtype, acc.numel(), a.data(), g.impl()->data(), subtract);
    return;
  }
  OperandOf out(acc, shape), in(g, shape);
  kernels::binary(subtract ? BinaryOp::sub : BinaryOp::add, shape, out.op, out.op, in.op);
}

}  // namespace ndgrad
