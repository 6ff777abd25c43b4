// W10's baseline, loaded into the Python benchmark's process (bench/python/python_vs_torch.py):
// W2's step (an MLP 784-256-128-10, batch 64, SGD with momentum 0.9) written in C++, so the
// Python-driven step and the C++ one are timed in the same process, round after round.
#include <pybind11/pybind11.h>

#include <cstdint>

#include "ndgrad/ndgrad.hpp"

namespace nd = ndgrad;
namespace py = pybind11;

namespace {

class MlpStep {
 public:
  MlpStep()
      : model_(nd::nn::Linear(784, 256, 1), nd::nn::ReLU(), nd::nn::Linear(256, 128, 2),
               nd::nn::ReLU(), nd::nn::Linear(128, 10, 3)),
        opt_(model_.parameters(), 0.01, 0.9),
        x_(nd::randn({64, 784}, 4)),
        y_((nd::rand({64}, 5, nd::DType::f64) * 10.0).to(nd::DType::i64)) {}

  // n steps, without the interpreter's lock (as the Python side's kernels run).
  void run(int64_t n) {
    py::gil_scoped_release release;
    for (int64_t i = 0; i < n; ++i) {
      opt_.zero_grad();
      nd::nn::cross_entropy(model_(x_), y_).backward();
      opt_.step();
    }
  }

 private:
  nd::nn::Sequential model_;
  nd::optim::SGD opt_;
  nd::Tensor x_, y_;
};

}  // namespace

PYBIND11_MODULE(ndgrad_bench_native, m) {
  m.doc() = "W10's C++ baseline: W2's MLP step";
  py::class_<MlpStep>(m, "MlpStep").def(py::init<>()).def("run", &MlpStep::run);
  // This module links its own copy of the library: its thread count is set here.
  m.def("set_num_threads", [](int n) { nd::set_num_threads(n); });
}
