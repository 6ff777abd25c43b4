// Edges that used to fail badly: gradcheck and jacobian on sizes that explode or values that
// are not finite, BatchIterator across epochs, errors that name the call the user made, .npy
// headers NumPy would refuse, and printing large tensors.
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/npy_format.hpp"
#include "ndgrad/data.hpp"
#include "ndgrad/io.hpp"
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

}  // namespace

// ---- gradcheck and jacobian: sizes ----

TEST(HardeningGradcheck, RefusesInputsTooLargeBeforeCallingF) {
  int calls = 0;
  const Fn f = [&](const std::vector<Tensor>& x) {
    ++calls;
    return x[0].sum();
  };
  // A broadcast view costs nothing to make, yet a copy of it would not fit in memory.
  for (const Shape& huge : {Shape{1 << 20, 1 << 20}, Shape{1 << 30, 1 << 30, 4}, Shape{300, 300}})
    for (DType dt : {DType::f32, DType::f64}) {
      const Tensor x = scalar(1.0, dt).broadcast_to(huge);
      expect_error<ValueError>([&] { gradcheck(f, {x}); },
                               {"gradcheck", "input 0", shape_str(huge), "at most"});
    }
  // The limit is on all inputs together; the message names the one that crosses it.
  const Tensor half = zeros({40000}, DType::f64);
  expect_error<ValueError>(
      [&] {
        gradcheck(f, {half, arange(3, DType::i64), half});
      },
      {"gradcheck", "input 2", "(40000,)", "80000"});
  EXPECT_EQ(calls, 0);
  // Integer inputs are not checked, so they do not count.
  const Fn g = [](const std::vector<Tensor>& x) { return x[0] * 2.0; };
  EXPECT_TRUE(gradcheck(g, {randn({3}, 1, DType::f64), zeros({1 << 20}, DType::i64)}).ok);
}

TEST(HardeningGradcheck, RefusesOutputsTooLarge) {
  for (const Shape& huge : {Shape{1 << 20, 1 << 20}, Shape{1 << 13, 1 << 13}}) {
    const Fn f = [&](const std::vector<Tensor>& x) { return x[0].sum().broadcast_to(huge); };
    expect_error<ValueError>([&] { gradcheck(f, {randn({2}, 1, DType::f64)}); },
                             {"gradcheck", "output", shape_str(huge)});
  }
}

TEST(HardeningJacobian, RefusesFullFormsTooLargeBeforeAllocating) {
  // Too many entries, and a count that overflows 64 bits; x or f(x) may be broadcast views.
  const Tensor big = scalar(1.0, DType::f64).broadcast_to({1 << 16, 1 << 16});
  expect_error<MemoryError>([&] { jacobian([](const Tensor& x) { return x; }, big); },
                            {"jacobian", "(65536,65536,65536,65536)", "64 bits"});
  expect_error<MemoryError>(
      [&] {
        jacobian([](const Tensor& x) { return x.sum().broadcast_to({1 << 20}); }, ones({100}));
      },
      {"jacobian", "(1048576,100)", "104857600 entries"});
  // A full form within the limit still works.
  const Tensor J = jacobian([](const Tensor& x) { return x * 2.0; }, ones({3}, DType::f64));
  expect_close(J, eye(3, DType::f64) * 2.0, 0);
}

// ---- gradcheck: NaN and inf ----

TEST(HardeningGradcheck, NanInOneFiniteDifferenceFailsThatElementOnly) {
  // sqrt at exactly 0: f(x - eps) is NaN for that element, every other element is fine.
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor x = tensor({1, 2, 0, 3, 4, 5}, {2, 3}, dt);
    const GradcheckResult r =
        gradcheck([](const std::vector<Tensor>& v) { return sqrt(v[0]); }, {x});
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(std::isnan(r.max_abs_error)) << r.max_abs_error;
    EXPECT_TRUE(std::isnan(r.max_rel_error)) << r.max_rel_error;
    EXPECT_TRUE(contains(r.report, "1 MISMATCHED")) << r.report;
    EXPECT_TRUE(contains(r.report, "element (0,2)")) << r.report;
    EXPECT_TRUE(contains(r.report, "moves by -eps")) << r.report;
    EXPECT_FALSE(contains(r.report, "element (0,0)")) << r.report;
    EXPECT_FALSE(contains(r.report, "max abs error 0\n")) << r.report;
  }
}

TEST(HardeningGradcheck, NanOrInfInTheFunctionsValueIsNamedAndFails) {
  // log of a negative (nan) and 1/0 (inf) at input element 1 of the second input.
  const std::vector<std::pair<Fn, std::string>> cases = {
      {[](const std::vector<Tensor>& v) { return v[0] * log(v[1]); }, "nan"},
      {[](const std::vector<Tensor>& v) { return v[0] / v[1]; }, "inf"},
  };
  for (const auto& [f, kind] : cases) {
    const Tensor a = tensor({1, 2, 3}, {3}, DType::f64);
    const Tensor b = tensor({2, kind == "nan" ? -1.0 : 0.0, 4}, {3}, DType::f64);
    const GradcheckResult r = gradcheck(f, {a, b});
    EXPECT_FALSE(r.ok) << r.report;
    EXPECT_TRUE(std::isnan(r.max_abs_error)) << r.report;
    EXPECT_TRUE(contains(r.report, "f(inputs) is " + kind + " at output element (1)")) << r.report;
    // The other outputs are still compared element by element, and agree; backward through
    // the bad output gives nan, and says so.
    EXPECT_TRUE(contains(r.report, "input 0 element (1): backward nan")) << r.report;
    EXPECT_TRUE(contains(r.report, "1 MISMATCHED")) << r.report;
    for (const char* fine : {"element (0)", "element (2)"})
      EXPECT_FALSE(contains(r.report, fine)) << r.report;
  }
}

TEST(HardeningGradcheck, AllOutputsNanNeverReportsAZeroError) {
  for (DType dt : {DType::f32, DType::f64}) {
    const GradcheckResult r = gradcheck(
        [](const std::vector<Tensor>& v) { return log(v[0] - 10.0); }, {ones({2, 2}, dt)});
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(std::isnan(r.max_abs_error));
    EXPECT_TRUE(std::isnan(r.max_rel_error));
    EXPECT_FALSE(contains(r.report, "error 0")) << r.report;
    EXPECT_TRUE(contains(r.report, "output element (1,1)")) << r.report;
    EXPECT_TRUE(contains(r.report, "max abs error nan")) << r.report;
  }
}

TEST(HardeningGradcheck, NanFromBackwardIsNamed) {
  // sqrt(|x|) * 0 is 0 everywhere, but backward computes 0 * inf = nan at x = 0.
  const Tensor x = tensor({0, 1, 2}, {3}, DType::f64);
  const GradcheckResult r =
      gradcheck([](const std::vector<Tensor>& v) { return sqrt(abs(v[0])) * 0.0; }, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(std::isnan(r.max_abs_error));
  EXPECT_TRUE(contains(r.report, "element (0): backward nan")) << r.report;
  EXPECT_TRUE(contains(r.report, "backward gives nan")) << r.report;
}

TEST(HardeningGradcheck, ManyNonFiniteElementsAreNamedBeforeMismatches) {
  // A wrong gradient everywhere (plain mismatches) plus nan at the last element: the nan is
  // still listed although more than eight mismatches come before it.
  const Tensor x = arange(20, DType::f64) + 1.0;
  const Fn f = [](const std::vector<Tensor>& v) {
    const Tensor wrong = v[0] * v[0].detach();  // backward misses half the derivative
    return where(v[0] > 19.5, log(v[0] - 21.0 + v[0].detach() * 0.0), wrong);
  };
  const GradcheckResult r = gradcheck(f, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(std::isnan(r.max_abs_error));
  EXPECT_TRUE(contains(r.report, "output element (19)")) << r.report;
  EXPECT_TRUE(contains(r.report, "... and")) << r.report;
}

TEST(HardeningGradcheck, PassingChecksReportFiniteErrors) {
  const GradcheckResult r =
      gradcheck([](const std::vector<Tensor>& v) { return tanh(v[0]) * v[1]; },
                {randn({3, 4}, 1, DType::f64), randn({4}, 2, DType::f64)});
  EXPECT_TRUE(r.ok) << r.report;
  EXPECT_TRUE(std::isfinite(r.max_abs_error));
  EXPECT_LE(r.max_rel_error, 1e-3);
}

// ---- BatchIterator across epochs ----

namespace {

// The labels each epoch serves, in order, epoch by epoch.
using Epochs = std::vector<std::vector<double>>;

data::BatchIterator make_batches(int64_t n, int64_t batch, bool shuffle) {
  return data::BatchIterator(arange(n).reshape({n, 1}), arange(n, DType::i64), batch, shuffle, 5);
}

// The old way: start_epoch() before each epoch but the first.
Epochs with_start_epoch(int64_t n, int64_t batch, bool shuffle, int epochs) {
  data::BatchIterator it = make_batches(n, batch, shuffle);
  Epochs out;
  Tensor x, y;
  for (int e = 0; e < epochs; ++e) {
    if (e) it.start_epoch();
    out.emplace_back();
    while (it.next(x, y))
      for (double v : y.to_vector()) out.back().push_back(v);
  }
  return out;
}

}  // namespace

TEST(HardeningBatchIterator, PlainEpochLoopServesEveryEpoch) {
  for (int64_t n : {10, 12, 1, 0})
    for (int64_t batch : {1, 4, 5, 64})
      for (bool shuffle : {true, false}) {
        SCOPED_TRACE("n " + std::to_string(n) + " batch " + std::to_string(batch));
        data::BatchIterator it = make_batches(n, batch, shuffle);
        Epochs got;
        Tensor x, y;
        for (int e = 0; e < 4; ++e) {
          got.emplace_back();
          int64_t batches = 0;
          while (it.next(x, y)) {
            ++batches;
            expect_values(x.flatten(), y.to_vector());  // inputs and labels stay paired
            for (double v : y.to_vector()) got.back().push_back(v);
          }
          EXPECT_EQ(batches, it.num_batches());
          std::vector<double> sorted = got.back();
          std::sort(sorted.begin(), sorted.end());
          EXPECT_EQ(sorted, arange(n, DType::f64).to_vector());  // every sample once
        }
        // The same orders as calling start_epoch() between epochs: same shuffles per seed.
        EXPECT_EQ(got, with_start_epoch(n, batch, shuffle, 4));
        if (shuffle && n >= 10) {
          EXPECT_NE(got[1], got[2]);
        }
      }
}

TEST(HardeningBatchIterator, RangeForServesOneEpochPerLoop) {
  for (int64_t batch : {3, 4, 100}) {
    data::BatchIterator it = make_batches(10, batch, true);
    Epochs got;
    for (int e = 0; e < 3; ++e) {
      got.emplace_back();
      for (auto [x, y] : it) {
        expect_values(x.flatten(), y.to_vector());
        for (double v : y.to_vector()) got.back().push_back(v);
      }
    }
    EXPECT_EQ(got, with_start_epoch(10, batch, true, 3));
  }
  // After next() has drained an epoch without seeing false, a range-for starts the next one.
  data::BatchIterator it = make_batches(8, 4, true);
  Tensor x, y;
  ASSERT_TRUE(it.next(x, y));
  ASSERT_TRUE(it.next(x, y));
  int64_t served = 0;
  for (const auto& batch : it) served += batch.inputs.shape()[0];
  EXPECT_EQ(served, 8);
  // A loop left early leaves the rest of its epoch to the next loop.
  data::BatchIterator part = make_batches(12, 4, false);
  std::vector<double> first, rest;
  for (auto [bx, by] : part) {
    first = by.to_vector();
    break;
  }
  for (auto [bx, by] : part)
    for (double v : by.to_vector()) rest.push_back(v);
  EXPECT_EQ(first, (std::vector<double>{0, 1, 2, 3}));
  EXPECT_EQ(rest, (std::vector<double>{4, 5, 6, 7, 8, 9, 10, 11}));
  // An empty data set gives empty epochs, not an endless loop.
  data::BatchIterator empty = make_batches(0, 4, true);
  for (int e = 0; e < 3; ++e)
    for (const auto& b : empty) ADD_FAILURE() << "a batch of " << b.inputs.shape()[0];
}

TEST(HardeningBatchIterator, HugeBatchSizesDoNotOverflow) {
  for (int64_t batch : {INT64_MAX, INT64_MAX - 1, INT64_MAX / 2 + 1, int64_t(1) << 62}) {
    data::BatchIterator it = make_batches(7, batch, true);
    EXPECT_EQ(it.num_batches(), 1) << batch;
    Tensor x, y;
    ASSERT_TRUE(it.next(x, y));
    EXPECT_EQ(x.shape(), (Shape{7, 1}));
    EXPECT_FALSE(it.next(x, y));
  }
  EXPECT_EQ(make_batches(0, INT64_MAX, false).num_batches(), 0);
  EXPECT_EQ(make_batches(10, 3, false).num_batches(), 4);
  EXPECT_EQ(make_batches(9, 3, false).num_batches(), 3);
}

// ---- messages name the call ----

TEST(HardeningMessages, EmptyLogsumexpNamesLogsumexp) {
  for (DType dt : {DType::f32, DType::f64})
    for (const auto& [shape, axes] : std::vector<std::pair<Shape, std::vector<int64_t>>>{
             {{0}, {0}}, {{0}, {}}, {{2, 0}, {1}}, {{2, 0}, {}}, {{0, 3}, {0, 1}}}) {
      const std::string what = expect_error<ValueError>([&] { logsumexp(zeros(shape, dt), axes); },
                                                        {"zero-size", shape_str(shape)});
      EXPECT_EQ(what.rfind("logsumexp:", 0), 0u) << what;
    }
  // A non-empty reduction of a tensor with an empty axis elsewhere is fine.
  EXPECT_EQ(logsumexp(zeros({0, 3}), {1}).shape(), (Shape{0}));
}

TEST(HardeningMessages, UndefinedTensorsNameTheCallAndTheCause) {
  const Tensor u, d = ones({2, 2});
  const std::vector<std::pair<std::string, std::function<void()>>> calls = {
      {"shape", [&] { u.shape(); }},
      {"strides", [&] { u.strides(); }},
      {"ndim", [&] { u.ndim(); }},
      {"numel", [&] { u.numel(); }},
      {"size", [&] { u.size(0); }},
      {"dtype", [&] { u.dtype(); }},
      {"is_contiguous", [&] { u.is_contiguous(); }},
      {"to_vector", [&] { u.to_vector(); }},
      {"item", [&] { u.item(); }},
      {"data_ptr", [&] { u.data_ptr<float>(); }},
      {"to", [&] { u.to(DType::f64); }},
      {"contiguous", [&] { u.contiguous(); }},
      {"copy_", [&] { Tensor(u).copy_(d); }},
      {"copy_",
       [&] {
         ones({2, 2}).copy_(u);
       }},
      {"broadcast_to", [&] { u.broadcast_to({2}); }},
      {"reshape", [&] { u.reshape({2}); }},
      {"flatten", [&] { u.flatten(); }},
      {"transpose", [&] { u.transpose(0, 1); }},
      {"T", [&] { u.T(); }},
      {"mT", [&] { u.mT(); }},
      {"permute", [&] { u.permute({0}); }},
      {"squeeze", [&] { u.squeeze(0); }},
      {"unsqueeze", [&] { u.unsqueeze(0); }},
      {"sum", [&] { u.sum(); }},
      {"mean", [&] { u.mean(); }},
      {"max", [&] { u.max(); }},
      {"min", [&] { min(u); }},
      {"argmax", [&] { u.argmax(0); }},
      {"argmin", [&] { argmin(u, 0); }},
      {"matmul", [&] { u.matmul(d); }},
      {"matmul", [&] { matmul(d, u); }},
      {"zeros_like", [&] { zeros_like(u); }},
      {"ones_like", [&] { ones_like(u); }},
      {"sum_to", [&] { sum_to(u, {1}); }},
      {"add", [&] { u + d; }},
      {"add", [&] { u + 1.0; }},
      {"add", [&] { 1.0 + u; }},
      {"sub", [&] { 1.0 - u; }},
      {"mul", [&] { u * 2.0; }},
      {"div", [&] { 2.0 / u; }},
      {"neg", [&] { -u; }},
      {"pow", [&] { pow(u, 2.0); }},
      {"pow", [&] { pow(d, u); }},
      {"exp", [&] { exp(u); }},
      {"sign", [&] { sign(u); }},
      {"maximum", [&] { maximum(d, u); }},
      {"where", [&] { where(u, d, d); }},
      {"equal", [&] { u == 1.0; }},
      {"less", [&] { u < 1.0; }},
      {"less", [&] { 1.0 < u; }},
      {"logsumexp", [&] { logsumexp(u, {0}); }},
      {"save_npy", [&] { save_npy("/nonexistent/x.npy", u); }},
      {"save_npz",
       [&] {
         save_npz("/nonexistent/x.npz", {{"a", u}});
       }},
      {"jacobian", [&] { jacobian([](const Tensor& x) { return x; }, u); }},
      {"gradcheck",
       [&] {
         gradcheck([](const std::vector<Tensor>& x) { return x[0]; }, {d, u});
       }},
      {"to_dot", [&] { to_dot(u); }},
      {"gather_rows", [&] { data::gather_rows(u, {0}); }},
      {"standardize", [&] { data::standardize(u, 0, 1); }},
      {"mean_std", [&] { data::mean_std(u); }},
      {"BatchIterator", [&] { data::BatchIterator(u, d, 1, false, 0); }},
      {"BatchIterator", [&] { data::BatchIterator(d, u, 1, false, 0); }},
      {"Linear", [&] { nn::Linear(2, 2)(u); }},
      {"shape", [&] { ones({2}).requires_grad_().grad().shape(); }},  // no backward yet
  };
  for (const auto& [name, call] : calls) {
    SCOPED_TRACE(name);
    const std::string what =
        expect_error<ValueError>(call, {"undefined", "default-constructed", ".grad()"});
    EXPECT_EQ(what.rfind(name + ":", 0), 0u) << what;
    EXPECT_LT(what.size(), 160u) << what;  // short
  }
}

// ---- .npy headers ----

namespace {

std::string temp_path(const std::string& name) {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/ndgrad_edges_XXXXXX";
    std::string d = mkdtemp(tmpl);
    struct Cleanup {
      std::string d;
      ~Cleanup() {
        std::error_code ignored;
        std::filesystem::remove_all(d, ignored);
      }
    };
    static Cleanup cleanup{d};
    return d;
  }();
  return dir + "/" + name;
}

// A version-1 .npy file with the given header text (padded as NumPy pads) and body.
std::string npy_with_header(std::string header, const std::string& body) {
  return npy_preamble(std::move(header)) + body;
}

std::string f8_body(std::vector<double> v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double));
}

}  // namespace

TEST(HardeningNpy, HeadersNumpyRefusesAreIOErrorsNamingFileAndProblem) {
  const std::string body = f8_body({1, 2, 3});
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{'descr': '<f8', 'fortran_order': 'False', 'shape': (3,), }", "fortran_order"},
      {"{'descr': '<f8', 'fortran_order': 0, 'shape': (3,), }", "True or False"},
      {"{'descr': '<f8', 'fortran_order': Falsey, 'shape': (3,), }", "True or False"},
      {"{'descr': '<f8', 'fortran_order': None, 'shape': (3,), }", "True or False"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'extra': 1}",
       "unknown key 'extra'"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'Descr': '<f8'}", "unknown key"},
      {"{'descr': '<f8', 'shape': (3,), }", "no 'fortran_order'"},
      {"{'fortran_order': False, 'shape': (3,), }", "no 'descr'"},
      {"{'descr': '<f8', 'fortran_order': False, }", "no 'shape'"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'shape': (3,)}", "twice"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': 3, }", "tuple"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (3), }", "tuple"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': [3], }", "tuple"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (-3,), }", "negative"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': ('3',), }", "tuple"},
      {"{'descr': 8, 'fortran_order': False, 'shape': (3,), }", "descr"},
      {"{'descr': '<f8' 'fortran_order': False, 'shape': (3,), }", "expected ','"},
      {"'descr': '<f8', 'fortran_order': False, 'shape': (3,)", "not a dict"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} junk", "after the header"},
      {"{'fortran_order': False, 'shape': (3,), 'note': 'descr': '<f8'}", "unknown key 'note'"},
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    const std::string path = temp_path("bad" + std::to_string(i) + ".npy");
    std::ofstream(path, std::ios::binary) << npy_with_header(bad[i].first, body);
    SCOPED_TRACE(bad[i].first);
    expect_error<IOError>([&] { load_npy(path); }, {"load_npy", path, bad[i].second});
  }
  // Inside an .npz, the member is named too.
  std::map<std::string, Tensor> arrays{{"w", ones({3}, DType::f64)}};
  const std::string npz = temp_path("bad.npz");
  save_npz(npz, arrays);
  std::string zip;
  {
    std::ifstream f(npz, std::ios::binary);
    zip.assign(std::istreambuf_iterator<char>(f), {});
  }
  // Same length, so the zip's sizes stay right, and the member's CRC (in its local header and
  // the central directory) updated, so that the header is what fails.
  const size_t start = zip.find("\x93NUMPY"), at = zip.find("False");
  ASSERT_NE(start, std::string::npos);
  ASSERT_NE(at, std::string::npos);
  const size_t member_size = zip.find("PK", at) - start;
  auto crc_of = [&] {
    return static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(zip.data() + start), member_size));
  };
  auto le32 = [](uint32_t v) {
    return std::string{char(v), char(v >> 8), char(v >> 16), char(v >> 24)};
  };
  const std::string old_crc = le32(crc_of());
  zip.replace(at, 5, "Fals_");
  const std::string new_crc = le32(crc_of());
  for (size_t p = zip.find(old_crc); p != std::string::npos; p = zip.find(old_crc, p + 4))
    zip.replace(p, 4, new_crc);
  std::ofstream(npz, std::ios::binary) << zip;
  expect_error<IOError>([&] { load_npz(npz); }, {"load_npz", npz, "'w'"});
}

TEST(HardeningNpy, HeadersNumpyWritesStillLoad) {
  const std::string body = f8_body({1, 2, 3, 4, 5, 6});
  const std::vector<std::pair<std::string, Shape>> good = {
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (6,), }", {6}},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}", {2, 3}},
      {"{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (3, 2,)}", {3, 2}},
      {"{'shape': (6,), 'fortran_order': False, 'descr': '<f8'}", {6}},
      {"{ 'descr' : '<f8' ,\t'fortran_order' : False , 'shape' : ( 1 , 6 ) , }", {1, 6}},
      {"{'descr': '<f8', 'fortran_order': True, 'shape': (3, 2), }", {3, 2}},
  };
  for (size_t i = 0; i < good.size(); ++i) {
    const std::string path = temp_path("good" + std::to_string(i) + ".npy");
    std::ofstream(path, std::ios::binary) << npy_with_header(good[i].first, body);
    const Tensor t = load_npy(path);
    EXPECT_EQ(t.shape(), good[i].second) << good[i].first;
  }
  // Fortran order still transposes: column-major (3,2) of 1..6.
  const Tensor f = load_npy(temp_path("good5.npy"));
  expect_values(f, {1, 4, 2, 5, 3, 6});
  // A 0-d array: shape ().
  const std::string path = temp_path("scalar.npy");
  std::ofstream(path, std::ios::binary)
      << npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", f8_body({7}));
  EXPECT_EQ(load_npy(path).item(), 7);
}

// ---- printing ----

namespace {

std::string printed(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

size_t count_of(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

}  // namespace

TEST(HardeningPrinting, LargeTensorsAreSummarizedLikeNumpy) {
  EXPECT_EQ(printed(arange(2000, DType::i64)),
            "tensor([   0    1    2 ... 1997 1998 1999], dtype=i64)");
  EXPECT_EQ(printed(arange(10000, DType::i64).reshape({100, 100})),
            "tensor([[   0    1    2 ...   97   98   99]\n"
            "        [ 100  101  102 ...  197  198  199]\n"
            "        [ 200  201  202 ...  297  298  299]\n"
            "        ...\n"
            "        [9700 9701 9702 ... 9797 9798 9799]\n"
            "        [9800 9801 9802 ... 9897 9898 9899]\n"
            "        [9900 9901 9902 ... 9997 9998 9999]], dtype=i64)");
  // Three axes: blocks apart by a blank line, the elided block too; a short axis is whole.
  const std::string three = printed(arange(2 * 1000 * 3, DType::i64).reshape({2, 1000, 3}));
  EXPECT_EQ(three,
            "tensor([[[   0    1    2]\n"
            "         [   3    4    5]\n"
            "         [   6    7    8]\n"
            "         ...\n"
            "         [2991 2992 2993]\n"
            "         [2994 2995 2996]\n"
            "         [2997 2998 2999]]\n"
            "\n"
            "        [[3000 3001 3002]\n"
            "         [3003 3004 3005]\n"
            "         [3006 3007 3008]\n"
            "         ...\n"
            "         [5991 5992 5993]\n"
            "         [5994 5995 5996]\n"
            "         [5997 5998 5999]]], dtype=i64)");
  const std::string cube = printed(arange(8000).reshape({20, 20, 20}));
  EXPECT_NE(cube.find("]]\n\n        ...\n\n        [["), std::string::npos) << cube;
  EXPECT_EQ(count_of(cube, "..."), 6u * 6u + 6u + 1u);  // per row, per block, between blocks
  // Up to the threshold nothing is elided; past it, for every dtype and a transposed layout.
  EXPECT_EQ(count_of(printed(arange(1000)), "..."), 0u);
  EXPECT_EQ(count_of(printed(arange(1001)), "..."), 1u);
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::boolean})
    EXPECT_EQ(count_of(printed(ones({40, 30}, dt)), "..."), 7u) << dtype_name(dt);
  EXPECT_EQ(printed(arange(1001).reshape({7, 143}).T()).substr(0, 49),
            "tensor([[   0.  143.  286. ...  572.  715.  858.]");
  // Small tensors print as before.
  EXPECT_EQ(printed(tensor({0, 1, 2, 3, 4, 5}, {2, 3})),
            "tensor([[0. 1. 2.]\n        [3. 4. 5.]], dtype=f32)");
  // Empty with several axes: the shape only, as NumPy prints array([], shape=(2, 0)).
  EXPECT_EQ(printed(zeros({2, 0})), "tensor([], shape=(2,0), dtype=f32)");
}

TEST(HardeningPrinting, HugeViewsPrintWithoutMaterializing) {
  // 2^40 elements (8 TiB as f64): only the printed ones are read.
  const Tensor huge = scalar(1.5, DType::f64).broadcast_to({1 << 20, 1 << 20});
  const std::string text = printed(huge);
  EXPECT_EQ(count_of(text, "1.5"), 36u) << text;
  EXPECT_EQ(text.substr(0, 38), "tensor([[1.5 1.5 1.5 ... 1.5 1.5 1.5]\n");
  // Many axes: the edges shrink so that the printed values stay few.
  const std::string eight = printed(scalar(2.0).broadcast_to(Shape(8, 7)));
  EXPECT_LE(count_of(eight, "2."), size_t(1) << 16);
  EXPECT_GT(count_of(eight, "2."), 0u);
  // Too many axes for even one value per edge: the shape instead of the values.
  EXPECT_EQ(printed(scalar(2.0).broadcast_to(Shape(32, 3))),
            "tensor([...], shape=" + shape_str(Shape(32, 3)) + ",\n       dtype=f32)");
}
