// The decompositions against their defining identities (A = Q R, A V = V diag(w), A = U S Vh,
// the Moore-Penrose conditions), in f32 and f64, below and above kernels::kLapackMin (the
// portable loops and LAPACK), batched; the functions built on them; the errors.
#include <functional>
#include <limits>

#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

double tol_for(DType dt) { return dt == DType::f64 ? 1e-10 : 2e-4; }

// |a - b| elementwise within tol * (1 + max |b|).
void expect_near(const Tensor& a, const Tensor& b, double tol, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const std::vector<double> av = a.to_vector(), bv = b.to_vector();
  double scale = 1;
  for (double x : bv) scale = std::max(scale, std::fabs(x));
  for (size_t i = 0; i < av.size(); ++i)
    ASSERT_NEAR(av[i], bv[i], tol * scale) << what << " at flat index " << i;
}

Tensor eye_like(int64_t n, DType dt) { return eye(n, dt); }

// Q^T Q = I for the columns of Q.
void expect_orthonormal_columns(const Tensor& Q, double tol, const std::string& what) {
  expect_near(matmul(Q.mT(), Q), eye_like(Q.size(-1), Q.dtype()).broadcast_to([&] {
    Shape s = Q.shape();
    s[s.size() - 2] = Q.size(-1);
    return s;
  }()),
              tol, what + ": Q^T Q = I");
}

const std::vector<std::pair<int64_t, int64_t>> kSizes = {{5, 3},   {3, 5},   {4, 4},   {1, 1},
                                                         {20, 17}, {17, 24}, {32, 32}, {40, 6}};

}  // namespace

TEST(LinalgDecompositions, QrReconstructsWithOrthonormalQAndTriangularR) {
  uint64_t seed = 10;
  for (DType dt : {DType::f64, DType::f32})
    for (const auto& [m, n] : kSizes)
      for (const std::string mode : {"reduced", "complete"}) {
        const std::string what =
            "qr " + mode + " " + std::to_string(m) + "x" + std::to_string(n) + " " + dtype_name(dt);
        const Tensor A = randn({2, m, n}, ++seed, dt);
        const auto [Q, R] = linalg::qr(A, mode);
        const int64_t k = std::min(m, n), qc = mode == "complete" ? m : k;
        ASSERT_EQ(Q.shape(), (Shape{2, m, qc})) << what;
        ASSERT_EQ(R.shape(), (Shape{2, qc, n})) << what;
        const double tol = tol_for(dt) * double(std::max(m, n));
        expect_near(matmul(Q, R), A, tol, what + ": Q R = A");
        expect_orthonormal_columns(Q, tol, what);
        expect_near(tril(R, -1), zeros(R.shape(), dt), 0, what + ": R upper triangular");
        const Tensor R_only = linalg::qr(A, "r").second;
        expect_near(R_only, mode == "complete" ? R.narrow(-2, 0, k) : R, tol, what + ": mode r");
      }
  EXPECT_EQ(linalg::qr(eye(3), "r").first.numel(), 0);
}

TEST(LinalgDecompositions, EighDiagonalizesSymmetricMatricesReadingOneTriangle) {
  uint64_t seed = 100;
  for (DType dt : {DType::f64, DType::f32})
    for (int64_t n : {1, 2, 5, 15, 16, 33}) {
      const std::string what = "eigh " + std::to_string(n) + " " + dtype_name(dt);
      const Tensor M = randn({3, n, n}, ++seed, dt);
      const Tensor S = M + M.mT();
      const auto [w, V] = linalg::eigh(S);
      ASSERT_EQ(w.shape(), (Shape{3, n})) << what;
      ASSERT_EQ(V.shape(), (Shape{3, n, n})) << what;
      const double tol = tol_for(dt) * double(n);
      expect_near(matmul(S, V), V * w.unsqueeze(-2), tol, what + ": A V = V diag(w)");
      expect_orthonormal_columns(V, tol, what);
      const std::vector<double> wv = w.to_vector();
      for (size_t i = 0; i + 1 < wv.size(); ++i)
        if ((i + 1) % n) {
          EXPECT_LE(wv[i], wv[i + 1]) << what << ": ascending";
        }
      expect_near(linalg::eigvalsh(S), w, tol, what + ": eigvalsh");
      // Only the named triangle is read: garbage in the other one changes nothing.
      expect_near(linalg::eigvalsh(tril(S) + triu(M, 1) * 7.0, "L"), w, tol, what + ": uplo L");
      expect_near(linalg::eigh(triu(S) + tril(M, -1) * 7.0, "U").first, w, tol, what + ": uplo U");
    }
  // A repeated eigenvalue: an orthonormal basis of its eigenspace.
  const Tensor D = tensor({2, 0, 0, 0, 2, 0, 0, 0, 5}, {3, 3}, DType::f64);
  const auto [w, V] = linalg::eigh(D);
  expect_values(w, {2, 2, 5}, 1e-12);
  expect_orthonormal_columns(V, 1e-12, "repeated eigenvalue");
}

TEST(LinalgDecompositions, SvdReconstructsWithOrthonormalFactors) {
  uint64_t seed = 200;
  for (DType dt : {DType::f64, DType::f32})
    for (const auto& [m, n] : kSizes)
      for (bool full : {false, true}) {
        const std::string what = "svd " + std::string(full ? "full " : "") + std::to_string(m) +
                                 "x" + std::to_string(n) + " " + dtype_name(dt);
        const int64_t k = std::min(m, n);
        const Tensor A = randn({2, m, n}, ++seed, dt);
        const auto [U, S, Vh] = linalg::svd(A, full);
        ASSERT_EQ(U.shape(), (Shape{2, m, full ? m : k})) << what;
        ASSERT_EQ(S.shape(), (Shape{2, k})) << what;
        ASSERT_EQ(Vh.shape(), (Shape{2, full ? n : k, n})) << what;
        const double tol = tol_for(dt) * double(std::max(m, n));
        const Tensor Uk = U.narrow(-1, 0, k), Vhk = Vh.narrow(-2, 0, k);
        expect_near(matmul(Uk * S.unsqueeze(-2), Vhk), A, tol, what + ": U S Vh = A");
        expect_orthonormal_columns(U, tol, what + " U");
        expect_orthonormal_columns(Vh.mT(), tol, what + " V");
        const std::vector<double> sv = S.to_vector();
        for (size_t i = 0; i < sv.size(); ++i) {
          EXPECT_GE(sv[i], 0) << what;
          if ((i + 1) % k) {
            EXPECT_GE(sv[i], sv[i + 1]) << what << ": descending";
          }
        }
        expect_near(linalg::svdvals(A), S, tol, what + ": svdvals");
      }
  // Rank 2 (zero singular values): the singular vectors are still orthonormal and complete.
  for (int64_t n : {6, 20}) {
    const Tensor A = matmul(randn({n + 2, 2}, 7, DType::f64), randn({2, n}, 8, DType::f64));
    const auto [U, S, Vh] = linalg::svd(A, true);
    expect_orthonormal_columns(U, 1e-10, "rank 2 U");
    expect_orthonormal_columns(Vh.mT(), 1e-10, "rank 2 V");
    expect_near(matmul(U.narrow(-1, 0, n) * S.unsqueeze(-2), Vh), A, 1e-10, "rank 2 U S Vh");
    EXPECT_NEAR(S.to_vector()[2], 0, 1e-10);
  }
  // Empty matrices: no singular values, identities for the full factors.
  const auto [U0, S0, Vh0] = linalg::svd(zeros({3, 0}), true);
  EXPECT_EQ(S0.shape(), (Shape{0}));
  expect_near(U0, eye(3), 0, "empty U");
  EXPECT_EQ(Vh0.shape(), (Shape{0, 0}));
}

TEST(LinalgDecompositions, PinvLstsqAndMatrixNorms) {
  uint64_t seed = 300;
  for (DType dt : {DType::f64, DType::f32})
    for (const auto& [m, n] : kSizes) {
      const std::string what = std::to_string(m) + "x" + std::to_string(n) + " " + dtype_name(dt);
      const double tol = tol_for(dt) * double(std::max(m, n)) * 10;
      const Tensor A = randn({2, m, n}, ++seed, dt);
      const Tensor X = linalg::pinv(A);
      ASSERT_EQ(X.shape(), (Shape{2, n, m})) << what;
      expect_near(matmul(matmul(A, X), A), A, tol, what + ": A X A = A");
      expect_near(matmul(matmul(X, A), X), X, tol, what + ": X A X = X");
      const Tensor AX = matmul(A, X), XA = matmul(X, A);
      expect_near(AX, AX.mT(), tol, what + ": A X symmetric");
      expect_near(XA, XA.mT(), tol, what + ": X A symmetric");
      const Tensor B = randn({2, m, 3}, ++seed, dt);
      const Tensor sol = linalg::lstsq(A, B);
      expect_near(sol, matmul(X, B), tol, what + ": lstsq = pinv(A) B");
      const Tensor b = randn({m}, ++seed, dt);
      expect_near(linalg::lstsq(A, b), matmul(X, b), tol, what + ": lstsq of a vector");
      // Norms against their definitions.
      const Tensor S = linalg::svdvals(A), absA = abs(A);
      expect_near(linalg::matrix_norm(A), sqrt((A * A).sum({-2, -1})), tol, what + " fro");
      expect_near(linalg::matrix_norm(A, "nuc"), S.sum({-1}), tol, what + " nuc");
      expect_near(linalg::matrix_norm(A, 2.0), S.max({-1}), tol, what + " 2");
      expect_near(linalg::matrix_norm(A, -2.0), S.min({-1}), tol, what + " -2");
      expect_near(linalg::matrix_norm(A, 1.0), absA.sum({-2}).max({-1}), tol, what + " 1");
      expect_near(linalg::matrix_norm(A, -1.0), absA.sum({-2}).min({-1}), tol, what + " -1");
      const double inf = std::numeric_limits<double>::infinity();
      expect_near(linalg::matrix_norm(A, inf), absA.sum({-1}).max({-1}), tol, what + " inf");
      expect_near(linalg::matrix_norm(A, -inf), absA.sum({-1}).min({-1}), tol, what + " -inf");
    }
  // Other axes, keepdim.
  const Tensor T = randn({3, 2, 4}, 9, DType::f64);
  const Tensor moved = T.permute({1, 0, 2});
  expect_near(linalg::matrix_norm(T, "nuc", {0, 2}), linalg::matrix_norm(moved, "nuc"), 1e-12,
              "nuc over (0, 2)");
  EXPECT_EQ(linalg::matrix_norm(T, 2.0, {2, 0}, true).shape(), (Shape{1, 2, 1}));
  expect_near(linalg::matrix_norm(T, 1.0, {0, 2}, true).reshape({2}),
              linalg::matrix_norm(moved, 1.0), 1e-12, "1 over (0, 2)");
  // pinv's cutoff: a rank-1 matrix's pseudo-inverse has rank 1.
  const Tensor r1 = matmul(randn({4, 1}, 10, DType::f64), randn({1, 3}, 11, DType::f64));
  const Tensor p1 = linalg::pinv(r1);
  expect_near(matmul(matmul(r1, p1), r1), r1, 1e-10, "rank-1 pinv");
  EXPECT_NEAR(linalg::svdvals(p1).to_vector()[1], 0, 1e-10);
  // A wide lstsq is the minimum-norm solution; a tall one the least-squares one (B batched).
  const Tensor W = randn({3, 5}, 12, DType::f64), Bw = randn({2, 3, 2}, 13, DType::f64);
  const Tensor xw = linalg::lstsq(W, Bw);
  expect_near(matmul(W, xw), Bw, 1e-10, "wide lstsq solves");
}

TEST(LinalgDecompositions, ErrorsNameTheOpTheShapeAndTheBatchElement) {
  expect_error<ShapeError>([] { linalg::svd(zeros({3})); }, {"linalg::svd", "(3,)"});
  expect_error<ShapeError>([] { linalg::eigh(zeros({3, 4})); }, {"linalg::eigh", "square"});
  expect_error<ShapeError>([] { linalg::qr(zeros({4})); }, {"linalg::qr", "(4,)"});
  expect_error<ValueError>([] { linalg::qr(eye(3), "full"); }, {"linalg::qr", "\"full\""});
  expect_error<ValueError>([] { linalg::eigh(eye(3), "X"); }, {"linalg::eigh", "uplo"});
  expect_error<DTypeError>([] { linalg::svdvals(eye(3).to(DType::i64)); }, {"linalg::svdvals"});
  expect_error<ShapeError>(
      [] {
        linalg::lstsq(zeros({4, 3}), zeros({3, 2}));
      },
      {"linalg::lstsq", "B needs 4 rows"});
  expect_error<ValueError>([] { linalg::matrix_norm(eye(3), 3.0); }, {"linalg::matrix_norm"});
  expect_error<ValueError>([] { linalg::matrix_norm(eye(3), "x"); }, {"linalg::matrix_norm"});
  expect_error<ValueError>([] { linalg::matrix_norm(eye(3), "fro", {1, -1}); }, {"twice"});
  expect_error<ShapeError>([] { linalg::matrix_norm(zeros({3}), "fro"); }, {"2 dimensions"});
  // A non-finite matrix, through the loops and through LAPACK.
  for (int64_t n : {3, 20}) {
    Tensor batch = eye(n, DType::f64).broadcast_to({2, 2, n, n}).contiguous();
    {
      const NoGradGuard no_grad;
      batch.index({1, 0, 0, 1}).copy_(scalar(std::nan(""), DType::f64));
    }
    expect_error<LinAlgError>([&] { linalg::svd(batch); },
                              {"linalg::svd", "batch index (1, 0)", "non-finite"});
    expect_error<LinAlgError>([&] { linalg::eigvalsh(batch, "U"); },  // (0, 1): upper
                              {"linalg::eigvalsh", "batch index (1, 0)", "non-finite"});
    expect_error<LinAlgError>([&] { linalg::pinv(batch); }, {"linalg::pinv", "batch index (1, 0)"});
  }
  // A rank-deficient least-squares problem is refused, naming the element.
  Tensor deficient = randn({2, 5, 3}, 1, DType::f64);
  {
    const NoGradGuard no_grad;
    deficient.index({1, Slice(), 2}).copy_(deficient.index({1, Slice(), 0}) * 2.0);
  }
  expect_error<LinAlgError>(
      [&] {
        linalg::lstsq(deficient, zeros({5, 1}, DType::f64));
      },
      {"linalg::lstsq", "batch index (1)", "full rank 3", "pinv"});
  // Complete QR of a tall matrix has no gradient.
  const Tensor tall = randn({4, 2}, 2, DType::f64).requires_grad_();
  expect_error<AutogradError>([&] { linalg::qr(tall, "complete").first.sum().backward(); },
                              {"linalg_qr", "complete", "reduced"});
}

// Inputs where iterations stall or vectors are not determined: zero, identity, repeated and
// clustered eigenvalues, a dynamic range of 1e12, rank one; through the loops and LAPACK.
TEST(LinalgDecompositions, HardInputsStillSatisfyTheIdentities) {
  for (int64_t n : {4, 20}) {
    const Tensor Q = linalg::qr(randn({n, n}, 50, DType::f64)).first;
    std::vector<double> graded(n), repeated(n), clustered(n);
    for (int64_t i = 0; i < n; ++i) {
      graded[i] = std::pow(10.0, -12.0 * double(i) / double(n - 1));
      repeated[i] = i < n / 2 ? 1.0 : -3.0;
      clustered[i] = 1.0 + 1e-9 * double(i);
    }
    auto rotated = [&](const std::vector<double>& d) {
      return matmul(Q * tensor(d, {n}, DType::f64), Q.mT());
    };
    const Tensor u = randn({n, 1}, 51, DType::f64);
    const std::vector<std::pair<std::string, Tensor>> cases = {
        {"zero", zeros({n, n}, DType::f64)}, {"identity", eye(n, DType::f64)},
        {"graded", rotated(graded)},         {"repeated", rotated(repeated)},
        {"clustered", rotated(clustered)},   {"rank one", matmul(u, u.mT())}};
    for (const auto& [name, A] : cases) {
      const std::string what = name + " " + std::to_string(n);
      const double scale = std::max(1.0, linalg::matrix_norm(A, 2.0).item());
      const auto [w, V] = linalg::eigh(A);
      expect_orthonormal_columns(V, 1e-12 * double(n), what + " eigh");
      expect_near(matmul(A, V), V * w.unsqueeze(-2), 1e-12 * double(n) * scale, what + " eigh");
      const auto [U, S, Vh] = linalg::svd(A);
      expect_orthonormal_columns(U, 1e-12 * double(n), what + " svd U");
      expect_orthonormal_columns(Vh.mT(), 1e-12 * double(n), what + " svd V");
      expect_near(matmul(U * S.unsqueeze(-2), Vh), A, 1e-12 * double(n) * scale, what + " svd");
      const auto [Qa, Ra] = linalg::qr(A);
      expect_orthonormal_columns(Qa, 1e-12 * double(n), what + " qr");
      expect_near(matmul(Qa, Ra), A, 1e-12 * double(n) * scale, what + " qr");
    }
    // The graded matrix's eigenvalues to their own relative accuracy down to 1e-12 * |A|.
    const std::vector<double> w = linalg::eigvalsh(rotated(graded)).to_vector();
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(w[n - 1 - i], graded[i], 1e-14 * double(n));
  }
}

// The gradients in f32 agree with f64's (the rules keep the input's dtype), both sides of the
// LAPACK threshold.
TEST(LinalgDecompositions, Float32GradientsMatchFloat64) {
  using Fn = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<std::string, Fn>> fns = {
      {"qr",
       [](const Tensor& x) {
         const auto [Q, R] = linalg::qr(x);
         return (Q * sin(Q)).sum() + (R * cos(R)).sum();
       }},
      {"eigh",
       [](const Tensor& x) {
         const auto [w, V] = linalg::eigh(matmul(x.mT(), x) * 0.1);
         return sin(w).sum() + cos(matmul(V * w.unsqueeze(-2), V.mT())).sum();
       }},
      {"svd",
       [](const Tensor& x) {
         const auto [U, S, Vh] = linalg::svd(x, false);
         return matmul(U * sin(S).unsqueeze(-2), Vh).sum() + S.sum();
       }},
      {"pinv, lstsq, norms", [](const Tensor& x) {
         return sin(linalg::pinv(x)).sum() + linalg::lstsq(x, x.narrow(-1, 0, 1)).sum() +
                linalg::matrix_norm(x, "nuc") + linalg::matrix_norm(x, -2.0);
       }}};
  uint64_t seed = 400;
  for (const Shape& s : {Shape{2, 6, 4}, Shape{2, 24, 18}})
    for (const auto& [name, f] : fns) {
      const Tensor x = randn(s, ++seed, DType::f64) + eye(s[1], DType::f64).narrow(-1, 0, s[2]);
      const Tensor x64 = x.detach().requires_grad_(), x32 = x.to(DType::f32).requires_grad_();
      f(x64).sum().backward();
      f(x32).sum().backward();
      ASSERT_EQ(x32.grad().dtype(), DType::f32) << name;
      expect_near(x32.grad().to(DType::f64), x64.grad(), 2e-3, name + " " + shape_str(s));
    }
}

// The portable Jacobi loops scale the matrix to unit size first: neither huge nor tiny entries
// overflow, underflow or stop the iteration ([[3, 1], [1, 2]] s has eigenvalues and singular
// values (5 +- sqrt 5) / 2 s).
TEST(LinalgDecompositions, JacobiLoopsScaleHugeAndTinyMatrices) {
  const double big = (5 + std::sqrt(5.0)) / 2, small = (5 - std::sqrt(5.0)) / 2;
  const std::vector<std::pair<DType, double>> cases = {
      {DType::f64, 1e200}, {DType::f64, 1e-165}, {DType::f64, 1e-300}, {DType::f32, 1e20},
      {DType::f32, 1e-19}, {DType::f32, 1e-22},  {DType::f32, 1e30}};
  for (const auto& [dt, s] : cases) {
    const std::string what = std::string(dtype_name(dt)) + " scale " + std::to_string(s);
    const Tensor a = tensor({3 * s, 1 * s, 1 * s, 2 * s}, {2, 2}, dt);
    const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
    const std::vector<double> sv = linalg::svdvals(a).to_vector();
    EXPECT_NEAR(sv[0] / s, big, tol * big) << what;
    EXPECT_NEAR(sv[1] / s, small, tol * big) << what;
    const std::vector<double> w = linalg::eigvalsh(a).to_vector();
    EXPECT_NEAR(w[0] / s, small, tol * big) << what;
    EXPECT_NEAR(w[1] / s, big, tol * big) << what;
  }
}

// eigh reads one triangle: a NaN in the other is never looked at.
TEST(LinalgDecompositions, EighIgnoresTheTriangleItDoesNotRead) {
  for (int64_t n : {3, 20}) {
    Tensor a = eye(n, DType::f64) * 2.0;
    a.index_put_({0, n - 1}, scalar(std::nan(""), DType::f64));  // upper triangle
    const std::vector<double> w = linalg::eigvalsh(a, "L").to_vector();
    for (double v : w) EXPECT_DOUBLE_EQ(v, 2.0) << "n = " << n;
    expect_error<LinAlgError>([&] { linalg::eigvalsh(a, "U"); }, {"eigvalsh", "non-finite"});
  }
}

// A NaN reaches the portable QR's factors (LAPACK's propagates it too), never a clean result.
TEST(LinalgDecompositions, QrPropagatesNaN) {
  for (int64_t n : {2, 20}) {
    Tensor a = eye(n, DType::f64);
    a.index_put_({1, 0}, scalar(std::nan(""), DType::f64));
    const auto [Q, R] = linalg::qr(a);
    const std::vector<double> q = Q.to_vector(), r = R.to_vector();
    bool any_nan = false;
    for (double v : q) any_nan = any_nan || std::isnan(v);
    for (double v : r) any_nan = any_nan || std::isnan(v);
    EXPECT_TRUE(any_nan) << "n = " << n;
  }
}

// Functions that broadcast inside by design are not refused under strict broadcasting.
TEST(LinalgDecompositions, StrictBroadcastingAllowsTheFunctionsInternals) {
  const Tensor a = randn({2, 4, 3}, 5, DType::f64);
  StrictBroadcastGuard strict;
  EXPECT_EQ(linalg::pinv(a).shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(linalg::matrix_norm(a, "nuc").shape(), (Shape{2}));
  EXPECT_EQ(linalg::lstsq(a, randn({2, 4}, 6, DType::f64)).shape(), (Shape{2, 3}));
}
