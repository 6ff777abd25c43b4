// The broadcast audit: every implicit broadcast recorded (from any thread) instead of refused,
// grouped by call site, op and shapes; per leaf, over how many values backward summed each
// gradient element. NDGRAD_BROADCAST_AUDIT audits a whole process and reports at exit.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>
#include <vector>

#include "core/shape.hpp"
#include "core/tensor_impl.hpp"
#include "ndgrad/explain.hpp"
#include "ops/strict.hpp"

namespace ndgrad {

namespace detail {
std::atomic<int> live_broadcast_audits{0};
}

namespace {

struct SiteKey {
  CallSiteKey site;
  std::string op;
  std::vector<Shape> operands;
  Shape result;
  bool operator<(const SiteKey& o) const {
    return std::tie(site, op, operands, result) < std::tie(o.site, o.op, o.operands, o.result);
  }
};

}  // namespace

struct BroadcastAudit::State {
  std::map<SiteKey, int64_t> counts;               // -> index into order
  std::vector<std::pair<SiteKey, int64_t>> order;  // (key, count), first seen first
  std::vector<LeafSummation> leaves;
  // A leaf is its address and shape (nothing is held: a process-wide audit must not keep the
  // program's tensors alive). A leaf freed and made again with the same shape at the same
  // address, as a fresh input each step often is, counts as the same one. Past kMaxLeaves,
  // further leaves are only counted.
  std::map<std::pair<const void*, Shape>, size_t> leaf_index;
  int64_t untracked_leaves = 0;
};

namespace {

constexpr size_t kMaxLeaves = 4096;

// The live audits. One lock for all: recording is for diagnosis, not speed. Never destroyed,
// so that threads still running at exit may record while the process-wide report is written.
struct Registry {
  std::mutex lock;
  std::vector<std::shared_ptr<BroadcastAudit::State>> live;
};
Registry& registry() {
  static Registry* const r = new Registry;
  return *r;
}

void attach(const std::shared_ptr<BroadcastAudit::State>& s) {
  std::lock_guard<std::mutex> hold(registry().lock);
  registry().live.push_back(s);
  detail::live_broadcast_audits.fetch_add(1, std::memory_order_relaxed);
}
void detach(const std::shared_ptr<BroadcastAudit::State>& s) {
  std::lock_guard<std::mutex> hold(registry().lock);
  auto& live = registry().live;
  live.erase(std::remove(live.begin(), live.end(), s), live.end());
  detail::live_broadcast_audits.fetch_sub(1, std::memory_order_relaxed);
}

int64_t numel_or_one(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// The result's axes along which operand s (padded on the left) is stretched.
std::vector<int64_t> stretched_axes(const Shape& s, const Shape& result) {
  std::vector<int64_t> axes;
  const size_t pad = result.size() - std::min(result.size(), s.size());
  for (size_t i = 0; i < result.size(); ++i) {
    const int64_t extent = i < pad ? 1 : s[i - pad];
    if (extent == 1 && result[i] != 1) axes.push_back(static_cast<int64_t>(i));
  }
  return axes;
}

BroadcastRecord make_record(const SiteKey& key, int64_t count) {
  BroadcastRecord r;
  r.op = key.op;
  r.operands = key.operands;
  r.result = key.result;
  r.count = count;
  r.call_site = describe_call_site(key.site);
  int64_t largest = 0;
  int stretched = 0;
  for (const Shape& s : r.operands) {
    r.stretched.push_back(stretched_axes(s, r.result));
    if (!r.stretched.back().empty()) ++stretched;
    largest = std::max(largest, numel_or_one(s));
  }
  r.suspicious = is_outer_product_broadcast(r.operands, r.result);
  return r;
}

std::string report_of(const std::vector<BroadcastRecord>& records,
                      const std::vector<LeafSummation>& leaves, int64_t untracked_leaves) {
  std::ostringstream os;
  int64_t total = 0, suspicious = 0;
  std::vector<std::string> sites;
  for (const BroadcastRecord& r : records) {
    total += r.count;
    suspicious += r.suspicious ? 1 : 0;
    if (std::find(sites.begin(), sites.end(), r.call_site) == sites.end())
      sites.push_back(r.call_site);
  }
  os << "ndgrad broadcast audit: " << total << " implicit broadcast" << (total == 1 ? "" : "s")
     << " at " << sites.size() << " call site" << (sites.size() == 1 ? "" : "s");
  if (suspicious) os << ", " << suspicious << " suspicious";
  os << "\n";
  for (const std::string& site : sites) {
    os << site << "\n";
    for (const BroadcastRecord& r : records) {
      if (r.call_site != site) continue;
      os << "  " << (r.suspicious ? "SUSPICIOUS " : "") << r.op << " ";
      for (size_t i = 0; i < r.operands.size(); ++i)
        os << (i ? " with " : "") << shape_str(r.operands[i]);
      os << " -> " << shape_str(r.result) << "  x" << r.count << "; stretched:";
      for (size_t i = 0; i < r.operands.size(); ++i)
        if (!r.stretched[i].empty())
          os << " operand " << i << " along axes " << axes_str(r.stretched[i]);
      if (r.suspicious) {
        int64_t largest = 0;
        for (const Shape& s : r.operands) largest = std::max(largest, numel_or_one(s));
        os << "; an outer-product broadcast: the result has " << numel_or_one(r.result)
           << " elements, the largest operand " << largest;
      }
      os << "\n";
    }
  }
  bool heading = false;
  for (const LeafSummation& l : leaves) {
    if (l.max_factor() <= 1) continue;
    if (!heading) os << "backward: gradient elements summed per leaf\n";
    heading = true;
    os << "  leaf " << shape_str(l.shape) << ":";
    for (size_t i = 0; i < l.contributions.size(); ++i) {
      const auto& c = l.contributions[i];
      os << (i ? "," : "") << " " << c.factor << " value" << (c.factor == 1 ? "" : "s") << " (from "
         << c.op << " " << shape_str(c.gradient) << ")";
      if (c.count > 1) os << " x" << c.count;
    }
    os << "\n";
  }
  if (untracked_leaves > 0)
    os << "  (" << untracked_leaves << " more leaves reached past the first " << kMaxLeaves
       << " were not tracked)\n";
  return os.str();
}

// NDGRAD_BROADCAST_AUDIT: the whole process, reported at exit (1: stderr; else a file path).
struct ProcessAudit {
  std::shared_ptr<BroadcastAudit::State> state;
  std::string path;
};
ProcessAudit* process_audit = nullptr;

void report_process_audit() {
  ProcessAudit* const p = process_audit;
  if (!p) return;
  // The keys copied under the lock, symbolized outside it (other threads may still record).
  std::vector<std::pair<SiteKey, int64_t>> order;
  std::vector<LeafSummation> leaves;
  int64_t untracked = 0;
  {
    std::lock_guard<std::mutex> hold(registry().lock);
    order = p->state->order;
    leaves = p->state->leaves;
    untracked = p->state->untracked_leaves;
  }
  std::vector<BroadcastRecord> records;
  for (const auto& [key, count] : order) records.push_back(make_record(key, count));
  const std::string text = report_of(records, leaves, untracked);
  if (p->path == "1") {
    std::fputs(text.c_str(), stderr);
    std::fflush(stderr);
  } else if (std::FILE* f = std::fopen(p->path.c_str(), "w")) {
    std::fputs(text.c_str(), f);
    std::fclose(f);
  } else {
    std::fprintf(stderr, "ndgrad: NDGRAD_BROADCAST_AUDIT: cannot write %s: %s\n%s", p->path.c_str(),
                 std::strerror(errno), text.c_str());
  }
}

// At load: this file is linked wherever the strict check is (every broadcasting op calls it).
const bool process_audit_started = [] {
  const char* value = std::getenv("NDGRAD_BROADCAST_AUDIT");
  if (!value || !*value || std::strcmp(value, "0") == 0) return false;
  process_audit = new ProcessAudit{std::make_shared<BroadcastAudit::State>(), value};
  attach(process_audit->state);
  std::atexit(report_process_audit);
  return true;
}();

}  // namespace

void audit_broadcast(const char* op, const Dims* const* operands, int n, const Dims& result,
                     const void* call_site) {
  bool implicit = false;  // some operand that is not 0-d differs from the result
  for (int i = 0; i < n; ++i) implicit |= !operands[i]->empty() && *operands[i] != result;
  for (int i = 0; i < n; ++i)  // a 0-d operand (a scalar, a plain matrix in matmul): allowed
    if (operands[i]->empty() && std::strncmp(op, "matmul", 6) == 0) implicit = false;
  if (!implicit) return;
  SiteKey key{call_site_key(call_site), op, {}, result};
  for (int i = 0; i < n; ++i) key.operands.push_back(*operands[i]);
  std::lock_guard<std::mutex> hold(registry().lock);
  for (const auto& s : registry().live) {
    auto [it, fresh] = s->counts.emplace(key, static_cast<int64_t>(s->order.size()));
    if (fresh)
      s->order.emplace_back(key, 1);
    else
      ++s->order[static_cast<size_t>(it->second)].second;
  }
}

void audit_leaf_sum(const void* leaf, const Dims& shape, const Dims& grad_shape, const char* op) {
  const int64_t n = numel_of(shape);
  LeafSummation::Contribution c{op, grad_shape, n > 0 ? numel_of(grad_shape) / n : 0, 1};
  std::pair<const void*, Shape> key{leaf, shape};
  std::lock_guard<std::mutex> hold(registry().lock);
  for (const auto& s : registry().live) {
    auto it = s->leaf_index.find(key);
    if (it == s->leaf_index.end()) {
      if (s->leaves.size() >= kMaxLeaves) {
        ++s->untracked_leaves;
        continue;
      }
      it = s->leaf_index.emplace(key, s->leaves.size()).first;
      s->leaves.push_back(LeafSummation{leaf, shape, {}});
    }
    auto& cs = s->leaves[it->second].contributions;  // the same summation again: counted
    auto same = std::find_if(cs.begin(), cs.end(), [&](const LeafSummation::Contribution& o) {
      return o.op == c.op && o.gradient == c.gradient && o.factor == c.factor;
    });
    if (same != cs.end())
      ++same->count;
    else
      cs.push_back(c);
  }
}

int64_t LeafSummation::max_factor() const {
  int64_t m = 0;
  for (const Contribution& c : contributions) m = std::max(m, c.factor);
  return m;
}

bool LeafSummation::of(const Tensor& t) const {
  return t.defined() && t.impl().get() == leaf && t.shape() == shape;
}

bool is_outer_product_broadcast(const std::vector<Shape>& operands, const Shape& result) {
  // The (n,1) with (n,) -> (n,n) mistake: two operands of the same element count, each
  // stretched, into a result at least twice as large as either (a column plus a row of other
  // lengths is a broadcast made on purpose more often than not).
  int64_t largest = 0;
  std::vector<int64_t> stretched_sizes;
  for (const Shape& s : operands) {
    largest = std::max(largest, numel_or_one(s));
    if (!s.empty() && !stretched_axes(s, result).empty())
      stretched_sizes.push_back(numel_or_one(s));
  }
  if (numel_or_one(result) < 2 * largest) return false;
  for (size_t i = 0; i < stretched_sizes.size(); ++i)
    for (size_t j = i + 1; j < stretched_sizes.size(); ++j)
      if (stretched_sizes[i] == stretched_sizes[j] && stretched_sizes[i] > 1) return true;
  return false;
}

BroadcastAudit::BroadcastAudit() : state_(std::make_shared<State>()) { attach(state_); }
BroadcastAudit::~BroadcastAudit() { detach(state_); }

std::vector<BroadcastRecord> BroadcastAudit::records() const {
  std::vector<std::pair<SiteKey, int64_t>> order;
  {
    std::lock_guard<std::mutex> hold(registry().lock);
    order = state_->order;
  }
  std::vector<BroadcastRecord> out;
  for (const auto& [key, count] : order) out.push_back(make_record(key, count));
  return out;
}

std::vector<LeafSummation> BroadcastAudit::leaves() const {
  std::lock_guard<std::mutex> hold(registry().lock);
  return state_->leaves;
}

std::optional<LeafSummation> BroadcastAudit::leaf(const Tensor& t) const {
  if (!t.defined()) return std::nullopt;
  std::lock_guard<std::mutex> hold(registry().lock);
  auto it = state_->leaf_index.find({t.impl().get(), t.shape()});
  if (it == state_->leaf_index.end()) return std::nullopt;
  return state_->leaves[it->second];
}

std::string BroadcastAudit::report() const {
  int64_t untracked = 0;
  {
    std::lock_guard<std::mutex> hold(registry().lock);
    untracked = state_->untracked_leaves;
  }
  return report_of(records(), leaves(), untracked);
}

void BroadcastAudit::clear() {
  std::lock_guard<std::mutex> hold(registry().lock);
  state_->counts.clear();
  state_->order.clear();
  state_->leaves.clear();
  state_->leaf_index.clear();
  state_->untracked_leaves = 0;
}

}  // namespace ndgrad
