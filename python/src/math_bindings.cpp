// ndgrad.linalg: the library's linear algebra (include/ndgrad/linalg.hpp) as a submodule of
// the core, with NumPy/PyTorch spellings; tuples come back as Python tuples.
#include "bindings.hpp"

namespace ndgrad::python {

namespace {

// An ord of matrix_norm: a string ('fro', 'nuc') or a number (2, -2, 1, -1, inf, -inf).
Tensor matrix_norm_of(const Tensor& A, py::handle ord, py::handle dim, bool keepdim) {
  std::vector<int64_t> dims = to_axes(dim, "linalg.matrix_norm");
  if (py::isinstance<py::str>(ord)) {
    const std::string s = py::cast<std::string>(ord);
    return nogil([&] { return linalg::matrix_norm(A, s, dims, keepdim); });
  }
  if (!py::isinstance<py::bool_>(ord) && (is_integer(ord) || py::isinstance<py::float_>(ord))) {
    const double d = py::cast<double>(ord);
    return nogil([&] { return linalg::matrix_norm(A, d, dims, keepdim); });
  }
  throw py::type_error(
      "linalg.matrix_norm: ord must be a string ('fro', 'nuc') or a number, got a " +
      py::cast<std::string>(py::type::handle_of(ord).attr("__name__")));
}

py::tuple values_indices(const ValuesIndices& r) { return py::make_tuple(r.values, r.indices); }

// An int argument (not a bool, not a float): a TypeError naming it otherwise.
int64_t int_arg(py::handle h, const char* op, const char* name) {
  if (!is_integer(h))
    throw py::type_error(std::string(op) + ": " + name + " must be an int, got a " +
                         py::cast<std::string>(py::type::handle_of(h).attr("__name__")));
  return to_int64(h);
}

std::optional<int64_t> optional_axis(py::handle h, const char* op) {
  if (h.is_none()) return std::nullopt;
  return int_arg(h, op, "axis");
}

// quantile / nanquantile: q a float (a result without q's axis) or a sequence / tensor of them
// (q's axis first).
template <class F, class G>
Tensor quantile_of(F&& scalar_q, G&& tensor_q, py::handle x, py::handle q, py::handle axis,
                   bool keepdims, const std::string& interpolation, const char* op) {
  Tensor t = to_tensor(x);
  std::optional<int64_t> ax = optional_axis(axis, op);
  if (py::isinstance<py::float_>(q) || is_integer(q)) {
    const double d = py::cast<double>(q);
    return nogil([&] { return scalar_q(t, d, ax, keepdims, interpolation); });
  }
  // A list of q takes x's dtype (a float32 q would round a float64 quantile).
  Tensor qt =
      py::isinstance<Tensor>(q) || !is_floating(t.dtype()) ? to_tensor(q) : to_tensor(q, t.dtype());
  return nogil([&] { return tensor_q(t, qt, ax, keepdims, interpolation); });
}

// np.pad's pad_width: an int (every side), a (before, after) pair (every axis), or one pair
// per axis.
std::vector<std::pair<int64_t, int64_t>> pad_widths(py::handle w, int64_t ndim) {
  auto pair_of = [](py::handle h) -> std::pair<int64_t, int64_t> {
    if (is_integer(h)) return {to_int64(h), to_int64(h)};
    if (py::isinstance<py::sequence>(h) && !py::isinstance<py::str>(h) && py::len(h) == 2 &&
        is_integer(h[py::int_(0)]) && is_integer(h[py::int_(1)]))
      return {to_int64(h[py::int_(0)]), to_int64(h[py::int_(1)])};
    throw py::type_error(
        "pad: pad_width must be an int, a (before, after) pair of ints, or one "
        "such pair per axis");
  };
  std::vector<std::pair<int64_t, int64_t>> out;
  if (py::isinstance<py::sequence>(w) && !py::isinstance<py::str>(w) && py::len(w) > 0 &&
      !is_integer(w[py::int_(0)])) {
    for (py::handle h : w) out.push_back(pair_of(h));
    if (out.size() == 1) out.resize(size_t(ndim), out[0]);
    if (int64_t(out.size()) != ndim)
      throw py::value_error("pad: pad_width has " + std::to_string(out.size()) +
                            " pairs for a tensor of " + std::to_string(ndim) + " axes");
    return out;
  }
  return std::vector<std::pair<int64_t, int64_t>>(size_t(ndim), pair_of(w));
}

PadMode pad_mode(const std::string& mode) {
  if (mode == "constant") return PadMode::constant;
  if (mode == "reflect") return PadMode::reflect;
  if (mode == "edge" || mode == "replicate") return PadMode::edge;
  if (mode == "wrap" || mode == "circular") return PadMode::wrap;
  throw py::value_error(
      "pad: mode must be 'constant', 'reflect', 'edge' ('replicate') or 'wrap' "
      "('circular'), got '" +
      mode + "'");
}

std::vector<Tensor> tensor_list(py::handle seq, const char* op) {
  if (py::isinstance<Tensor>(seq) || !py::isinstance<py::sequence>(seq))
    throw py::type_error(std::string(op) + ": expected a sequence of tensors");
  std::vector<Tensor> out;
  for (py::handle h : seq) out.push_back(to_tensor(h));
  return out;
}

}  // namespace

void bind_math(py::module_& m) {
  py::module_ la = m.def_submodule(
      "linalg",
      "Linear algebra on matrices, batched over leading axes (their batch shapes broadcast), "
      "float32 and float64, differentiable. A matrix that cannot be factored is a LinAlgError.");
  la.def(
      "solve",
      [](py::handle A, py::handle B) {
        Tensor a = to_tensor(A), b = to_tensor(B);
        return nogil([&] { return linalg::solve(a, b); });
      },
      py::arg("A"), py::arg("B"),
      "X with A X = B. B is (..., n, k), or a batch of vectors (..., n).");
  la.def(
      "inv",
      [](py::handle A) {
        Tensor a = to_tensor(A);
        return nogil([&] { return linalg::inv(a); });
      },
      py::arg("A"), "The inverse of each square matrix.");
  la.def(
      "det",
      [](py::handle A) {
        Tensor a = to_tensor(A);
        return nogil([&] { return linalg::det(a); });
      },
      py::arg("A"), "The determinant of each square matrix (0 for a singular one).");
  la.def(
      "slogdet",
      [](py::handle A) {
        Tensor a = to_tensor(A);
        auto r = nogil([&] { return linalg::slogdet(a); });
        return py::make_tuple(r.first, r.second);
      },
      py::arg("A"), "(sign, logabsdet): sign is 0 and logabsdet -inf for a singular matrix.");
  la.def(
      "cholesky",
      [](py::handle A, bool upper) {
        Tensor a = to_tensor(A);
        return nogil([&] { return linalg::cholesky(a, upper); });
      },
      py::arg("A"), py::kw_only(), py::arg("upper") = false,
      "L, lower triangular with A = L L^T (upper: U with A = U^T U) of a symmetric positive "
      "definite A (its lower triangle is read).");
  la.def(
      "cholesky_solve",
      [](py::handle B, py::handle L, bool upper) {
        Tensor b = to_tensor(B), l = to_tensor(L);
        return nogil([&] { return linalg::cholesky_solve(b, l, upper); });
      },
      py::arg("B"), py::arg("L"), py::kw_only(), py::arg("upper") = false,
      "X with B = A X from A's Cholesky factor L (upper: U), torch.cholesky_solve's order.");
  la.def(
      "solve_triangular",
      [](py::handle A, py::handle B, bool upper, bool left, bool unitriangular) {
        Tensor a = to_tensor(A), b = to_tensor(B);
        return nogil([&] { return linalg::solve_triangular(a, b, upper, left, unitriangular); });
      },
      py::arg("A"), py::arg("B"), py::kw_only(), py::arg("upper"), py::arg("left") = true,
      py::arg("unitriangular") = false,
      "X with A X = B (left) or X A = B, A's lower or upper triangle read; unitriangular: its "
      "diagonal taken as ones.");
  la.def(
      "matrix_power",
      [](py::handle A, py::handle n) {
        if (!is_integer(n))
          throw py::type_error("linalg.matrix_power: n must be an int, got a " +
                               py::cast<std::string>(py::type::handle_of(n).attr("__name__")));
        Tensor a = to_tensor(A);
        const int64_t k = to_int64(n);
        return nogil([&] { return linalg::matrix_power(a, k); });
      },
      py::arg("A"), py::arg("n"), "A^n for any integer n (n < 0: inv(A)^-n; 0: the identity).");
  la.def(
      "qr",
      [](py::handle A, const std::string& mode) {
        Tensor a = to_tensor(A);
        auto r = nogil([&] { return linalg::qr(a, mode); });
        return py::make_tuple(r.first, r.second);
      },
      py::arg("A"), py::arg("mode") = "reduced",
      "(Q, R) with A = Q R. mode 'reduced', 'complete' or 'r' (Q then an empty tensor).");
  la.def(
      "eigh",
      [](py::handle A, const std::string& UPLO) {
        Tensor a = to_tensor(A);
        auto r = nogil([&] { return linalg::eigh(a, UPLO); });
        return py::make_tuple(r.first, r.second);
      },
      py::arg("A"), py::arg("UPLO") = "L",
      "(eigenvalues ascending, eigenvectors as columns) of a symmetric A whose UPLO ('L' or "
      "'U') triangle is read.");
  la.def(
      "eigvalsh",
      [](py::handle A, const std::string& UPLO) {
        Tensor a = to_tensor(A);
        return nogil([&] { return linalg::eigvalsh(a, UPLO); });
      },
      py::arg("A"), py::arg("UPLO") = "L", "The eigenvalues, ascending, of a symmetric A.");
  la.def(
      "svd",
      [](py::handle A, bool full_matrices) {
        Tensor a = to_tensor(A);
        auto r = nogil([&] { return linalg::svd(a, full_matrices); });
        return py::make_tuple(std::get<0>(r), std::get<1>(r), std::get<2>(r));
      },
      py::arg("A"), py::arg("full_matrices") = true,
      "(U, S, Vh) with A = U diag(S) Vh, S descending.");
  la.def(
      "svdvals",
      [](py::handle A) {
        Tensor a = to_tensor(A);
        return nogil([&] { return linalg::svdvals(a); });
      },
      py::arg("A"), "The singular values, descending.");
  la.def(
      "lstsq",
      [](py::handle A, py::handle B) {
        Tensor a = to_tensor(A), b = to_tensor(B);
        return nogil([&] { return linalg::lstsq(a, b); });
      },
      py::arg("A"), py::arg("B"),
      "The least-squares solution X of A X = B for a full-rank A (minimum-norm when m < n); "
      "the solution only, not NumPy's (x, residuals, rank, s) tuple.");
  la.def(
      "pinv",
      [](py::handle A, std::optional<double> rtol) {
        Tensor a = to_tensor(A);
        return nogil([&] { return linalg::pinv(a, rtol); });
      },
      py::arg("A"), py::kw_only(), py::arg("rtol") = py::none(),
      "The pseudo-inverse through the SVD: singular values at or below rtol * max(S) count as "
      "zero (default rtol: eps(dtype) * max(m, n)).");
  la.def(
      "matrix_norm",
      [](py::handle A, py::handle ord, py::handle dim, bool keepdim) {
        return matrix_norm_of(to_tensor(A), ord, dim, keepdim);
      },
      py::arg("A"), py::arg("ord") = "fro", py::arg("dim") = py::make_tuple(-2, -1),
      py::arg("keepdim") = false,
      "A matrix norm over the two axes dim: 'fro', 'nuc', 2, -2, 1, -1, inf or -inf.");

  // --- scans, sorting and selection ---
  m.def(
      "sort",
      [](py::handle x, py::handle axis, bool descending) {
        Tensor t = to_tensor(x);
        const int64_t a = int_arg(axis, "sort", "axis");
        return values_indices(nogil([&] { return sort(t, a, descending); }));
      },
      py::arg("x"), py::arg("axis") = -1, py::kw_only(), py::arg("descending") = false,
      "(values, indices) sorted along axis, stably; NaN last ascending, first descending.");
  m.def(
      "argsort",
      [](py::handle x, py::handle axis, bool descending) {
        Tensor t = to_tensor(x);
        const int64_t a = int_arg(axis, "argsort", "axis");
        return nogil([&] { return argsort(t, a, descending); });
      },
      py::arg("x"), py::arg("axis") = -1, py::kw_only(), py::arg("descending") = false,
      "The int64 indices that sort x along axis (stably).");
  m.def(
      "topk",
      [](py::handle x, py::handle k, py::handle axis, bool largest, bool sorted) {
        Tensor t = to_tensor(x);
        const int64_t kk = int_arg(k, "topk", "k"), a = int_arg(axis, "topk", "axis");
        return values_indices(nogil([&] { return topk(t, kk, a, largest, sorted); }));
      },
      py::arg("x"), py::arg("k"), py::arg("axis") = -1, py::kw_only(), py::arg("largest") = true,
      py::arg("sorted") = true,
      "(values, indices) of the k largest (smallest) along axis; ties: the first first.");
  m.def(
      "kthvalue",
      [](py::handle x, py::handle k, py::handle axis, bool keepdims) {
        Tensor t = to_tensor(x);
        const int64_t kk = int_arg(k, "kthvalue", "k"), a = int_arg(axis, "kthvalue", "axis");
        return values_indices(nogil([&] { return kthvalue(t, kk, a, keepdims); }));
      },
      py::arg("x"), py::arg("k"), py::arg("axis") = -1, py::arg("keepdims") = false,
      "(values, indices) of the k-th smallest (k from 1) along axis.");
  for (const bool nan : {false, true}) {
    const char* name = nan ? "nanmedian" : "median";
    m.def(
        name,
        [nan, name](py::handle x, py::handle axis, bool keepdims) -> py::object {
          Tensor t = to_tensor(x);
          if (axis.is_none())
            return py::cast(nogil([&] { return nan ? nanmedian(t) : median(t); }));
          const int64_t a = int_arg(axis, name, "axis");
          return values_indices(
              nogil([&] { return nan ? nanmedian(t, a, keepdims) : median(t, a, keepdims); }));
        },
        py::arg("x"), py::arg("axis") = py::none(), py::arg("keepdims") = false,
        nan ? "The lower median of the values that are not NaN: 0-d with axis None, else "
              "(values, indices) along axis."
            : "The lower median (PyTorch's: element (n - 1) / 2 sorted; NaN if any is NaN): 0-d "
              "with axis None, else (values, indices) along axis.");
  }
  m.def(
      "quantile",
      [](py::handle x, py::handle q, py::handle axis, bool keepdims,
         const std::string& interpolation) {
        return quantile_of([](const Tensor& t, double d, std::optional<int64_t> a, bool k,
                              const std::string& i) { return quantile(t, d, a, k, i); },
                           [](const Tensor& t, const Tensor& d, std::optional<int64_t> a, bool k,
                              const std::string& i) { return quantile(t, d, a, k, i); },
                           x, q, axis, keepdims, interpolation, "quantile");
      },
      py::arg("x"), py::arg("q"), py::arg("axis") = py::none(), py::arg("keepdims") = false,
      py::kw_only(), py::arg("interpolation") = "linear",
      "Quantiles q in [0, 1] along axis (None: of all elements); a sequence q puts its axis "
      "first. interpolation: 'linear', 'lower', 'higher', 'nearest' or 'midpoint'.");
  m.def(
      "nanquantile",
      [](py::handle x, py::handle q, py::handle axis, bool keepdims,
         const std::string& interpolation) {
        return quantile_of([](const Tensor& t, double d, std::optional<int64_t> a, bool k,
                              const std::string& i) { return nanquantile(t, d, a, k, i); },
                           [](const Tensor& t, const Tensor& d, std::optional<int64_t> a, bool k,
                              const std::string& i) { return nanquantile(t, d, a, k, i); },
                           x, q, axis, keepdims, interpolation, "nanquantile");
      },
      py::arg("x"), py::arg("q"), py::arg("axis") = py::none(), py::arg("keepdims") = false,
      py::kw_only(), py::arg("interpolation") = "linear",
      "quantile leaving the NaNs out (NaN for an all-NaN slice).");
  m.def(
      "cummax",
      [](py::handle x, py::handle axis) {
        Tensor t = to_tensor(x);
        const int64_t a = int_arg(axis, "cummax", "axis");
        return values_indices(nogil([&] { return cummax(t, a); }));
      },
      py::arg("x"), py::arg("axis"),
      "(values, indices): the running max along axis and where it was reached (the last of ties).");
  m.def(
      "cummin",
      [](py::handle x, py::handle axis) {
        Tensor t = to_tensor(x);
        const int64_t a = int_arg(axis, "cummin", "axis");
        return values_indices(nogil([&] { return cummin(t, a); }));
      },
      py::arg("x"), py::arg("axis"),
      "(values, indices): the running min along axis and where it was reached (the last of ties).");
  m.def(
      "logcumsumexp",
      [](py::handle x, py::handle axis) {
        Tensor t = to_tensor(x);
        const int64_t a = int_arg(axis, "logcumsumexp", "axis");
        return nogil([&] { return logcumsumexp(t, a); });
      },
      py::arg("x"), py::arg("axis"), "log(cumsum(exp(x))) along axis, computed stably.");
  m.def(
      "diff",
      [](py::handle x, py::handle n, py::handle axis, py::handle prepend, py::handle append) {
        Tensor t = to_tensor(x);
        const int64_t nn = int_arg(n, "diff", "n"), a = int_arg(axis, "diff", "axis");
        Tensor pre = prepend.is_none() ? Tensor() : to_tensor(prepend);
        Tensor app = append.is_none() ? Tensor() : to_tensor(append);
        return nogil([&] { return diff(t, nn, a, pre, app); });
      },
      py::arg("x"), py::arg("n") = 1, py::arg("axis") = -1, py::arg("prepend") = py::none(),
      py::arg("append") = py::none(),
      "The n-th forward difference along axis (NumPy's diff), prepend/append joined first.");
  // --- joining, padding and indexing functions ---
  m.def(
      "pad",
      [](py::handle x, py::handle pad_width, const std::string& mode, double constant_values) {
        Tensor t = to_tensor(x);
        auto widths = pad_widths(pad_width, int64_t(t.shape().size()));
        const PadMode pm = pad_mode(mode);
        return nogil([&] { return pad(t, widths, pm, constant_values); });
      },
      py::arg("x"), py::arg("pad_width"), py::arg("mode") = "constant",
      py::arg("constant_values") = 0.0,
      "NumPy's np.pad: pad_width an int, a (before, after) pair or one per axis (negative "
      "crops); mode 'constant', 'reflect', 'edge' or 'wrap'.");
  m.def(
      "hstack", [](py::handle ts) { return hstack(tensor_list(ts, "hstack")); }, py::arg("tensors"),
      "Joined along axis 1 (axis 0 for 1-d tensors), NumPy's.");
  m.def(
      "vstack", [](py::handle ts) { return vstack(tensor_list(ts, "vstack")); }, py::arg("tensors"),
      "Joined along axis 0, 1-d tensors taken as rows, NumPy's.");
  m.def(
      "roll",
      [](py::handle x, py::handle shift, py::handle axis) {
        Tensor t = to_tensor(x);
        const int64_t s = int_arg(shift, "roll", "shift");
        std::optional<int64_t> a = optional_axis(axis, "roll");
        return nogil([&] { return roll(t, s, a); });
      },
      py::arg("x"), py::arg("shift"), py::arg("axis") = py::none(),
      "Elements shifted by shift along axis, wrapping around (None: of the flattened tensor).");
  m.def(
      "tile",
      [](py::handle x, py::handle reps) {
        Tensor t = to_tensor(x);
        Shape r = is_integer(reps) ? Shape{to_int64(reps)} : to_shape(reps);
        return nogil([&] { return tile(t, r); });
      },
      py::arg("x"), py::arg("reps"), "NumPy's tile: x repeated reps times along each axis.");
  m.def(
      "index_select",
      [](py::handle x, py::handle axis, py::handle index) {
        Tensor t = to_tensor(x), i = to_tensor(index);
        const int64_t a = int_arg(axis, "index_select", "axis");
        return nogil([&] { return index_select(t, a, i); });
      },
      py::arg("x"), py::arg("axis"), py::arg("index"),
      "The slices at index (0-d or 1-d integers) along axis.");
  m.def(
      "gather",
      [](py::handle x, py::handle axis, py::handle index) {
        Tensor t = to_tensor(x), i = to_tensor(index);
        const int64_t a = int_arg(axis, "gather", "axis");
        return nogil([&] { return gather(t, a, i); });
      },
      py::arg("x"), py::arg("axis"), py::arg("index"),
      "PyTorch's gather: out[i][j] = x[i][index[i][j]] for axis 1.");
  m.def(
      "index_add",
      [](py::handle x, py::handle axis, py::handle index, py::handle source) {
        Tensor t = to_tensor(x), i = to_tensor(index), src = to_tensor(source);
        const int64_t a = int_arg(axis, "index_add", "axis");
        return nogil([&] { return index_add(t, a, i, src); });
      },
      py::arg("x"), py::arg("axis"), py::arg("index"), py::arg("source"),
      "A new tensor: x with source's slices added at index along axis (repeats accumulate).");
  m.def(
      "scatter_add",
      [](py::handle x, py::handle axis, py::handle index, py::handle source) {
        Tensor t = to_tensor(x), i = to_tensor(index), src = to_tensor(source);
        const int64_t a = int_arg(axis, "scatter_add", "axis");
        return nogil([&] { return scatter_add(t, a, i, src); });
      },
      py::arg("x"), py::arg("axis"), py::arg("index"), py::arg("source"),
      "A new tensor: source[i][j] added at x[i][index[i][j]] for axis 1 (PyTorch's).");
  m.def(
      "scatter",
      [](py::handle x, py::handle axis, py::handle index, py::handle source) {
        Tensor t = to_tensor(x), i = to_tensor(index);
        const int64_t a = int_arg(axis, "scatter", "axis");
        if (!py::isinstance<py::bool_>(source) &&
            (is_integer(source) || py::isinstance<py::float_>(source))) {
          const double v = py::cast<double>(source);
          return nogil([&] { return scatter(t, a, i, v); });
        }
        Tensor src = to_tensor(source);
        return nogil([&] { return scatter(t, a, i, src); });
      },
      py::arg("x"), py::arg("axis"), py::arg("index"), py::arg("source"),
      "A new tensor: source[i][j] (or the number source) written at x[i][index[i][j]] for axis "
      "1 (PyTorch's; the last write stays).");
  m.def(
      "tensordot",
      [](py::handle a, py::handle b, py::handle axes) {
        Tensor ta = to_tensor(a), tb = to_tensor(b);
        if (is_integer(axes)) {
          const int64_t d = to_int64(axes);
          return nogil([&] { return tensordot(ta, tb, d); });
        }
        if (!py::isinstance<py::sequence>(axes) || py::isinstance<py::str>(axes) ||
            py::len(axes) != 2)
          throw py::type_error("tensordot: axes must be an int or a pair of axis sequences");
        auto seq = [](py::handle h) {
          return is_integer(h) ? std::vector<int64_t>{to_int64(h)} : to_axes(h, "tensordot");
        };
        std::vector<int64_t> xa = seq(axes[py::int_(0)]), xb = seq(axes[py::int_(1)]);
        return nogil([&] { return tensordot(ta, tb, xa, xb); });
      },
      py::arg("a"), py::arg("b"), py::arg("axes") = 2,
      "NumPy's tensordot: the last axes of a against the first of b, or the listed pairs.");
  m.def(
      "vdot",
      [](py::handle a, py::handle b) {
        Tensor ta = to_tensor(a), tb = to_tensor(b);
        return nogil([&] { return vdot(ta, tb); });
      },
      py::arg("a"), py::arg("b"), "The dot product of both flattened.");
  m.def(
      "kron",
      [](py::handle a, py::handle b) {
        Tensor ta = to_tensor(a), tb = to_tensor(b);
        return nogil([&] { return kron(ta, tb); });
      },
      py::arg("a"), py::arg("b"), "The Kronecker product (the shorter shape padded with ones).");
  // --- ndgrad.Generator: the class that Dropout(seed=) already holds (_Generator), public ---
  auto gen = py::reinterpret_borrow<py::class_<Generator>>(m.attr("_Generator"));
  gen.attr("__name__") = "Generator";
  gen.attr("__qualname__") = "Generator";
  gen.doc() =
      "A seeded Philox4x32-10 generator: every value a pure function of (seed, position), the "
      "same on every platform; calls from several threads each get values of their own.";
  auto dtype_or = [](py::handle d, DType fallback) {
    return to_optional_dtype(d).value_or(fallback);
  };
  gen.def("manual_seed", &Generator::manual_seed, py::arg("seed"),
          "Restarts the stream of seed; returns None.")
      .def("initial_seed", &Generator::initial_seed, "The seed (the Philox key).")
      .def("split", &Generator::split,
           "A generator of its own whose seed is drawn from this one's stream.")
      .def(
          "rand",
          [dtype_or](Generator& g, const py::args& shape, py::handle dtype) {
            Shape s = shape_from_args(shape, "Generator.rand");
            const DType d = dtype_or(dtype, DType::f32);
            return nogil([&] { return g.rand(s, d); });
          },
          py::kw_only(), py::arg("dtype") = py::none(), "U[0, 1) in the given shape.")
      .def(
          "randn",
          [dtype_or](Generator& g, const py::args& shape, py::handle dtype) {
            Shape s = shape_from_args(shape, "Generator.randn");
            const DType d = dtype_or(dtype, DType::f32);
            return nogil([&] { return g.randn(s, d); });
          },
          py::kw_only(), py::arg("dtype") = py::none(), "N(0, 1) in the given shape.")
      .def(
          "uniform",
          [dtype_or](Generator& g, double low, double high, py::handle size, py::handle dtype) {
            Shape s = to_shape(size);
            const DType d = dtype_or(dtype, DType::f32);
            return nogil([&] { return g.uniform(low, high, s, d); });
          },
          py::arg("low"), py::arg("high"), py::arg("size"), py::kw_only(),
          py::arg("dtype") = py::none(), "U[low, high) in shape size.")
      .def(
          "normal",
          [dtype_or](Generator& g, py::handle mean, py::handle std, py::handle size,
                     py::handle dtype) -> Tensor {
            auto number = [](py::handle h) {
              return !py::isinstance<py::bool_>(h) &&
                     (is_integer(h) || py::isinstance<py::float_>(h));
            };
            if (number(mean) && number(std)) {
              if (size.is_none())
                throw py::type_error(
                    "Generator.normal: size is needed when mean and std are numbers");
              Shape s = to_shape(size);
              const double m = py::cast<double>(mean), sd = py::cast<double>(std);
              const DType d = dtype_or(dtype, DType::f32);
              return nogil([&] { return g.normal(m, sd, s, d); });
            }
            if (!size.is_none())
              throw py::type_error("Generator.normal: size is for number mean and std only");
            Tensor m = to_tensor(mean);
            if (number(std)) {
              const double sd = py::cast<double>(std);
              return nogil([&] { return g.normal(m, sd); });
            }
            Tensor sd = to_tensor(std);
            return nogil([&] { return g.normal(m, sd); });
          },
          py::arg("mean"), py::arg("std"), py::arg("size") = py::none(), py::kw_only(),
          py::arg("dtype") = py::none(),
          "mean + std * N(0, 1): numbers with a size, or tensors (differentiable in both).")
      .def(
          "randint",
          [dtype_or](Generator& g, int64_t low, int64_t high, py::handle size, py::handle dtype) {
            Shape s = to_shape(size);
            const DType d = dtype_or(dtype, DType::i64);
            return nogil([&] { return g.randint(low, high, s, d); });
          },
          py::arg("low"), py::arg("high"), py::arg("size"), py::kw_only(),
          py::arg("dtype") = py::none(), "Integers uniform in [low, high), without bias.")
      .def(
          "bernoulli",
          [](Generator& g, py::handle p) {
            Tensor t = to_tensor(p);
            return nogil([&] { return g.bernoulli(t); });
          },
          py::arg("p"), "1 with probability p (each element's), else 0, in p's dtype.")
      .def(
          "permutation",
          [](Generator& g, py::handle x) {
            if (is_integer(x)) {
              const int64_t n = to_int64(x);
              return nogil([&] { return g.permutation(n); });
            }
            Tensor t = to_tensor(x);
            return nogil([&] { return g.permutation(t); });
          },
          py::arg("x"), "An int n: 0..n-1 in a random order; a tensor: its first axis shuffled.")
      .def(
          "multinomial",
          [](Generator& g, py::handle probs, int64_t num_samples, bool replacement) {
            Tensor p = to_tensor(probs);
            return nogil([&] { return g.multinomial(p, num_samples, replacement); });
          },
          py::arg("probs"), py::arg("num_samples"), py::arg("replacement") = false,
          "Category indices drawn with probabilities proportional to the weights.");
  m.attr("Generator") = gen;
  // --- the rest of tensor.hpp's joining, indexing and diagonal functions ---
  m.def(
      "unbind",
      [](py::handle x, py::handle axis) {
        Tensor t = to_tensor(x);
        const int64_t a = int_arg(axis, "unbind", "axis");
        return py::cast(nogil([&] { return unbind(t, a); })).cast<py::tuple>();
      },
      py::arg("x"), py::arg("axis") = 0, "A tuple of the views x.select(axis, i), each i.");
  m.def(
      "tensor_split",
      [](py::handle x, py::handle sections, py::handle axis) {
        Tensor t = to_tensor(x);
        const int64_t a = int_arg(axis, "tensor_split", "axis");
        std::vector<Tensor> parts;
        if (is_integer(sections)) {
          const int64_t n = to_int64(sections);
          parts = nogil([&] { return tensor_split(t, n, a); });
        } else {
          std::vector<int64_t> idx = to_axes(sections, "tensor_split");
          parts = nogil([&] { return tensor_split(t, idx, a); });
        }
        return py::cast(parts).cast<py::tuple>();
      },
      py::arg("x"), py::arg("indices_or_sections"), py::arg("axis") = 0,
      "NumPy's array_split: n nearly equal parts, or the parts between the given indices.");
  m.def(
      "argwhere",
      [](py::handle x) {
        Tensor t = to_tensor(x);
        return nogil([&] { return argwhere(t); });
      },
      py::arg("x"), "The coordinates of the non-zero elements, (count, ndim) int64.");
  m.def(
      "masked_fill",
      [](py::handle x, py::handle mask, py::handle value) {
        Tensor t = to_tensor(x), mk = to_tensor(mask);
        if (py::isinstance<Tensor>(value)) {
          Tensor v = py::cast<Tensor>(value);
          return nogil([&] { return masked_fill(t, mk, v); });
        }
        const double v = py::cast<double>(value);
        return nogil([&] { return masked_fill(t, mk, v); });
      },
      py::arg("x"), py::arg("mask"), py::arg("value"),
      "value (a number or a 0-d tensor) where mask is true, x elsewhere; a new tensor.");
  m.def(
      "put_along_axis",
      [](py::handle x, py::handle indices, py::handle values, py::handle axis) {
        Tensor t = to_tensor(x), i = to_tensor(indices), v = to_tensor(values);
        const int64_t a = int_arg(axis, "put_along_axis", "axis");
        return nogil([&] { return put_along_axis(t, i, v, a); });
      },
      py::arg("x"), py::arg("indices"), py::arg("values"), py::arg("axis"),
      "NumPy's put_along_axis, functionally: a new tensor with values written where "
      "take_along_axis would read.");
  m.def(
      "repeat_interleave",
      [](py::handle x, py::handle repeats, py::handle axis) {
        Tensor t = to_tensor(x);
        std::optional<int64_t> a = optional_axis(axis, "repeat_interleave");
        if (is_integer(repeats)) {
          const int64_t r = to_int64(repeats);
          return nogil([&] { return repeat_interleave(t, r, a); });
        }
        Tensor r = to_tensor(repeats);
        return nogil([&] { return repeat_interleave(t, r, a); });
      },
      py::arg("x"), py::arg("repeats"), py::arg("axis") = py::none(),
      "Each element repeated (NumPy's repeat): repeats an int or one per element along axis.");
  m.def(
      "diagonal",
      [](py::handle x, int64_t offset, int64_t axis1, int64_t axis2) {
        Tensor t = to_tensor(x);
        return nogil([&] { return diagonal(t, offset, axis1, axis2); });
      },
      py::arg("x"), py::arg("offset") = 0, py::arg("axis1") = 0, py::arg("axis2") = 1,
      "NumPy's diagonal: the diagonal of axes axis1 and axis2 as the last axis.");
  m.def(
      "diag",
      [](py::handle x, int64_t k) {
        Tensor t = to_tensor(x);
        return nogil([&] { return diag(t, k); });
      },
      py::arg("x"), py::arg("k") = 0,
      "NumPy's diag: a 1-d x as the k-th diagonal of a matrix, a 2-d x's k-th diagonal.");
  m.def(
      "trace",
      [](py::handle x, int64_t offset, int64_t axis1, int64_t axis2) {
        Tensor t = to_tensor(x);
        return nogil([&] { return trace(t, offset, axis1, axis2); });
      },
      py::arg("x"), py::arg("offset") = 0, py::arg("axis1") = 0, py::arg("axis2") = 1,
      "The sum of the diagonal (NumPy's trace).");
  m.def(
      "meshgrid",
      [](const py::args& tensors, const std::string& indexing) {
        std::vector<Tensor> ts = tensor_list(
            tensors.size() == 1 && !py::isinstance<Tensor>(tensors[0]) ? tensors[0] : tensors,
            "meshgrid");
        return py::cast(nogil([&] { return meshgrid(ts, indexing); })).cast<py::tuple>();
      },
      py::kw_only(), py::arg("indexing") = "xy",
      "NumPy's meshgrid of 1-d tensors (indexing 'xy' or 'ij'), as a tuple.");
  // --- generator= on the module's sampling functions: overloads taken when it is given ---
  for (const char* name : {"randn", "rand"}) {
    const bool normal = name[4] == 'n';
    m.def(
        name,
        [normal, name](const py::args& shape, Generator& generator, py::handle dtype,
                       bool requires_grad) {
          Shape s = shape_from_args(shape, name);
          const DType d = to_optional_dtype(dtype).value_or(DType::f32);
          Tensor t = nogil([&] { return normal ? generator.randn(s, d) : generator.rand(s, d); });
          if (requires_grad) t.requires_grad_(true);
          return t;
        },
        py::kw_only(), py::arg("generator"), py::arg("dtype") = py::none(),
        py::arg("requires_grad") = false, "The same, drawn from generator (an ndgrad.Generator).");
  }
  m.def(
      "randperm",
      [](int64_t n, Generator& generator) {
        return nogil([&] { return generator.permutation(n); });
      },
      py::arg("n"), py::kw_only(), py::arg("generator"),
      "0..n-1 in a random order (int64), drawn from generator.");
  m.def(
      "index_put",
      [](py::handle x, py::handle indices, py::handle values, bool accumulate) {
        Tensor t = to_tensor(x), v = to_tensor(values);
        std::vector<TensorIndex> idx = to_index(indices);
        return nogil([&] { return index_put(t, idx, v, accumulate); });
      },
      py::arg("x"), py::arg("indices"), py::arg("values"), py::arg("accumulate") = false,
      "Functional x[indices] = values (indices as for x[...]): a new tensor, differentiable in "
      "x and values; accumulate adds, repeated indices then summing.");
}

}  // namespace ndgrad::python
