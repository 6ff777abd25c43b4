// Checkpoints: the state_dicts of a model, optimizer and schedule, generator positions and
// counters in one .npz, checked whole before anything is restored.
#include "ndgrad/checkpoint.hpp"

#include <atomic>
#include <cstring>

#include "ndgrad/io.hpp"
#include "optim/state.hpp"

namespace ndgrad {

namespace {

constexpr int64_t kVersion = 1;

Tensor generator_state(const Generator& g) {
  const Generator::State s = g.get_state();
  Tensor t = zeros({2}, DType::i64);
  std::memcpy(t.data_ptr<int64_t>(), &s.seed, 8);
  std::memcpy(t.data_ptr<int64_t>() + 1, &s.offset, 8);
  return t;
}

Generator::State read_generator(optim::StateReader& r, const std::string& key) {
  const Tensor t = r.get(key, DType::i64, Shape{2}).contiguous();
  Generator::State s{};
  std::memcpy(&s.seed, t.data_ptr<int64_t>(), 8);
  std::memcpy(&s.offset, t.data_ptr<int64_t>() + 1, 8);
  return s;
}

void put(std::map<std::string, Tensor>& out, const std::string& prefix,
         const std::map<std::string, Tensor>& part) {
  for (const auto& [k, v] : part) out[prefix + k] = v;
}

// The entries under prefix, without it.
std::map<std::string, Tensor> part(const std::map<std::string, Tensor>& all,
                                   const std::string& prefix) {
  std::map<std::string, Tensor> out;
  for (const auto& [k, v] : all)
    if (k.rfind(prefix, 0) == 0) out[k.substr(prefix.size())] = v;
  return out;
}

std::vector<std::pair<std::string, Generator*>> all_generators(const TrainingState& s) {
  std::vector<std::pair<std::string, Generator*>> out{{"rng.default", &default_generator()}};
  if (s.model)
    for (auto& [name, g] : s.model->named_generators()) out.emplace_back("rng.model." + name, g);
  for (auto& [name, g] : s.generators) {
    if (!g) throw ValueError("checkpoint: generator '" + name + "' is null");
    for (const auto& [key, _] : out)
      if (key == "rng." + name) throw ValueError("checkpoint: two generators named '" + name + "'");
    if (name.empty() || name == "default" || name.rfind("model.", 0) == 0)
      throw ValueError("checkpoint: generator name '" + name +
                       "' is empty or taken (default, model.*)");
    out.emplace_back("rng." + name, g);
  }
  return out;
}

}  // namespace

namespace {
std::atomic<int> this_process_rank{0};
}  // namespace

void set_process_rank(int rank) { this_process_rank.store(rank, std::memory_order_relaxed); }
int process_rank() { return this_process_rank.load(std::memory_order_relaxed); }

void save_checkpoint(const std::string& path, const TrainingState& s) {
  if (!s.every_rank && process_rank() != 0) return;
  std::map<std::string, Tensor> out;
  out["checkpoint_version"] = optim::i64_scalar(kVersion);
  out["epoch"] = optim::i64_scalar(s.epoch);
  out["step"] = optim::i64_scalar(s.step);
  if (s.model) put(out, "model.", s.model->state_dict());
  if (s.optimizer) put(out, "optimizer.", s.optimizer->state_dict());
  if (s.scheduler) put(out, "scheduler.", s.scheduler->state_dict());
  for (auto& [key, g] : all_generators(s)) out[key] = generator_state(*g);
  put(out, "extra.", s.extra);
  save_npz(path, out);
}

void load_checkpoint(const std::string& path, TrainingState& s) {
  const std::map<std::string, Tensor> all = load_npz(path);  // IOError if unreadable
  const std::string who = "load_checkpoint: '" + path + "'";
  optim::StateReader r(all, who);
  const int64_t version = r.i64("checkpoint_version");
  if (version != kVersion)
    throw ValueError(who + ": checkpoint_version " + std::to_string(version) +
                     ", this library reads " + std::to_string(kVersion));
  const int64_t epoch = r.i64("epoch"), step = r.i64("step");
  // Everything checked before anything changes.
  auto checked = [&](const char* prefix, auto&& check) {
    const auto p = part(all, prefix);
    try {
      check(p);
    } catch (const ValueError& e) {
      throw ValueError(who + ": in '" + prefix + "*': " + e.what());
    }
    for (const auto& [k, _] : p) r.mark(prefix + k);
    return p;
  };
  std::map<std::string, Tensor> model, optimizer, scheduler;
  if (s.model) model = checked("model.", [&](auto& p) { s.model->check_state_dict(p); });
  if (s.optimizer)
    optimizer = checked("optimizer.", [&](auto& p) { s.optimizer->check_state_dict(p); });
  if (s.scheduler)
    scheduler = checked("scheduler.", [&](auto& p) { s.scheduler->check_state_dict(p); });
  std::vector<std::pair<Generator*, Generator::State>> generators;
  for (auto& [key, g] : all_generators(s)) generators.emplace_back(g, read_generator(r, key));
  const std::map<std::string, Tensor> extra = part(all, "extra.");
  for (const auto& [k, _] : extra) r.mark("extra." + k);
  // The parts the state does not name (a null optimizer: a model loaded for evaluation;
  // generators not listed) are skipped; any other entry is not a checkpoint's.
  for (const auto& [k, _] : all)
    for (const char* prefix : {"model.", "optimizer.", "scheduler.", "rng."})
      if (k.rfind(prefix, 0) == 0) r.mark(k);
  r.expect_all_used();

  if (s.model) s.model->load_state_dict(model);
  if (s.optimizer) s.optimizer->load_state_dict(optimizer);
  if (s.scheduler) s.scheduler->load_state_dict(scheduler);
  for (auto& [g, st] : generators) g->set_state(st);
  s.extra.clear();
  for (const auto& [k, v] : extra) s.extra[k] = v.clone();
  s.epoch = epoch;
  s.step = step;
}

}  // namespace ndgrad
