// ndgrad.set_printoptions / get_printoptions: the C++ print options, NumPy's keywords.
#include "bindings.hpp"

namespace ndgrad::python {

void bind_printing(py::module_& m) {
  m.def(
      "set_printoptions",
      [](const py::kwargs& kwargs) {
        PrintOptions o = get_printoptions();  // the options not given stay as they are
        for (auto item : kwargs) {
          const std::string key = py::cast<std::string>(item.first);
          py::handle v = item.second;
          if (key == "sci_mode") {
            o.sci_mode = v.is_none() ? std::nullopt : std::optional<bool>(py::cast<bool>(v));
            continue;
          }
          if (!is_integer(v))
            throw py::type_error("set_printoptions: " + key + " must be an integer");
          const int64_t n = to_int64(v);
          if (key == "precision")
            o.precision = n;
          else if (key == "threshold")
            o.threshold = n;
          else if (key == "edgeitems")
            o.edgeitems = n;
          else if (key == "linewidth")
            o.linewidth = n;
          else
            throw py::type_error("set_printoptions: unexpected keyword '" + key +
                                 "' (precision, threshold, edgeitems, linewidth, sci_mode)");
        }
        set_printoptions(o);
      },
      "Sets how tensors print (NumPy's np.set_printoptions): precision (8), threshold (1000), "
      "edgeitems (3), linewidth (75), sci_mode (None: NumPy's choice; True or False forces "
      "scientific notation on or off). Options not given keep their values.");
  m.def(
      "get_printoptions",
      [] {
        const PrintOptions o = get_printoptions();
        py::dict d;
        d["precision"] = o.precision;
        d["threshold"] = o.threshold;
        d["edgeitems"] = o.edgeitems;
        d["linewidth"] = o.linewidth;
        d["sci_mode"] = o.sci_mode ? py::cast(*o.sci_mode) : py::none();
        return d;
      },
      "The print options as a dict (the keywords of set_printoptions).");
}

}  // namespace ndgrad::python
