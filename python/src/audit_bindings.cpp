// The broadcast audit from Python (ndgrad.broadcast_audit), and the Python call site that
// strict broadcasting and the audit name: the innermost Python frame outside the ndgrad package.
#include <memory>

#include "bindings.hpp"
#include "ndgrad/explain.hpp"

namespace ndgrad::python {

namespace {

// ".../ndgrad/": frames of the package's own Python code are skipped (guarded by the GIL).
std::string package_dir;

// The Python file:line that called into the library. Ops run with the GIL released: it is
// taken for the look (the library calls this only for a violation or an audit record).
std::string python_call_site() {
  // A thread Python never ran on (the library's own workers) has no Python call site, and
  // taking the GIL there could wait on a Python thread that waits for it.
  if (python_exiting() || !PyGILState_GetThisThreadState()) return "";
  const PyGILState_STATE state = PyGILState_Ensure();
  std::string site;
  try {
    if (package_dir.empty()) {  // the package's directory, once it is imported
      py::object package = py::module_::import("sys").attr("modules").attr("get")("ndgrad");
      if (!package.is_none() && py::hasattr(package, "__file__"))
        package_dir = py::cast<std::string>(py::module_::import("os.path").attr("dirname")(
                          package.attr("__file__"))) +
                      "/";
    }
    PyObject* current = reinterpret_cast<PyObject*>(PyEval_GetFrame());  // borrowed
    for (py::object f = py::reinterpret_borrow<py::object>(current); f.ptr() && !f.is_none();
         f = f.attr("f_back")) {
      const std::string file = py::cast<std::string>(f.attr("f_code").attr("co_filename"));
      if (package_dir.empty() || file.compare(0, package_dir.size(), package_dir) != 0) {
        site = file + ":" + std::to_string(py::cast<int>(f.attr("f_lineno")));
        break;
      }
    }
  } catch (const std::exception&) {  // py::error_already_set, py::cast_error
    site.clear();
  }
  PyGILState_Release(state);
  return site;
}

py::dict record_dict(const BroadcastRecord& r) {
  py::list operands, stretched;
  for (const Shape& s : r.operands) operands.append(shape_tuple(s));
  for (const auto& axes : r.stretched) stretched.append(py::tuple(py::cast(axes)));
  py::dict d;
  d["op"] = r.op;
  d["operands"] = operands;
  d["result"] = shape_tuple(r.result);
  d["stretched"] = stretched;
  d["call_site"] = r.call_site;
  d["count"] = r.count;
  d["suspicious"] = r.suspicious;
  return d;
}

py::dict leaf_dict(const LeafSummation& l) {
  py::list contributions;
  for (const auto& c : l.contributions) {
    py::dict d;
    d["op"] = c.op;
    d["gradient"] = shape_tuple(c.gradient);
    d["factor"] = c.factor;
    d["count"] = c.count;
    contributions.append(d);
  }
  py::dict d;
  d["shape"] = shape_tuple(l.shape);
  d["contributions"] = contributions;
  d["max_factor"] = l.max_factor();
  return d;
}

// A `with` block's audit: live inside the block; what it recorded is kept after it.
class AuditScope {
 public:
  void enter() {
    if (audit_) throw py::value_error("broadcast_audit: the block is already open");
    records_.clear();
    leaves_.clear();
    report_.clear();
    audit_ = std::make_unique<BroadcastAudit>();
  }
  void exit() {
    if (!audit_) return;
    records_ = audit_->records();
    leaves_ = audit_->leaves();
    report_ = audit_->report();
    audit_.reset();
  }
  std::vector<BroadcastRecord> records() const { return audit_ ? audit_->records() : records_; }
  std::vector<LeafSummation> leaves() const { return audit_ ? audit_->leaves() : leaves_; }
  std::string report() const { return audit_ ? audit_->report() : report_; }
  void clear() {
    if (audit_) audit_->clear();
    records_.clear();
    leaves_.clear();
    report_.clear();
  }

 private:
  std::unique_ptr<BroadcastAudit> audit_;
  std::vector<BroadcastRecord> records_;
  std::vector<LeafSummation> leaves_;
  std::string report_;
};

}  // namespace

void bind_audit(py::module_& m) {
  set_call_site_hook(&python_call_site);
  py::class_<AuditScope>(m, "broadcast_audit",
                         R"doc(Records every implicit broadcast in a with block.

Inside the block, broadcasts from any thread are recorded instead of refused, grouped by the
Python file:line that made them, the op and the shapes; an outer-product broadcast (two stretched
operands of the same element count and a result at least twice the largest, as (n,1) with (n,))
is flagged suspicious. A backward pass inside the block records, per leaf, over how many values each
gradient element was summed. 0-d operands, broadcast_to, a plain matrix against matmul's batch and
the library's own broadcasting are not recorded. What was recorded stays readable after the block.)doc")
      .def(py::init<>())
      .def("__enter__",
           [](py::object self) {
             self.cast<AuditScope&>().enter();
             return self;
           })
      .def("__exit__",
           [](AuditScope& s, py::args) {
             s.exit();
             return false;
           })
      .def(
          "records",
          [](const AuditScope& s) {
            py::list out;
            for (const BroadcastRecord& r : s.records()) out.append(record_dict(r));
            return out;
          },
          "One dict per call site, op and shapes, first seen first: op, operands, result, "
          "stretched (per operand, the result's axes it was stretched along), call_site, count, "
          "suspicious.")
      .def(
          "leaves",
          [](const AuditScope& s) {
            py::list out;
            for (const LeafSummation& l : s.leaves()) out.append(leaf_dict(l));
            return out;
          },
          "One dict per leaf backward reached: shape, contributions (op, gradient shape, factor: "
          "the values summed into each element), max_factor.")
      .def(
          "leaf",
          [](const AuditScope& s, const Tensor& t) -> py::object {
            for (const LeafSummation& l : s.leaves())
              if (l.of(t)) return leaf_dict(l);
            return py::none();
          },
          py::arg("tensor"),
          "leaves()'s dict for this tensor, or None if backward did not reach it.")
      .def("clear", &AuditScope::clear, "Forgets what was recorded so far.")
      .def("report", &AuditScope::report,
           "The records grouped per call site, then the per-leaf summation factors, as text.");
}

}  // namespace ndgrad::python
