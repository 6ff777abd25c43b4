// Learning-rate schedules: closed forms of epoch (or batch) t, and reduce-on-plateau.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "ndgrad/optim.hpp"
#include "optim/state.hpp"

namespace ndgrad::optim {

namespace {

constexpr double kPi = 3.14159265358979323846;

}  // namespace

// --- Scheduler -----------------------------------------------------------------------------

std::vector<double> Scheduler::get_last_lr() const {
  std::vector<double> out;
  for (const auto& g : optimizer_.param_groups()) out.push_back(*g.lr);
  return out;
}

std::map<std::string, Tensor> Scheduler::state_dict() const {
  return {{"last_epoch", i64_scalar(last_epoch_)}};
}

void Scheduler::visit(StateReader& r, bool apply) {
  const int64_t e = r.i64("last_epoch");
  // (below the int64 maximum: step() adds one)
  require(e >= 0 && e < std::numeric_limits<int64_t>::max(),
          "Scheduler::load_state_dict: 'last_epoch' must be in [0, 2^63 - 1), got " +
              std::to_string(e));
  if (apply) last_epoch_ = e;
}

void Scheduler::check_state_dict(const std::map<std::string, Tensor>& state) const {
  StateReader r(state, "Scheduler::load_state_dict");
  // (visit changes nothing without apply)
  const_cast<Scheduler*>(this)->visit(r, false);
  r.expect_all_used();
}

void Scheduler::load_state_dict(const std::map<std::string, Tensor>& state) {
  check_state_dict(state);
  StateReader r(state, "Scheduler::load_state_dict");
  visit(r, true);
}

// --- closed forms --------------------------------------------------------------------------

LRScheduler::LRScheduler(Optimizer& optimizer) : Scheduler(optimizer) {
  for (const auto& g : optimizer.param_groups()) base_lrs_.push_back(*g.lr);
}

void LRScheduler::apply() {
  auto& groups = optimizer_.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) groups[g].lr = lr_at(g, last_epoch_);
  momentum_at(last_epoch_);
}

void LRScheduler::step() {
  ++last_epoch_;
  try {
    apply();
  } catch (...) {
    --last_epoch_;
    throw;
  }
}

std::map<std::string, Tensor> LRScheduler::state_dict() const {
  auto out = Scheduler::state_dict();
  out["base_lrs"] = tensor(base_lrs_, {int64_t(base_lrs_.size())}, DType::f64);
  return out;
}

void LRScheduler::visit(StateReader& r, bool apply) {
  Scheduler::visit(r, apply);
  const Tensor b = r.get("base_lrs", DType::f64, Shape{int64_t(base_lrs_.size())}).contiguous();
  // (the groups' lr come from these: an optimizer refuses a negative or non-finite one)
  for (size_t g = 0; g < base_lrs_.size(); ++g)
    require(b.data_ptr<double>()[g] >= 0 && std::isfinite(b.data_ptr<double>()[g]),
            "Scheduler::load_state_dict: 'base_lrs' must be finite and >= 0, got " +
                num(b.data_ptr<double>()[g]));
  if (apply)
    for (size_t g = 0; g < base_lrs_.size(); ++g) base_lrs_[g] = b.data_ptr<double>()[g];
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size_, double gamma_)
    : LRScheduler(optimizer), step_size(step_size_), gamma(gamma_) {
  require(step_size > 0, "StepLR: step_size must be positive, got " + std::to_string(step_size));
  apply();
}
double StepLR::lr_at(size_t g, int64_t t) const {
  return base_lrs_[g] * std::pow(gamma, double(t / step_size));
}

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones_, double gamma_)
    : LRScheduler(optimizer),
      milestones([&] {
        std::sort(milestones_.begin(), milestones_.end());
        return milestones_;
      }()),
      gamma(gamma_) {
  apply();
}
double MultiStepLR::lr_at(size_t g, int64_t t) const {
  const auto passed =
      std::upper_bound(milestones.begin(), milestones.end(), t) - milestones.begin();
  return base_lrs_[g] * std::pow(gamma, double(passed));
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma_)
    : LRScheduler(optimizer), gamma(gamma_) {
  apply();
}
double ExponentialLR::lr_at(size_t g, int64_t t) const {
  return base_lrs_[g] * std::pow(gamma, double(t));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max_, double eta_min_)
    : LRScheduler(optimizer), T_max(T_max_), eta_min(eta_min_) {
  require(T_max > 0, "CosineAnnealingLR: T_max must be positive, got " + std::to_string(T_max));
  require(eta_min >= 0, "CosineAnnealingLR: eta_min must be >= 0, got " + num(eta_min));
  apply();
}
double CosineAnnealingLR::lr_at(size_t g, int64_t t) const {
  return eta_min + (base_lrs_[g] - eta_min) * (1 + std::cos(kPi * double(t) / double(T_max))) / 2;
}

CosineWarmupLR::CosineWarmupLR(Optimizer& optimizer, int64_t warmup_steps_, int64_t total_steps_,
                               double eta_min_, double start_factor_)
    : LRScheduler(optimizer),
      warmup_steps(warmup_steps_),
      total_steps(total_steps_),
      eta_min(eta_min_),
      start_factor(start_factor_) {
  require(warmup_steps >= 0 && warmup_steps < total_steps,
          "CosineWarmupLR: need 0 <= warmup_steps < total_steps, got " +
              std::to_string(warmup_steps) + " and " + std::to_string(total_steps));
  require(eta_min >= 0, "CosineWarmupLR: eta_min must be >= 0, got " + num(eta_min));
  require(start_factor >= 0 && start_factor <= 1,
          "CosineWarmupLR: start_factor must be in [0, 1], got " + num(start_factor));
  apply();
}
double CosineWarmupLR::lr_at(size_t g, int64_t t) const {
  const double base = base_lrs_[g];
  if (t < warmup_steps)
    return base * (start_factor + (1 - start_factor) * double(t) / double(warmup_steps));
  if (t >= total_steps) return eta_min;
  const double pct = double(t - warmup_steps) / double(total_steps - warmup_steps);
  return eta_min + (base - eta_min) * (1 + std::cos(kPi * pct)) / 2;
}

OneCycleLR::OneCycleLR(Optimizer& optimizer, OneCycleOptions o)
    : LRScheduler(optimizer), options(o) {
  require(o.max_lr() > 0 && std::isfinite(o.max_lr()),
          "OneCycleLR: max_lr must be positive, got " + num(o.max_lr()));
  require(o.total_steps() > 0,
          "OneCycleLR: total_steps must be positive, got " + std::to_string(o.total_steps()));
  require(o.pct_start() >= 0 && o.pct_start() <= 1,
          "OneCycleLR: pct_start must be in [0, 1], got " + num(o.pct_start()));
  require(o.div_factor() > 0 && o.final_div_factor() > 0,
          "OneCycleLR: div_factor and final_div_factor must be positive");
  if (o.cycle_momentum()) {
    require(optimizer.has_momentum(),
            "OneCycleLR: cycle_momentum needs an optimizer with momentum (SGD, RMSprop, Adam's "
            "beta1)");
    require(o.base_momentum() >= 0 && o.base_momentum() <= o.max_momentum() && o.max_momentum() < 1,
            "OneCycleLR: need 0 <= base_momentum <= max_momentum < 1, got " +
                num(o.base_momentum()) + " and " + num(o.max_momentum()));
  }
  const double n = double(o.total_steps()), p = o.pct_start();
  if (o.three_phase())
    phases_ = {{p * n - 1, 0, 1}, {2 * p * n - 2, 1, 0}, {n - 1, 0, 2}};
  else
    phases_ = {{p * n - 1, 0, 1}, {n - 1, 1, 2}};
  apply();
}

double OneCycleLR::anneal(int64_t t, double initial, double max, double min) const {
  require(t <= options.total_steps(), "OneCycleLR: stepped " + std::to_string(t) +
                                          " times, past total_steps " +
                                          std::to_string(options.total_steps()));
  const double values[3] = {initial, max, min};
  double start_step = 0;
  for (size_t i = 0; i < phases_.size(); ++i) {
    const Phase& ph = phases_[i];
    if (double(t) <= ph.end_step || i + 1 == phases_.size()) {
      // A phase of no length (pct_start * total_steps == 1, or pct_start 1 at the last step):
      // PyTorch's division by zero, not a NaN lr.
      require(ph.end_step != start_step, "OneCycleLR: step " + std::to_string(t) +
                                             " falls in a phase of no length (pct_start " +
                                             num(options.pct_start()) + ", total_steps " +
                                             std::to_string(options.total_steps()) + ")");
      const double pct = (double(t) - start_step) / (ph.end_step - start_step);
      const double a = values[ph.start], b = values[ph.end];
      return options.cos_anneal() ? b + (a - b) / 2 * (std::cos(kPi * pct) + 1) : (b - a) * pct + a;
    }
    start_step = ph.end_step;
  }
  return min;  // (not reached)
}

double OneCycleLR::lr_at(size_t, int64_t t) const {
  const double initial = options.max_lr() / options.div_factor();
  return anneal(t, initial, options.max_lr(), initial / options.final_div_factor());
}

void OneCycleLR::momentum_at(int64_t t) {
  if (!options.cycle_momentum()) return;
  // The momentum goes opposite to the lr: its "initial" and "min" are max_momentum.
  const double m =
      anneal(t, options.max_momentum(), options.base_momentum(), options.max_momentum());
  for (auto& g : optimizer_.param_groups()) g.momentum = m;
}

// --- reduce on plateau ---------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions o)
    : Scheduler(optimizer), options(o) {
  require(o.factor() >= 0 && o.factor() < 1,
          "ReduceLROnPlateau: factor must be in [0, 1), got " + num(o.factor()));
  require(o.patience() >= 0 && o.cooldown() >= 0,
          "ReduceLROnPlateau: patience and cooldown must be >= 0");
  require(o.threshold() >= 0,
          "ReduceLROnPlateau: threshold must be >= 0, got " + num(o.threshold()));
  require(o.min_lr() >= 0, "ReduceLROnPlateau: min_lr must be >= 0, got " + num(o.min_lr()));
  best_ = o.mode_max() ? -HUGE_VAL : HUGE_VAL;
}

bool ReduceLROnPlateau::better(double a, double best) const {
  const double th = options.threshold();
  if (options.mode_max()) return options.threshold_rel() ? a > best * (th + 1) : a > best + th;
  return options.threshold_rel() ? a < best * (1 - th) : a < best - th;
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;
  }
  if (num_bad_epochs_ > options.patience()) {
    for (auto& g : optimizer_.param_groups()) {
      const double old_lr = *g.lr, new_lr = std::max(old_lr * options.factor(), options.min_lr());
      if (old_lr - new_lr > options.eps()) g.lr = new_lr;
    }
    cooldown_counter_ = options.cooldown();
    num_bad_epochs_ = 0;
  }
}

std::map<std::string, Tensor> ReduceLROnPlateau::state_dict() const {
  auto out = Scheduler::state_dict();
  out["best"] = f64_scalar(best_);
  out["num_bad_epochs"] = i64_scalar(num_bad_epochs_);
  out["cooldown_counter"] = i64_scalar(cooldown_counter_);
  return out;
}

void ReduceLROnPlateau::visit(StateReader& r, bool apply) {
  Scheduler::visit(r, apply);
  const double best = r.f64("best");
  const int64_t bad = r.i64("num_bad_epochs"), cool = r.i64("cooldown_counter");
  require(bad >= 0 && cool >= 0,
          "ReduceLROnPlateau::load_state_dict: negative 'num_bad_epochs' or 'cooldown_counter'");
  if (apply) {
    best_ = best;
    num_bad_epochs_ = bad;
    cooldown_counter_ = cool;
  }
}

}  // namespace ndgrad::optim
