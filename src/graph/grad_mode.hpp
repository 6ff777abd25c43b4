#pragma once

#include "ndgrad/autograd.hpp"  // is_grad_enabled

namespace ndgrad {

void set_grad_enabled(bool on);

// Sets grad mode for a scope and restores the previous one.
class GradModeScope {
 public:
  explicit GradModeScope(bool on) : previous_(is_grad_enabled()) { set_grad_enabled(on); }
  ~GradModeScope() { set_grad_enabled(previous_); }
  GradModeScope(const GradModeScope&) = delete;
  GradModeScope& operator=(const GradModeScope&) = delete;

 private:
  bool previous_;
};

}  // namespace ndgrad
