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
}

}  // namespace ndgrad::python
