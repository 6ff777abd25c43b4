// Contractions: einsum (NumPy's subscripts, ellipsis and broadcasting included), tensordot,
// dot, vdot, inner, outer and kron. Written with the differentiable ops: a repeated label is a
// diagonal, a label no later operand or the output needs is summed at once, and each pair of
// operands is one batched matrix product (the GEMM) over their shared labels, so the gradient
// is itself a contraction and differentiable again.
#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "ops/ops_common.hpp"

namespace ndgrad {

namespace {

// A label: 0-51 the letters a-z A-Z, 52 and up the axes an ellipsis stands for (52 + k for the
// k-th of the broadcast ellipsis axes, counted from the left of the longest one).
using Label = int;
using Labels = std::vector<Label>;
constexpr Label kEllipsisBase = 52;

char label_char(Label l) {
  return l < 26 ? static_cast<char>('a' + l) : l < 52 ? static_cast<char>('A' + l - 26) : '.';
}

[[noreturn]] void einsum_error(const std::string& subscripts, const std::string& why) {
  throw ValueError("einsum(\"" + subscripts + "\"): " + why);
}

// One term of the subscripts: its letters, and where its ellipsis stands (-1: none).
struct Term {
  Labels letters;
  int ellipsis_at = -1;
};

Term parse_term(const std::string& text, const std::string& subscripts) {
  Term term;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ') continue;
    if (c == '.') {
      if (text.compare(i, 3, "...") != 0 || term.ellipsis_at >= 0)
        einsum_error(subscripts, "'.' must appear as one '...' per term");
      term.ellipsis_at = static_cast<int>(term.letters.size());
      i += 2;
    } else if (c >= 'a' && c <= 'z') {
      term.letters.push_back(c - 'a');
    } else if (c >= 'A' && c <= 'Z') {
      term.letters.push_back(26 + c - 'A');
    } else {
      einsum_error(subscripts,
                   std::string("invalid subscript '") + c + "': use letters a-z, A-Z and '...'");
    }
  }
  return term;
}

// An operand with one label per axis.
struct Labeled {
  Tensor t;
  Labels labels;
};

size_t count(const Labels& ls, Label l) {
  return static_cast<size_t>(std::count(ls.begin(), ls.end(), l));
}
bool has(const Labels& ls, Label l) { return std::find(ls.begin(), ls.end(), l) != ls.end(); }
size_t position(const Labels& ls, Label l) {
  return static_cast<size_t>(std::find(ls.begin(), ls.end(), l) - ls.begin());
}

// Takes the diagonal over each repeated label, then sums the labels nothing else needs.
Labeled simplify(Labeled x, const Labels& needed, const std::string& subscripts) {
  for (bool again = true; again;) {
    again = false;
    for (size_t i = 0; i < x.labels.size() && !again; ++i)
      for (size_t j = i + 1; j < x.labels.size() && !again; ++j)
        if (x.labels[i] == x.labels[j]) {
          if (x.t.shape()[i] != x.t.shape()[j])
            einsum_error(subscripts, std::string("label '") + label_char(x.labels[i]) +
                                         "' is repeated over axes of sizes " +
                                         std::to_string(x.t.shape()[i]) + " and " +
                                         std::to_string(x.t.shape()[j]));
          x.t = x.t.diagonal(0, static_cast<int64_t>(i), static_cast<int64_t>(j));
          const Label l = x.labels[i];
          x.labels.erase(x.labels.begin() + static_cast<std::ptrdiff_t>(j));
          x.labels.erase(x.labels.begin() + static_cast<std::ptrdiff_t>(i));
          x.labels.push_back(l);  // the diagonal is the last axis
          again = true;
        }
  }
  std::vector<int64_t> unneeded;
  Labels kept;
  for (size_t i = 0; i < x.labels.size(); ++i)
    if (has(needed, x.labels[i]))
      kept.push_back(x.labels[i]);
    else
      unneeded.push_back(static_cast<int64_t>(i));
  if (!unneeded.empty()) x = {sum(x.t, unneeded), kept};
  return x;
}

// x's axes in the order `order` (every label of x, each once), broadcast to `sizes`.
Tensor arranged(const Labeled& x, const Labels& order, const std::array<int64_t, 128>& sizes) {
  std::vector<int64_t> perm;
  Shape target;
  bool broadcast = false;
  for (Label l : order) {
    const size_t p = position(x.labels, l);
    perm.push_back(static_cast<int64_t>(p));
    target.push_back(sizes[static_cast<size_t>(l)]);
    broadcast = broadcast || x.t.shape()[p] != target.back();
  }
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i)
    identity = identity && perm[i] == static_cast<int64_t>(i);
  Tensor t = identity ? x.t : x.t.permute(perm);
  return broadcast ? t.broadcast_to(target) : t;
}

int64_t product(const Labels& ls, const std::array<int64_t, 128>& sizes) {
  int64_t n = 1;
  for (Label l : ls) n *= sizes[static_cast<size_t>(l)];
  return n;
}

// a and b contracted over the labels they share that `keep` does not hold: one batched matrix
// product (batch: shared and kept; rows: a's own; columns: b's own).
Labeled contract_pair(const Labeled& a, const Labeled& b, const Labels& keep,
                      const std::array<int64_t, 128>& sizes) {
  Labels batch, rows, inner, cols;
  for (Label l : a.labels) {
    if (!has(b.labels, l))
      rows.push_back(l);
    else if (has(keep, l))
      batch.push_back(l);
    else
      inner.push_back(l);
  }
  for (Label l : b.labels)
    if (!has(a.labels, l)) cols.push_back(l);
  Labels a_order = batch, b_order = batch;
  a_order.insert(a_order.end(), rows.begin(), rows.end());
  a_order.insert(a_order.end(), inner.begin(), inner.end());
  b_order.insert(b_order.end(), inner.begin(), inner.end());
  b_order.insert(b_order.end(), cols.begin(), cols.end());
  const int64_t nb = product(batch, sizes), nr = product(rows, sizes), nk = product(inner, sizes),
                nc = product(cols, sizes);
  const Tensor left = arranged(a, a_order, sizes).reshape({nb, nr, nk});
  const Tensor right = arranged(b, b_order, sizes).reshape({nb, nk, nc});
  Labels labels = batch;
  labels.insert(labels.end(), rows.begin(), rows.end());
  labels.insert(labels.end(), cols.begin(), cols.end());
  Shape shape;
  for (Label l : labels) shape.push_back(sizes[static_cast<size_t>(l)]);
  return {matmul(left, right).reshape(shape), labels};
}

}  // namespace

Tensor einsum(const std::string& subscripts, const std::vector<Tensor>& operands) {
  if (operands.empty()) einsum_error(subscripts, "needs at least one operand");
  for (size_t i = 0; i < operands.size(); ++i)
    require_defined_arg(operands[i], "einsum", ("operand " + std::to_string(i)).c_str());
  const size_t arrow = subscripts.find("->");
  const std::string lhs = subscripts.substr(0, arrow);
  std::vector<Term> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    terms.push_back(parse_term(lhs.substr(start, comma - start), subscripts));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != operands.size())
    einsum_error(subscripts, std::to_string(terms.size()) + " terms for " +
                                 std::to_string(operands.size()) + " operands");
  // Each operand's labels, its ellipsis axes labelled from the right of the longest ellipsis.
  int64_t ellipsis_dims = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    const int64_t nd = operands[i].ndim(), nl = static_cast<int64_t>(terms[i].letters.size());
    if (terms[i].ellipsis_at < 0 ? nd != nl : nd < nl)
      einsum_error(subscripts, "term " + std::to_string(i) + " has " + std::to_string(nl) +
                                   " labels" + (terms[i].ellipsis_at < 0 ? "" : " and '...'") +
                                   " for an operand of shape " + shape_str(operands[i].shape()));
    if (terms[i].ellipsis_at >= 0) ellipsis_dims = std::max(ellipsis_dims, nd - nl);
  }
  std::array<int64_t, 128> sizes;
  sizes.fill(1);
  std::vector<Labeled> xs;
  for (size_t i = 0; i < terms.size(); ++i) {
    Labels labels = terms[i].letters;
    if (terms[i].ellipsis_at >= 0) {
      const int64_t e = operands[i].ndim() - static_cast<int64_t>(labels.size());
      Labels dots;
      for (int64_t k = ellipsis_dims - e; k < ellipsis_dims; ++k)
        dots.push_back(kEllipsisBase + static_cast<Label>(k));
      labels.insert(labels.begin() + terms[i].ellipsis_at, dots.begin(), dots.end());
    }
    for (size_t ax = 0; ax < labels.size(); ++ax) {  // sizes agree, or one of them is 1
      int64_t& size = sizes[static_cast<size_t>(labels[ax])];
      const int64_t d = operands[i].shape()[ax];
      if (d != 1 && size != 1 && d != size)
        einsum_error(subscripts, std::string("label '") + label_char(labels[ax]) + "' has sizes " +
                                     std::to_string(size) + " and " + std::to_string(d) +
                                     " (operand " + std::to_string(i) + ", shape " +
                                     shape_str(operands[i].shape()) + ")");
      if (d != 1) size = d;
    }
    xs.push_back({operands[i], labels});
  }
  // The output's labels: as written, or (implicit) the ellipsis axes, then the letters that
  // appear once, in alphabetical order (as NumPy).
  Labels out;
  Labels all;
  for (const auto& x : xs) all.insert(all.end(), x.labels.begin(), x.labels.end());
  if (arrow != std::string::npos) {
    const Term o = parse_term(subscripts.substr(arrow + 2), subscripts);
    if (o.ellipsis_at < 0 && ellipsis_dims > 0)
      einsum_error(subscripts, "the output must place the '...' axes of the operands");
    out = o.letters;
    if (o.ellipsis_at >= 0)
      for (int64_t k = ellipsis_dims - 1; k >= 0; --k)
        out.insert(out.begin() + o.ellipsis_at, kEllipsisBase + static_cast<Label>(k));
    for (size_t i = 0; i < o.letters.size(); ++i) {
      if (!has(all, o.letters[i]))
        einsum_error(subscripts, std::string("output label '") + label_char(o.letters[i]) +
                                     "' is in no operand");
      if (count(o.letters, o.letters[i]) > 1)
        einsum_error(subscripts, std::string("output label '") + label_char(o.letters[i]) +
                                     "' appears more than once");
    }
  } else {
    for (int64_t k = 0; k < ellipsis_dims; ++k)
      out.push_back(kEllipsisBase + static_cast<Label>(k));
    Labels once;
    for (Label l : all)
      if (l < kEllipsisBase && count(all, l) == 1) once.push_back(l);
    std::sort(once.begin(), once.end(), [](Label a, Label b) {
      return label_char(a) < label_char(b);  // ASCII: upper case first, as NumPy
    });
    out.insert(out.end(), once.begin(), once.end());
  }
  // Left to right: each operand simplified against what is still needed, then contracted into
  // the running result.
  auto needed_after = [&](size_t i) {
    Labels n = out;
    for (size_t j = i + 1; j < xs.size(); ++j)
      n.insert(n.end(), xs[j].labels.begin(), xs[j].labels.end());
    return n;
  };
  Labeled acc = simplify(xs[0], needed_after(0), subscripts);
  for (size_t i = 1; i < xs.size(); ++i) {
    const Labels later = needed_after(i);
    Labels for_b = later;
    for_b.insert(for_b.end(), acc.labels.begin(), acc.labels.end());
    const Labeled b = simplify(xs[i], for_b, subscripts);
    Labels for_acc = later;
    for_acc.insert(for_acc.end(), b.labels.begin(), b.labels.end());
    acc = simplify(acc, for_acc, subscripts);
    acc = contract_pair(acc, b, later, sizes);
  }
  return arranged(acc, out, sizes);
}

Tensor tensordot(const Tensor& a, const Tensor& b, const std::vector<int64_t>& axes_a,
                 const std::vector<int64_t>& axes_b) {
  require_defined_arg(a, "tensordot", "the first operand");
  require_defined_arg(b, "tensordot", "the second operand");
  if (axes_a.size() != axes_b.size())
    throw ValueError("tensordot: " + std::to_string(axes_a.size()) +
                     " axes of the first operand "
                     "against " +
                     std::to_string(axes_b.size()) + " of the second");
  std::vector<bool> in_a(static_cast<size_t>(a.ndim())), in_b(static_cast<size_t>(b.ndim()));
  std::vector<int64_t> ka, kb;
  int64_t k = 1;
  for (size_t i = 0; i < axes_a.size(); ++i) {
    const int64_t x = normalize_axis(axes_a[i], a.ndim(), "tensordot");
    const int64_t y = normalize_axis(axes_b[i], b.ndim(), "tensordot");
    if (in_a[static_cast<size_t>(x)] || in_b[static_cast<size_t>(y)])
      throw ValueError("tensordot: an axis is contracted twice");
    if (a.shape()[static_cast<size_t>(x)] != b.shape()[static_cast<size_t>(y)])
      throw ShapeError("tensordot: axis " + std::to_string(x) + " of " + shape_str(a.shape()) +
                       " against axis " + std::to_string(y) + " of " + shape_str(b.shape()) +
                       ": sizes differ");
    in_a[static_cast<size_t>(x)] = in_b[static_cast<size_t>(y)] = true;
    ka.push_back(x);
    kb.push_back(y);
    k *= a.shape()[static_cast<size_t>(x)];
  }
  std::vector<int64_t> pa, pb = kb;
  Shape shape;
  int64_t m = 1, n = 1;
  for (int64_t i = 0; i < a.ndim(); ++i)
    if (!in_a[static_cast<size_t>(i)]) {
      pa.push_back(i);
      shape.push_back(a.shape()[static_cast<size_t>(i)]);
      m *= shape.back();
    }
  pa.insert(pa.end(), ka.begin(), ka.end());
  for (int64_t i = 0; i < b.ndim(); ++i)
    if (!in_b[static_cast<size_t>(i)]) {
      pb.push_back(i);
      shape.push_back(b.shape()[static_cast<size_t>(i)]);
      n *= shape.back();
    }
  return matmul(a.permute(pa).reshape({m, k}), b.permute(pb).reshape({k, n})).reshape(shape);
}

Tensor tensordot(const Tensor& a, const Tensor& b, int64_t dims) {
  require_defined_arg(a, "tensordot", "the first operand");
  require_defined_arg(b, "tensordot", "the second operand");
  if (dims < 0 || dims > a.ndim() || dims > b.ndim())
    throw ValueError("tensordot: cannot contract " + std::to_string(dims) + " axes of " +
                     shape_str(a.shape()) + " and " + shape_str(b.shape()));
  std::vector<int64_t> axes_a, axes_b;
  for (int64_t i = 0; i < dims; ++i) {
    axes_a.push_back(a.ndim() - dims + i);
    axes_b.push_back(i);
  }
  return tensordot(a, b, axes_a, axes_b);
}

Tensor dot(const Tensor& a, const Tensor& b) {
  require_defined_arg(a, "dot", "the first operand");
  require_defined_arg(b, "dot", "the second operand");
  if (a.ndim() == 0 || b.ndim() == 0) return a * b;
  if (b.ndim() == 1) return tensordot(a, b, {-1}, {0});
  return tensordot(a, b, {-1}, {-2});  // NumPy: a's last axis against b's second-to-last
}

Tensor vdot(const Tensor& a, const Tensor& b) {
  require_defined_arg(a, "vdot", "the first operand");
  require_defined_arg(b, "vdot", "the second operand");
  if (a.numel() != b.numel())
    throw ShapeError("vdot: " + shape_str(a.shape()) + " and " + shape_str(b.shape()) +
                     " have different numbers of elements");
  return tensordot(a.reshape({-1}), b.reshape({-1}), {0}, {0});
}

Tensor inner(const Tensor& a, const Tensor& b) {
  require_defined_arg(a, "inner", "the first operand");
  require_defined_arg(b, "inner", "the second operand");
  if (a.ndim() == 0 || b.ndim() == 0) return a * b;
  return tensordot(a, b, {-1}, {-1});
}

Tensor outer(const Tensor& a, const Tensor& b) {
  require_defined_arg(a, "outer", "the first operand");
  require_defined_arg(b, "outer", "the second operand");
  return a.reshape({-1, 1}) * b.reshape({1, -1});
}

Tensor kron(const Tensor& a, const Tensor& b) {
  require_defined_arg(a, "kron", "the first operand");
  require_defined_arg(b, "kron", "the second operand");
  const int64_t nd = std::max(a.ndim(), b.ndim());
  const Shape a_shape = a.shape(), b_shape = b.shape();
  Shape sa(static_cast<size_t>(nd - a.ndim()), 1), sb(static_cast<size_t>(nd - b.ndim()), 1);
  sa.insert(sa.end(), a_shape.begin(), a_shape.end());
  sb.insert(sb.end(), b_shape.begin(), b_shape.end());
  Shape spread_a, spread_b, result;  // (a0, 1, a1, 1, ...) * (1, b0, 1, b1, ...)
  for (size_t i = 0; i < static_cast<size_t>(nd); ++i) {
    spread_a.push_back(sa[i]);
    spread_a.push_back(1);
    spread_b.push_back(1);
    spread_b.push_back(sb[i]);
    result.push_back(sa[i] * sb[i]);
  }
  return (a.reshape(spread_a) * b.reshape(spread_b)).reshape(result);
}

}  // namespace ndgrad
