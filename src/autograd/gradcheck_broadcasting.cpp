// gradcheck over the broadcast-compatible variants of a function's input shapes, and the shape
// variants themselves (which the gradient table's broadcast pairs share).
#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "ndgrad/autograd.hpp"

namespace ndgrad {

namespace {

bool broadcasts_together(const std::vector<Shape>& shapes) {
  try {
    Shape out;
    for (const Shape& s : shapes) out = broadcast_shapes(out, s);
    return true;
  } catch (const ShapeError&) {
    return false;
  }
}

// Sizes of their own per axis position counted from the right (the last axis 4, the one
// before 3, ...): a gradient summed over the wrong axis then has the wrong shape or the wrong
// count.
int64_t distinct_size(size_t from_right) {
  static const int64_t sizes[] = {4, 3, 2, 5};
  return sizes[from_right % 4];
}
constexpr int64_t kEqualSize = 3;

std::string shapes_str(const std::vector<Shape>& shapes) {
  std::string s;
  for (size_t i = 0; i < shapes.size(); ++i) s += (i ? ", " : "") + shape_str(shapes[i]);
  return s;
}

std::string axes_str(const AxesChoice& a) {
  std::string s = "axes {";
  for (size_t i = 0; i < a.axes.size(); ++i) s += (i ? "," : "") + std::to_string(a.axes[i]);
  return s + "}" + (a.keepdims ? " keepdims" : "");
}

// The largest of a and b, NaN counting as the largest.
double worst(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b); }

std::string indented(const std::string& text, const std::string& by) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out += by + text.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// Normal values kept at least 0.2 away from 0: kinks (relu, abs) and near-zero divisors never
// sit within a finite-difference step.
Tensor default_input(const Shape& shape, uint64_t seed) {
  std::vector<double> v = randn(shape, seed, DType::f64).to_vector();
  for (double& x : v) x = (x < 0 ? -1 : 1) * (0.2 + std::fabs(x));
  return tensor(v, shape, DType::f64);
}

using AxesFn = std::function<Tensor(const std::vector<Tensor>&, const AxesChoice*)>;

// The axes choices for a variant of rank `rank`: each set (stored negative) in four spellings,
// deduplicated; sets naming an axis the variant lacks are left out.
std::vector<AxesChoice> axes_choices(const std::vector<std::vector<int64_t>>& sets, int64_t rank) {
  std::vector<AxesChoice> out;
  std::set<std::pair<std::vector<int64_t>, bool>> seen;
  for (const auto& set : sets) {
    if (std::any_of(set.begin(), set.end(), [&](int64_t a) { return a < -rank; })) continue;
    std::vector<int64_t> pos, neg(set.rbegin(), set.rend());
    for (int64_t a : set) pos.push_back(a + rank);
    for (const auto& [axes, keep] : {std::pair{pos, false}, {neg, true}, {neg, false}, {pos, true}})
      if (seen.insert({axes, keep}).second) out.push_back({axes, keep});
  }
  return out;
}

GradcheckBroadcastingResult run(const AxesFn& f, const std::vector<Shape>& shapes,
                                const std::vector<std::vector<int64_t>>* axes_sets,
                                const GradcheckBroadcastingOptions& options) {
  if (shapes.empty()) throw ValueError("gradcheck_broadcasting: no input shapes given");
  if (options.max_variants == 0)
    throw ValueError("gradcheck_broadcasting: max_variants must be at least 1");
  if (!(options.eps > 0) || !(options.atol >= 0) || !(options.rtol >= 0))
    throw ValueError("gradcheck_broadcasting: eps must be > 0 and atol, rtol >= 0");
  std::vector<std::vector<int64_t>> sets;  // the axes sets, counted from the end
  if (axes_sets) {
    if (axes_sets->empty())
      throw ValueError("gradcheck_broadcasting: the axes form needs at least one axes set");
    int64_t rank = 0;
    for (const Shape& s : shapes) rank = std::max<int64_t>(rank, static_cast<int64_t>(s.size()));
    for (const auto& set : *axes_sets) {
      std::vector<int64_t> neg;
      for (int64_t a : set) {
        if (a < -rank || a >= rank)
          throw AxisError("gradcheck_broadcasting: axis " + std::to_string(a) + " is outside [-" +
                          std::to_string(rank) + ", " + std::to_string(rank) +
                          ") for the given shapes " + shapes_str(shapes));
        neg.push_back(a < 0 ? a : a - rank);
      }
      sets.push_back(neg);
    }
  }
  const std::vector<ShapeVariant> variants = broadcast_variants(shapes, SIZE_MAX);

  GradcheckBroadcastingResult result{true, {}, 0, 0, 0, 0, ""};
  size_t index = 0;
  for (size_t vi = 0; vi < variants.size(); ++vi) {
    const ShapeVariant& variant = variants[vi];
    int64_t rank = 0;
    for (const Shape& s : variant.shapes)
      rank = std::max<int64_t>(rank, static_cast<int64_t>(s.size()));
    std::vector<AxesChoice> choices;
    if (axes_sets) {
      choices = axes_choices(sets, rank);
    } else {
      choices.emplace_back();
    }
    for (const AxesChoice& choice : choices) {
      if (index++ >= options.max_variants) {
        ++result.left_out;
        continue;
      }
      BroadcastVariantResult r;
      r.shapes = variant.shapes;
      r.kind = variant.kind;
      r.has_axes = axes_sets != nullptr;
      if (r.has_axes) r.axes = choice;
      const AxesChoice* ax = r.has_axes ? &r.axes : nullptr;
      std::vector<Tensor> inputs;
      for (size_t i = 0; i < variant.shapes.size(); ++i) {
        const uint64_t seed = options.seed * 1000003 + index * 131 + i;
        Tensor x = options.make_input ? options.make_input(variant.shapes[i], i, seed)
                                      : default_input(variant.shapes[i], seed);
        if (!x.defined() || x.shape() != variant.shapes[i])
          throw ValueError("gradcheck_broadcasting: make_input gave input " + std::to_string(i) +
                           " a shape other than " + shape_str(variant.shapes[i]));
        inputs.push_back(x.detach().to(DType::f64).contiguous().detach());
      }
      // The forward alone first: an error there (a ShapeError for operands that do not
      // broadcast, an AxisError, matmul's ValueError for a 0-d operand) means f does not take
      // these shapes.
      try {
        std::vector<Tensor> probe;
        for (const Tensor& x : inputs) probe.push_back(x.detach().requires_grad_());
        (void)f(probe, ax);
      } catch (const Error& e) {
        if (vi == 0 && &choice == &choices.front()) {
          const std::string what = "gradcheck_broadcasting: f rejects the shapes as given (" +
                                   shapes_str(shapes) + (ax ? ", " + axes_str(*ax) : "") +
                                   "): " + e.what();
          if (dynamic_cast<const ShapeError*>(&e)) throw ShapeError(what);
          if (dynamic_cast<const AxisError*>(&e)) throw AxisError(what);
          throw ValueError(what);
        }
        r.status = BroadcastVariantResult::Status::skipped;
        r.message = e.what();
        ++result.skipped;
        result.variants.push_back(std::move(r));
        continue;
      }
      // Each input on its own (the others constants), so that a failure names its input.
      for (size_t i = 0; i < inputs.size(); ++i) {
        const auto fi = [&](const std::vector<Tensor>& x) {
          std::vector<Tensor> all = inputs;
          all[i] = x[0];
          return f(all, ax);
        };
        const std::string label = "input " + std::to_string(i) + " " + shape_str(inputs[i].shape());
        try {
          const GradcheckResult g =
              gradcheck(fi, {inputs[i]}, options.eps, options.atol, options.rtol);
          r.max_abs_error = worst(r.max_abs_error, g.max_abs_error);
          r.max_rel_error = worst(r.max_rel_error, g.max_rel_error);
          if (!g.ok) {
            r.failing_inputs.push_back(i);
            std::ostringstream line;
            line.precision(3);
            line << label << ": max abs error "
                 << (std::isnan(g.max_abs_error) ? NAN : g.max_abs_error) << "\n";
            // gradcheck saw this input alone, as its input 0.
            std::string report = g.report;
            const std::string from = "input 0 ", to = "input " + std::to_string(i) + " ";
            for (size_t at = report.find(from); at != std::string::npos;
                 at = report.find(from, at + to.size()))
              report.replace(at, from.size(), to);
            r.message += line.str() + indented(report, "  ");
          }
        } catch (const Error& e) {  // backward raised (a gradient of the wrong shape, ...)
          r.max_abs_error = r.max_rel_error = NAN;
          r.failing_inputs.push_back(i);
          r.message += label + ": " + e.what() + "\n";
        }
      }
      if (r.failing_inputs.empty()) {
        ++result.passed;
      } else {
        r.status = BroadcastVariantResult::Status::failed;
        ++result.failed;
      }
      result.variants.push_back(std::move(r));
    }
  }
  result.ok = result.failed == 0;

  std::ostringstream report;
  report.precision(3);
  const size_t checked = result.passed + result.failed;
  report << "gradcheck_broadcasting " << (result.ok ? "passed" : "FAILED") << ": ";
  if (result.ok)
    report << checked << " variants pass";
  else
    report << result.failed << " of " << checked << " variants fail";
  report << ", " << result.skipped << " skipped (f's forward raised), " << result.left_out
         << " left out (max_variants " << options.max_variants << ")\n";
  const auto head = [](const BroadcastVariantResult& r) {
    std::string s = "shapes " + shapes_str(r.shapes) + " [" + r.kind + "]";
    if (r.has_axes) s += " " + axes_str(r.axes);
    return s;
  };
  for (const BroadcastVariantResult& r : result.variants) {
    if (r.status != BroadcastVariantResult::Status::failed) continue;
    report << "FAILED " << head(r) << ": input";
    for (size_t i = 0; i < r.failing_inputs.size(); ++i)
      report << (i ? ", " : " ") << r.failing_inputs[i];
    report << ", max abs error " << (std::isnan(r.max_abs_error) ? NAN : r.max_abs_error) << "\n"
           << indented(r.message, "  ");
  }
  for (const BroadcastVariantResult& r : result.variants)
    if (r.status == BroadcastVariantResult::Status::skipped)
      report << "skipped " << head(r) << ": " << first_line(r.message) << "\n";
  result.report = report.str();
  return result;
}

}  // namespace

std::vector<std::vector<Shape>> broadcasting_combinations(const std::vector<Shape>& candidates,
                                                          size_t arity) {
  std::vector<std::vector<Shape>> out;
  if (candidates.empty()) return out;
  std::vector<size_t> at(arity, 0);  // an odometer over the candidates, the last digit fastest
  for (;;) {
    std::vector<Shape> tuple;
    for (size_t k : at) tuple.push_back(candidates[k]);
    if (broadcasts_together(tuple)) out.push_back(std::move(tuple));
    size_t d = arity;
    while (d > 0 && ++at[d - 1] == candidates.size()) at[--d] = 0;
    if (d == 0) return out;
  }
}

std::vector<ShapeVariant> broadcast_variants(const std::vector<Shape>& shapes,
                                             size_t max_variants) {
  if (max_variants == 0) throw ValueError("broadcast_variants: max_variants must be at least 1");
  for (size_t i = 0; i < shapes.size(); ++i)
    for (int64_t d : shapes[i])
      if (d < 0)
        throw ValueError("broadcast_variants: input " + std::to_string(i) + " has shape " +
                         shape_str(shapes[i]) + " with a negative size");
  const auto resized = [&](auto size_for) {
    std::vector<Shape> out = shapes;
    for (Shape& s : out)
      for (size_t d = 0; d < s.size(); ++d)
        if (s[d] > 1) s[d] = size_for(s.size() - 1 - d);
    return out;
  };
  const std::vector<ShapeVariant> bases = {
      {shapes, "as given"},
      {resized(distinct_size), "distinct sizes"},
      {resized([](size_t) { return kEqualSize; }), "equal sizes"},
  };
  // Derived from each base: one list per kind, each interleaving the bases.
  std::vector<std::vector<ShapeVariant>> size_one(3), crossed(3), dropped(3);
  for (size_t b = 0; b < bases.size(); ++b) {
    const std::vector<Shape>& base = bases[b].shapes;
    const std::string prefix = b == 0 ? "" : bases[b].kind + ", ";
    for (size_t i = 0; i < base.size(); ++i) {
      for (size_t d = 0; d < base[i].size(); ++d) {
        if (base[i][d] == 1) continue;
        std::vector<Shape> v = base;
        v[i][d] = 1;
        size_one[b].push_back(
            {v, prefix + "input " + std::to_string(i) + " axis " + std::to_string(d) + " -> 1"});
      }
      for (size_t k = 1; k <= base[i].size(); ++k) {
        std::vector<Shape> v = base;
        v[i].erase(v[i].begin(), v[i].begin() + static_cast<std::ptrdiff_t>(k));
        dropped[b].push_back({v, prefix + "input " + std::to_string(i) + " drops " +
                                     std::to_string(k) + " leading ax" + (k == 1 ? "is" : "es")});
      }
    }
    // (3,1) with (1,4): input i keeps one axis position, input j every other one.
    for (size_t i = 0; i < base.size(); ++i)
      for (size_t j = i + 1; j < base.size(); ++j) {
        const size_t ri = base[i].size(), rj = base[j].size();
        if (std::min(ri, rj) < 2) continue;
        for (size_t p = 0; p < std::min(ri, rj); ++p) {  // p counts from the right
          std::vector<Shape> v = base;
          v[i][ri - 1 - p] = 1;
          for (size_t q = 0; q < std::min(ri, rj); ++q)
            if (q != p) v[j][rj - 1 - q] = 1;
          if (v == base) continue;
          crossed[b].push_back({v, prefix + "input " + std::to_string(i) + " axis " +
                                       std::to_string(ri - 1 - p) + " -> 1 crossed with input " +
                                       std::to_string(j)});
        }
      }
  }
  const auto interleave = [](const std::vector<std::vector<ShapeVariant>>& lists) {
    std::vector<ShapeVariant> out;
    for (size_t k = 0;; ++k) {
      bool any = false;
      for (const auto& l : lists)
        if (k < l.size()) out.push_back(l[k]), any = true;
      if (!any) return out;
    }
  };
  const std::vector<std::vector<ShapeVariant>> kinds = {bases, interleave(size_one),
                                                        interleave(dropped), interleave(crossed)};
  const std::vector<ShapeVariant> ordered = [&] {
    std::vector<ShapeVariant> out(bases);  // the bases first, then each kind in turn
    std::vector<std::vector<ShapeVariant>> rest(kinds.begin() + 1, kinds.end());
    for (ShapeVariant& v : interleave(rest)) out.push_back(std::move(v));
    return out;
  }();
  const bool must_broadcast = broadcasts_together(shapes);
  std::vector<ShapeVariant> out;
  std::set<std::vector<Shape>> seen;
  for (const ShapeVariant& v : ordered) {
    if (out.size() >= max_variants) break;
    if (must_broadcast && !broadcasts_together(v.shapes)) continue;
    if (seen.insert(v.shapes).second) out.push_back(v);
  }
  return out;
}

GradcheckBroadcastingResult gradcheck_broadcasting(
    const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Shape>& shapes,
    const GradcheckBroadcastingOptions& options) {
  if (!f) throw ValueError("gradcheck_broadcasting: f is empty");
  return run([&](const std::vector<Tensor>& x, const AxesChoice*) { return f(x); }, shapes, nullptr,
             options);
}

GradcheckBroadcastingResult gradcheck_broadcasting(
    const std::function<Tensor(const std::vector<Tensor>&, const AxesChoice&)>& f,
    const std::vector<Shape>& shapes, const std::vector<std::vector<int64_t>>& axes,
    const GradcheckBroadcastingOptions& options) {
  if (!f) throw ValueError("gradcheck_broadcasting: f is empty");
  return run([&](const std::vector<Tensor>& x, const AxesChoice* a) { return f(x, *a); }, shapes,
             &axes, options);
}

}  // namespace ndgrad
