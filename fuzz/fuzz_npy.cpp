// Feeds arbitrary bytes to the .npy and .npz loaders and to load_checkpoint: a tensor, or an
// IOError / ValueError and a model, optimizer, schedule and generators left as they were.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "ndgrad/ndgrad.hpp"
#include "temp_file.hpp"

namespace {

using namespace ndgrad;

// A small training setup with every kind of state (parameters, buffers, a dropout generator,
// Adam's moments, a schedule); stepped once so the state is all there.
struct Setup {
  nn::Sequential model;
  std::unique_ptr<optim::Adam> opt;
  std::unique_ptr<optim::StepLR> schedule;
  Generator shuffle{3};
  Setup() {
    model.push_back(std::make_shared<nn::Linear>(3, 2, 1));
    model.push_back(std::make_shared<nn::BatchNorm1d>(2));
    model.push_back(std::make_shared<nn::Dropout>(0.5, 2));
    opt = std::make_unique<optim::Adam>(model.parameters(), optim::AdamOptions(0.1).amsgrad(true));
    schedule = std::make_unique<optim::StepLR>(*opt, 2);
    model(randn({4, 3}, 5)).sum().backward();
    opt->step();
    schedule->step();
  }
  TrainingState state() {
    TrainingState s;
    s.model = &model;
    s.optimizer = opt.get();
    s.scheduler = schedule.get();
    s.generators = {{"shuffle", &shuffle}};
    return s;
  }
  // Every value of the state, as bytes.
  std::string snapshot() {
    std::string out;
    auto add = [&](const std::map<std::string, Tensor>& m) {
      for (auto& [k, v] : m) {
        out += k;
        for (double d : v.to_vector()) out.append(reinterpret_cast<const char*>(&d), sizeof d);
      }
    };
    add(model.state_dict());
    add(opt->state_dict());
    add(schedule->state_dict());
    for (auto* g : {&shuffle, &default_generator()}) {
      const auto st = g->get_state();
      out.append(reinterpret_cast<const char*>(&st), sizeof st);
    }
    return out;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = write_fuzz_input("npy", data, size);
  if (path.empty()) return 0;
  try {
    ndgrad::Tensor t = ndgrad::load_npy(path);
    (void)t.to_vector();
  } catch (const ndgrad::Error&) {
  }
  try {
    for (auto& [name, t] : ndgrad::load_npz(path)) (void)t.to_vector();
  } catch (const ndgrad::Error&) {
  }
  static Setup setup;
  const std::string before = setup.snapshot();
  TrainingState s = setup.state();
  try {
    load_checkpoint(path, s);
  } catch (const ndgrad::IOError&) {
    if (setup.snapshot() != before) std::abort();  // a refused file changed the state
  } catch (const ndgrad::ValueError&) {
    if (setup.snapshot() != before) std::abort();
  }
  return 0;
}
