// Decodes bytes into a random op program over a small stack of tensors and runs it forward
// and backward. Every outcome must be a correct result or an ndgrad::Error: any other
// exception, a crash, a sanitizer report, a leak, or a broken invariant is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <vector>

#include "kernels/cpu/op_info.hpp"
#include "ndgrad/function_table.hpp"
#include "ndgrad/ndgrad.hpp"

using namespace ndgrad;
using kernels::Domain;

namespace {

struct Bytes {
  const uint8_t* p;
  size_t n;
  uint8_t next() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  int small(int mod) { return next() % mod; }
  int64_t axis() { return static_cast<int64_t>(next() % 9) - 4; }  // -4..4: some out of range
};

void require(bool ok) {
  if (!ok) std::abort();  // a wrong result: report it as a crash
}

Shape shape_from(Bytes& in, int max_rank, int max_dim) {
  Shape s;
  const int rank = in.small(max_rank + 1);
  for (int i = 0; i < rank; ++i) s.push_back(in.small(max_dim + 1));  // includes 0 and 1
  return s;
}

// The op table's rows (ndgrad/op_table.def), each with its domain (the table's Domain): an
// operand is mapped into it (into_domain), so that the fuzzer reaches values and not only NaN.
struct UnaryRow {
  Tensor (*f)(const Tensor&);
  Domain domain;
};
struct BinaryRow {
  Tensor (*f)(const Tensor&, const Tensor&);
  Domain domain;
};
const UnaryRow kUnaryRows[] = {
#define NDGRAD_UNARY_OP(name, dtypes, domain, ...) \
  {[](const Tensor& x) { return name(x); }, Domain::domain},
#include "ndgrad/op_table.def"
};
const BinaryRow kBinaryRows[] = {
#define NDGRAD_BINARY_OP(name, dtypes, domain, ...) \
  {[](const Tensor& a, const Tensor& b) { return name(a, b); }, Domain::domain},
#include "ndgrad/op_table.def"
};
// The table's reductions, then those written with them.
using Reduction = Tensor (*)(const Tensor&, const std::vector<int64_t>&, bool);
const Reduction kReductions[] = {
#define NDGRAD_REDUCTION_OP(name, ...) \
  [](const Tensor& x, const std::vector<int64_t>& axes, bool keep) { return name(x, axes, keep); },
#include "ndgrad/op_table.def"
    [](const Tensor& x, const std::vector<int64_t>& axes, bool keep) {
      return mean(x, axes, keep);
    },
    [](const Tensor& x, const std::vector<int64_t>& axes, bool keep) {
      return logsumexp(x, axes, keep);
    },
    [](const Tensor& x, const std::vector<int64_t>& axes, bool keep) {
      return var(x, axes, 1.0, keep);
    },
    [](const Tensor& x, const std::vector<int64_t>& axes, bool keep) {
      return ndgrad::std(x, axes, 0.0, keep);
    },
    [](const Tensor& x, const std::vector<int64_t>& axes, bool keep) {
      return norm(x, 3.0, axes, keep);
    },
    [](const Tensor& x, const std::vector<int64_t>& axes, bool keep) {
      return nanmean(x, axes, keep);
    },
    [](const Tensor& x, const std::vector<int64_t>& axes, bool keep) { return any(x, axes, keep); },
};
constexpr int kReductionCount = sizeof(kReductions) / sizeof(kReductions[0]);
constexpr int kUnaryCount = sizeof(kUnaryRows) / sizeof(kUnaryRows[0]);
constexpr int kBinaryCount = sizeof(kBinaryRows) / sizeof(kBinaryRows[0]);

// The function table's rows marked fuzz (ndgrad/function_table.def), each with the kinds of
// its first case's arguments (tensors, numbers, indices, ...): a call gets fuzzed arguments of
// those kinds, a tensor from the stack for each tensor.
namespace fn_table {
using namespace functions::cases;  // the cases column's S, N, C, I, M, K, Str
struct Row {
  const functions::Function* fn;
  std::vector<Case> cases;  // the row's cases: the fuzzer draws arguments of their kinds
};
#define NDGRAD_IF_FUZZ_fuzz(...) __VA_ARGS__
#define NDGRAD_IF_FUZZ_no_fuzz(...)
const std::vector<Row>& rows() {
  static const std::vector<Row> out = [] {
    std::vector<Row> r;
    size_t i = 0;
#define NDGRAD_UNPAREN(...) \
  { __VA_ARGS__ }
#define NDGRAD_FUNCTION(name, form, domain, gradient, fuzz, cases, ...) \
  {                                                                     \
    const std::vector<Case> all_cases NDGRAD_UNPAREN cases;             \
    const functions::Function* f = &functions::kFunctions[i++];         \
    NDGRAD_IF_FUZZ_##fuzz(r.push_back({f, all_cases});)(void) f;        \
  }
#include "ndgrad/function_table.def"
#undef NDGRAD_UNPAREN
    return r;
  }();
  return out;
}
}  // namespace fn_table

Tensor positive(const Tensor& t) { return abs(t) + 0.5; }

// t mapped into a domain (first: which operand of a binary row). The domains that only keep
// tests off kinks and jumps (off_integers, apart, ...) leave t as it is: the fuzzer wants them.
Tensor into_domain(const Tensor& t, Domain d, bool first) {
  switch (d) {
    case Domain::positive:
      return positive(t);
    case Domain::positive_first:
    case Domain::positive_second:
      return first == (d == Domain::positive_first) ? positive(t) : t;
    case Domain::unit:
      return tanh(t) * 0.9;
    case Domain::small:
      return tanh(t) * 1.2;
    case Domain::above_one:
      return abs(t) + 1.2;
    case Domain::probability:
      return sigmoid(t);
    case Domain::integers:
      return t.to(DType::i64);
    default:
      return t;
  }
}

void step(Bytes& in, std::vector<Tensor>& stack) {
  const int op = in.small(24);
  auto top = [&](int k) -> Tensor& { return stack[stack.size() - 1 - k]; };
  if (op == 0 || stack.size() < 2) {
    const Shape s = shape_from(in, 4, 4);
    Tensor t = randn(s, in.next(), in.next() & 1 ? DType::f64 : DType::f32);
    if (in.next() & 1) t.requires_grad_();
    stack.push_back(t);
    return;
  }
  Tensor a = top(0), b = top(1), r;
  switch (op) {
    case 1: {  // broadcasting binary ops: every row of the op table, and where
      const int which = in.small(kBinaryCount + 1);
      if (which == kBinaryCount) {
        r = where(a > 0.0, a, b);
      } else {
        const BinaryRow& row = kBinaryRows[which];
        r = row.f(into_domain(a, row.domain, true), into_domain(b, row.domain, false));
      }
      require(r.shape() == broadcast_shapes(a.shape(), b.shape()));
      break;
    }
    case 2: {  // unary: every row of the op table
      const UnaryRow& row = kUnaryRows[in.small(kUnaryCount)];
      r = row.f(into_domain(a, row.domain, true));
      require(r.shape() == a.shape());
      break;
    }
    case 3: {  // reductions: axes may be negative, repeated or out of range
      std::vector<int64_t> axes;
      for (int i = in.small(4); i > 0; --i) axes.push_back(in.axis());
      const bool keep = in.next() & 1;
      r = kReductions[in.small(kReductionCount)](a, axes, keep);
      if (keep) require(r.ndim() == a.ndim());
      break;
    }
    case 4: {  // reshape: targets with -1, several -1, negative and wrong sizes
      Shape target;
      for (int i = in.small(5); i > 0; --i) target.push_back(static_cast<int64_t>(in.small(8)) - 2);
      r = a.reshape(target);
      require(r.numel() == a.numel());
      break;
    }
    case 5:
      r = a.broadcast_to(shape_from(in, 5, 4));
      break;
    case 6:
      r = matmul(a, b);
      break;
    case 7:
      r = a.transpose(in.axis(), in.axis());
      break;
    case 8: {
      std::vector<int64_t> axes;
      for (int i = in.small(5); i > 0; --i) axes.push_back(in.axis());
      r = a.permute(axes);
      break;
    }
    case 9:
      r = in.next() & 1 ? a.squeeze(in.axis()) : a.unsqueeze(in.axis());
      break;
    case 10:
      r = sum_to(a, shape_from(in, 3, 4));
      break;
    case 11:
      r = in.next() & 1 ? a.T() : a.flatten();
      break;
    case 12: {  // dtype changes, including to types that cannot carry gradients
      const DType to[] = {DType::f32, DType::f64, DType::i64, DType::boolean, DType::i32,
                          DType::u8,  DType::i8,  DType::f16, DType::bf16};
      r = a.to(to[in.small(9)]);
      if (in.next() & 1) r = exp(r);  // the integer dtypes and bool give f32
      break;
    }
    case 13: {  // cross-entropy with labels that may be out of range
      std::vector<double> labels;
      const int64_t rows = a.ndim() > 0 ? a.shape()[0] : 1;
      for (int64_t i = 0; i < rows && i < 16; ++i)
        labels.push_back(static_cast<int64_t>(in.small(6)) - 1);
      r = nn::cross_entropy(a, tensor(labels, {static_cast<int64_t>(labels.size())}, DType::i64));
      break;
    }
    case 14: {  // along one axis (which may be out of range); k may be out of range
      const int64_t axis = in.axis(), k = static_cast<int64_t>(in.small(6)) - 1;
      switch (in.small(13)) {
        case 0:
          r = a.argmax(axis, in.next() & 1);
          break;
        case 1:
          r = argmin(a, std::nullopt, in.next() & 1);
          break;
        case 2:
          r = cumsum(a, axis);
          break;
        case 3:
          r = cumprod(a, axis);
          break;
        case 4:
          r = logcumsumexp(a, axis);
          break;
        case 5:
          r = (in.next() & 1 ? cummax(a, axis) : cummin(a, axis)).values;
          break;
        case 6:
          r = sort(a, axis, in.next() & 1).values;
          break;
        case 7:
          r = argsort(a, axis, in.next() & 1);
          break;
        case 8:
          r = topk(a, k, axis, in.next() & 1).values;
          break;
        case 9:
          r = kthvalue(a, k, axis, in.next() & 1).values;
          break;
        case 10:
          r = median(a, axis, in.next() & 1).values;
          break;
        case 11:
          r = diff(a, k, axis);
          break;
        default:
          r = quantile(a, static_cast<double>(in.small(5)) / 4.0, axis);
          break;
      }
      break;
    }
    case 15: {  // a user op over two broadcasting inputs, its rule sometimes wrong; a hook
      const bool wrong_count = in.next() % 8 == 0;
      const CustomOp product{
          "user_product", [](const std::vector<Tensor>& x) { return x[0] * x[1]; },
          [wrong_count](const std::vector<Tensor>& x, const Tensor&, const Tensor& g) {
            if (wrong_count) return std::vector<Tensor>{g};  // AutogradError
            return std::vector<Tensor>{g * x[1], g * x[0]};
          }};
      if (a.requires_grad() && (in.next() & 1))
        a.register_hook([](const Tensor& g) { return g * 2.0; });
      r = product({a, b});
      require(r.shape() == broadcast_shapes(a.shape(), b.shape()));
      break;
    }
    case 16: {  // basic indexing: integers (some out of range), slices with any steps, new axes
      std::vector<TensorIndex> ix;
      for (int i = in.small(5); i > 0; --i) {
        const auto end = [&]() -> std::optional<int64_t> {
          const int v = in.small(12);
          return v == 11 ? std::nullopt : std::optional<int64_t>(v - 5);
        };
        switch (in.small(4)) {
          case 0:
            ix.push_back(static_cast<int64_t>(in.small(9)) - 4);
            break;
          case 1: {
            const auto start = end(), stop = end();
            ix.push_back(Slice(start, stop, static_cast<int64_t>(in.small(7)) - 3));  // 0: error
            break;
          }
          case 2:
            ix.push_back(NewAxis);
            break;
          default:
            ix.push_back(Ellipsis);  // two of them: an error
        }
      }
      r = a.index(ix);
      require(r.numel() <= a.numel());
      break;
    }
    case 17: {  // joining and splitting: mismatched shapes, sizes that do not add up
      const int64_t axis = in.axis();
      switch (in.small(5)) {
        case 0:
          r = cat({a, b}, axis);
          require(r.numel() == a.numel() + b.numel());
          break;
        case 1:
          r = ndgrad::stack({a, b}, axis);
          require(r.numel() == 2 * a.numel());
          break;
        case 2: {
          const auto parts = split(a, static_cast<int64_t>(in.small(4)), axis);
          int64_t total = 0;
          for (const Tensor& p : parts) total += p.numel();
          require(total == a.numel());
          r = parts.back();
          break;
        }
        case 3: {  // sections (0: an error) or split points out of range, unsorted
          const bool sections = in.next() & 1;
          const auto parts = sections ? tensor_split(a, static_cast<int64_t>(in.small(5)), axis)
                                      : tensor_split(a,
                                                     {static_cast<int64_t>(in.small(9)) - 4,
                                                      static_cast<int64_t>(in.small(9)) - 4},
                                                     axis);
          int64_t total = 0;
          for (const Tensor& p : parts) {
            require(p.numel() <= a.numel());
            total += p.numel();
          }
          // Sections cover the axis once; unsorted split points may give overlapping pieces
          // (as in NumPy).
          require(!sections || total == a.numel());
          r = parts.back();
          break;
        }
        case 4: {  // widths that crop past the size, modes whose widths do not fit
          if (a.ndim() > 4) return;  // widths on every axis would multiply the size
          std::vector<std::pair<int64_t, int64_t>> widths;
          for (int64_t d = 0; d < a.ndim(); ++d)
            widths.emplace_back(static_cast<int64_t>(in.small(7)) - 2,
                                static_cast<int64_t>(in.small(7)) - 2);
          r = pad(a, widths, static_cast<PadMode>(in.small(4)), 0.25);
          break;
        }
        default: {
          const auto parts = chunk(a, static_cast<int64_t>(in.small(4)), axis);
          r = parts.front();
        }
      }
      break;
    }
    case 18: {  // advanced indexing: indices out of range, of the wrong dtype or shape
      std::vector<double> iv;
      for (int i = in.small(6); i > 0; --i) iv.push_back(static_cast<double>(in.small(11)) - 5);
      const int64_t n = static_cast<int64_t>(iv.size());
      const Tensor idx = tensor(iv, {n}, in.next() % 8 ? DType::i64 : DType::f32);
      const int64_t axis = in.axis();
      switch (in.small(8)) {
        case 0:
          r = take(a, idx);
          break;
        case 1:
          r = index_select(a, axis, idx);
          break;
        case 2:
          r = gather(a, axis, idx.reshape({n}).broadcast_to({std::max<int64_t>(a.ndim(), 1), n}));
          break;
        case 3:
          r = masked_select(a, b > 0.0);
          require(r.ndim() == 1);
          break;
        case 5:
          r = index_add(a, axis, idx, b);
          break;
        case 6:
          r = scatter_add(a, axis,
                          idx.reshape({n}).broadcast_to({std::max<int64_t>(a.ndim(), 1), n}), b);
          break;
        case 7:
          r = masked_fill(a, b > 0.0, -1.5);
          break;
        default:
          r = nonzero(a).to(DType::f64);
      }
      break;
    }
    case 19: {  // tensors inside index(), writing through indices, repeating, diagonals
      // Repeats and grids multiply sizes: keep a program's tensors small.
      if (a.numel() > 512 || b.numel() > 512) return;
      auto index_tensor = [&]() -> Tensor {
        if (in.next() % 3 == 0) {  // a mask: of a's leading shape, or of a wrong one
          Shape ms = a.shape();
          ms.resize(static_cast<size_t>(std::min<int64_t>(a.ndim(), in.small(3))));
          if (in.next() % 8 == 0 && !ms.empty()) ms[0] += 1;
          return rand(ms, in.next(), DType::f64) > 0.5;
        }
        std::vector<double> iv;
        for (int i = in.small(5); i > 0; --i) iv.push_back(static_cast<double>(in.small(11)) - 5);
        const int64_t n = static_cast<int64_t>(iv.size());
        const Tensor t = tensor(iv, {n}, in.next() % 8 ? DType::i64 : DType::f32);
        return in.next() & 1 ? t.reshape({n, 1}) : t;  // (n, 1) broadcasts against (m,)
      };
      std::vector<TensorIndex> ix;
      for (int i = in.small(4); i > 0; --i) {
        switch (in.small(5)) {
          case 0:
            ix.push_back(static_cast<int64_t>(in.small(7)) - 3);
            break;
          case 1:
            ix.push_back(Slice(static_cast<int64_t>(in.small(5)) - 2, None,
                               static_cast<int64_t>(in.small(5)) - 2));
            break;
          case 2:
            ix.push_back(in.next() & 1 ? TensorIndex(NewAxis) : TensorIndex(Ellipsis));
            break;
          default:
            ix.push_back(index_tensor());
        }
      }
      const int64_t axis = in.axis();
      switch (in.small(10)) {
        case 0:
          r = a.index(ix);
          break;
        case 1:
          r = index_put(a, ix, b, in.next() & 1);
          require(r.shape() == a.shape());
          break;
        case 2: {  // in place, on a copy or on a (possibly grad-requiring) tensor of the stack
          Tensor t = in.next() & 1 ? a.detach().contiguous() : a;
          const std::vector<double> before = t.to_vector();
          try {
            t.index_put_(ix, b, in.next() & 1);
          } catch (const Error&) {
            require(t.to_vector() == before || t.to_vector() != t.to_vector());  // NaN != NaN
            throw;
          }
          r = t;
          break;
        }
        case 3: {
          const Tensor idx = index_tensor();
          r = in.next() & 1 ? scatter(a, axis,
                                      idx.reshape({-1}).broadcast_to(
                                          {std::max<int64_t>(a.ndim(), 1), idx.numel()}),
                                      b)
                            : put_along_axis(a,
                                             idx.reshape({-1}).broadcast_to(
                                                 {std::max<int64_t>(a.ndim(), 1), idx.numel()}),
                                             b, axis);
          break;
        }
        case 4: {
          Shape reps = shape_from(in, 4, 3);
          r = in.next() & 1 ? a.repeat(reps) : tile(a, reps);
          break;
        }
        case 5:
          r = in.next() & 1
                  ? repeat_interleave(a, static_cast<int64_t>(in.small(4)) - 1,
                                      in.next() & 1 ? std::optional<int64_t>(axis) : std::nullopt)
                  : repeat_interleave(a, index_tensor().reshape({-1}), axis);
          break;
        case 6:
          r = diagonal(a, static_cast<int64_t>(in.small(7)) - 3, in.axis(), in.axis());
          break;
        case 7:
          r = in.next() & 1 ? diag(a, static_cast<int64_t>(in.small(7)) - 3)
                            : trace(a, static_cast<int64_t>(in.small(7)) - 3, in.axis(), in.axis());
          break;
        case 8: {
          const auto g = meshgrid({a, b}, in.next() & 1 ? "xy" : "ij");
          r = g[0] * g[1];
          break;
        }
        default:
          r = where(a > 0.0, a, in.next() & 1 ? 0.5 : -2.0);
      }
      break;
    }
    case 20: {  // random numbers: bounds, probabilities and weights that may be invalid
      Generator g(in.next());
      const Shape s = shape_from(in, 3, 4);
      switch (in.small(8)) {
        case 0:
          r = g.randint(static_cast<int64_t>(in.small(9)) - 4,
                        static_cast<int64_t>(in.small(9)) - 4, s,
                        in.next() & 1 ? DType::i64 : DType::f32);
          break;
        case 1:
          r = g.uniform(static_cast<double>(in.small(5)) - 2, static_cast<double>(in.small(5)) - 2,
                        s, DType::f64);
          break;
        case 2:
          r = in.next() & 1 ? g.normal(a, b)
                            : g.normal(0.5, static_cast<double>(in.small(3)) - 1, s);
          break;
        case 3:
          r = in.next() & 1 ? g.bernoulli(a) : g.bernoulli(sigmoid(a));
          break;
        case 4:
          r = in.next() & 1 ? g.permutation(a)
                            : g.permutation(static_cast<int64_t>(in.small(9)) - 1);
          break;
        case 5: {
          const int64_t n = static_cast<int64_t>(in.small(6)) - 1;
          const bool replacement = in.next() & 1;
          r = g.multinomial(in.next() & 1 ? a : abs(a), n, replacement);
          if (a.ndim() == 1 || a.ndim() == 2) require(r.shape().back() == n);
          break;
        }
        case 6: {
          Generator c = g.split();
          require(c.rand({3}).to_vector() != g.rand({3}).to_vector());
          r = c.randn(s);
          break;
        }
        default:
          r = g.rand(s, in.next() & 1 ? DType::f64 : DType::i64);
      }
      break;
    }
    case 21: {  // linear algebra on whatever the stack holds: non-square, empty, 1-d, singular
      namespace la = ndgrad::linalg;
      const Tensor m = in.next() % 4 ? a : a.detach() * 0.0;  // sometimes all zeros (singular)
      switch (in.small(12)) {
        case 0:
          r = la::solve(m, b);
          break;
        case 1:
          r = la::inv(m);
          break;
        case 2:
          r = in.next() & 1 ? la::det(m) : la::slogdet(m).second;
          break;
        case 3:
          r = la::cholesky(matmul(m, m.transpose(-2, -1)) + 0.1, in.next() & 1);
          break;
        case 4: {
          static const char* modes[] = {"reduced", "complete", "r", "full"};
          r = la::qr(m, modes[in.small(4)]).second;
          break;
        }
        case 5:
          r = in.next() & 1 ? la::eigh(m, in.next() & 1 ? "L" : "X").first : la::eigvalsh(m);
          break;
        case 6:
          r = in.next() & 1 ? std::get<1>(la::svd(m, in.next() & 1)) : la::svdvals(m);
          break;
        case 7:
          r = la::lstsq(m, b);
          break;
        case 8:
          r = la::pinv(m);
          break;
        case 9: {
          static const double ords[] = {1, -1, 2, -2, 3, std::numeric_limits<double>::infinity()};
          r = in.next() & 1 ? la::matrix_norm(m, in.next() & 1 ? "fro" : "nuc")
                            : la::matrix_norm(m, ords[in.small(6)]);
          break;
        }
        case 10:
          r = la::matrix_power(m, static_cast<int64_t>(in.small(7)) - 3);
          break;
        default:
          r = la::solve_triangular(m, b, in.next() & 1, in.next() & 1, in.next() & 1);
      }
      break;
    }
    case 22: {  // any row of the function table, with fuzzed arguments of one case's kinds
      const fn_table::Row& row =
          fn_table::rows()[in.small(static_cast<int>(fn_table::rows().size()))];
      using functions::Form;
      const Form::Kind form = row.fn->form.kind;
      functions::Call c;
      size_t next_tensor = 0;
      auto from_stack = [&]() { return top(static_cast<int>(next_tensor++ % stack.size())); };
      if (form == Form::list || form == Form::list_axis) {
        for (int i = in.small(3) + 1; i > 0; --i) c.x.push_back(from_stack());
      } else {
        // One of the row's cases' argument kinds: the optional arguments are fuzzed too.
        for (const fn_table::Arg& arg : row.cases[in.small(static_cast<int>(row.cases.size()))]) {
          switch (arg.kind) {
            case fn_table::Arg::input:
              c.x.push_back(from_stack());
              break;
            case fn_table::Arg::number: {  // integers and halves, some out of range
              const double v = static_cast<double>(in.small(13)) - 4;
              c.x.push_back(scalar(in.next() % 4 ? v : v / 4, DType::f64));
              break;
            }
            case fn_table::Arg::constant: {
              std::vector<double> v;
              for (int i = in.small(4); i > 0; --i)
                v.push_back(static_cast<double>(in.small(7)) / 4 - 0.25);
              c.x.push_back(tensor(v, {static_cast<int64_t>(v.size())}, DType::f64));
              break;
            }
            case fn_table::Arg::indices: {  // out of range, negative, of a wrong dtype
              const Shape s = shape_from(in, 2, 4);
              int64_t n = 1;
              for (int64_t d : s) n *= d;
              std::vector<double> v;
              for (int64_t i = 0; i < n; ++i) v.push_back(static_cast<double>(in.small(11)) - 5);
              c.x.push_back(tensor(v, s, in.next() % 8 ? DType::i64 : DType::f32));
              break;
            }
            case fn_table::Arg::mask:
              c.x.push_back(in.next() & 1 ? top(0) > 0.0
                                          : rand(shape_from(in, 2, 4), in.next()) > 0.5);
              break;
            case fn_table::Arg::ints:
              c.has_ints = true;
              for (int i = in.small(5); i > 0; --i)
                c.ints.push_back(static_cast<int64_t>(in.small(8)) - 3);
              break;
            case fn_table::Arg::text: {  // subscripts, mostly malformed
              static const char alphabet[] = "ijk,.->i";
              for (int i = in.small(12); i > 0; --i) c.text += alphabet[in.small(8)];
              break;
            }
          }
        }
      }
      if (form == Form::axis || form == Form::axis_keepdims || form == Form::list_axis ||
          form == Form::axes) {
        if (in.next() & 1) {
          c.has_ints = true;
          for (int i = form == Form::axes ? in.small(4) : 1; i > 0; --i)
            c.ints.push_back(in.axis());
        }
        c.keepdims = form != Form::axis && form != Form::list_axis && (in.next() & 1);
      }
      // Products, repeats and grids multiply sizes: keep each call's result bounded.
      double product = 1;
      for (const Tensor& t : c.x) product *= static_cast<double>(std::max<int64_t>(t.numel(), 1));
      if (product > (1 << 16)) return;
      r = row.fn->call(c);
      if (!row.fn->differentiable) require(!r.requires_grad());
      break;
    }
    default: {  // backward, possibly twice, possibly with a wrong-shaped gradient
      Tensor s = a.sum();
      if (s.requires_grad()) {
        s.backward(ones({}, s.dtype()), in.next() & 1);
        if (in.next() & 1) s.backward();  // AutogradError unless the graph was retained
      }
      if (a.requires_grad() && (in.next() & 1)) a.backward(ones(shape_from(in, 2, 3), a.dtype()));
      return;
    }
  }
  // Pads, repeats and grids multiply sizes: a large result is checked, not kept for the next ops.
  if (r.defined() && r.numel() > (1 << 12)) return;
  stack.push_back(r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes in{data, size};
  std::vector<Tensor> stack;
  for (int i = 0; i < 40 && in.n > 0; ++i) {
    try {
      step(in, stack);
    } catch (const Error&) {
      // one of the documented errors: fine
    }
    if (stack.size() > 8) stack.erase(stack.begin());
  }
  // Every leaf's gradient, when present, has the leaf's shape and dtype.
  for (const Tensor& t : stack)
    if (t.is_leaf() && t.grad().defined()) {
      require(t.grad().shape() == t.shape());
      require(t.grad().dtype() == t.dtype());
    }
  return 0;
}
