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

#include "ndgrad/data.hpp"
#include "ndgrad/io.hpp"
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

// Runs f, expects an exception of type E whose message contains every fragment; returns it.
template <class E, class F>
std::string expect_error(F f, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "no exception thrown";
  } catch (const E& e) {
    const std::string what = e.what();
    for (const auto& frag : fragments)
      EXPECT_NE(what.find(frag), std::string::npos) << "'" << frag << "' missing from: " << what;
    return what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
  return "";
}

}  // namespace

// ---- messages name the call ----

TEST(HardeningMessages, EmptyLogsumexpNamesLogsumexp) {
  for (DType dt : {DType::f32, DType::f64})
    for (const auto& [shape, axes] : std::vector<std::pair<Shape, std::vector<int64_t>>>{
             {{0}, {0}}, {{0}, {}}, {{2, 0}, {1}}, {{2, 0}, {}}, {{0, 3}, {0, 1}}}) {
      const std::string what = expect_error<ValueError>(
          [&] { logsumexp(zeros(shape, dt), axes); }, {"zero-size", shape_str(shape)});
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
      {"copy_", [&] { ones({2, 2}).copy_(u); }},
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
      {"save_npz", [&] { save_npz("/nonexistent/x.npz", {{"a", u}}); }},
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
