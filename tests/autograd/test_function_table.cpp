// Every public function is a row of the op table or of the function table, or exempt below: the
// public headers are read (declarations start at the line's first non-blank character with their
// return type, as clang-format leaves them), so that a new function without a row fails here.
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "ndgrad/function_table.hpp"
#include "test_util.hpp"

using namespace ndgrad;

namespace {

// The functions that are no row, and why.
const std::set<std::string> kExempt = {
    // creation: no tensor argument to differentiate or fuzz (the fuzzer makes its tensors so)
    "tensor",
    "scalar",
    "empty",
    "zeros",
    "ones",
    "full",
    "zeros_like",
    "ones_like",
    "arange",
    "eye",
    // a tensor over the caller's memory (tests/core/test_from_blob.cpp)
    "from_blob",
    // random samplers (ndgrad/random.hpp; fuzz_ops.cpp has their own case)
    "rand",
    "randn",
    "uniform",
    "normal",
    "randint",
    "bernoulli",
    "permutation",
    "randperm",
    "multinomial",
    // files and data sets (ndgrad/io.hpp, ndgrad/data.hpp; fuzz_npy.cpp, fuzz_idx.cpp)
    "load_npy",
    "load_idx",
    "gather_rows",
    "standardize",
    // autograd machinery (ndgrad/autograd.hpp) and Tensor's autograd members
    "grad",
    "jacobian",
    "detach",
    // modules (ndgrad/nn.hpp): forward, parameters
    "forward",
    "parameters",
    "register_parameter",
    "buffers",
    "register_buffer",
    // PyTorch interop's layout hook (a transpose or the tensor itself; tests/nn/test_training.cpp)
    "torch_layout",
    // a dtype conversion, no math (the gradient table's rows_ShapeOps checks it)
    "to",
    // basic and advanced indexing: the CLI's subscripts x[...] (tools/expr.cpp), the gradient
    // table's rows_Indexing
    "index",
};

// The names declared with a tensor result in a header: free functions and members.
std::set<std::string> declared(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  static const std::regex decl(
      R"(^\s*(?:inline\s+)?(?:Tensor|std::vector<Tensor>|ValuesIndices|std::pair<Tensor, Tensor>|std::tuple<Tensor, Tensor, Tensor>)\s+(\w+)\()");
  std::set<std::string> names;
  std::string line;
  bool in_macro = false;
  while (std::getline(in, line)) {
    const bool continued = !line.empty() && line.back() == '\\';
    if (in_macro || line.rfind("#define", 0) == 0) {  // a macro's body declares its parameter
      in_macro = continued;
      continue;
    }
    std::smatch m;
    if (std::regex_search(line, m, decl) && m[1] != "operator") names.insert(m[1]);
  }
  return names;
}

}  // namespace

TEST(FunctionTable, EveryPublicFunctionIsARow) {
  std::set<std::string> rows;
#define NDGRAD_UNARY_OP(name, ...) rows.insert(#name);
#define NDGRAD_BINARY_OP(name, ...) rows.insert(#name);
#define NDGRAD_REDUCTION_OP(name, ...) rows.insert(#name);
#include "ndgrad/op_table.def"
  const size_t op_rows = rows.size();
  for (const functions::Function& f : functions::kFunctions)
    EXPECT_TRUE(rows.insert(f.name).second) << f.name << " is a row twice, or of both tables";
  EXPECT_EQ(rows.size(), op_rows + functions::kNumFunctions);

  std::set<std::string> names;
  for (const char* header : {"tensor.hpp", "linalg.hpp", "nn.hpp", "random.hpp", "io.hpp",
                             "data.hpp", "autograd.hpp", "explain.hpp"}) {
    const auto found = declared(std::string(NDGRAD_PUBLIC_HEADERS) + "/" + header);
    names.insert(found.begin(), found.end());
  }
  // The reading works: it finds functions of each kind of declaration.
  for (const char* known : {"reshape", "cumsum", "sort", "split", "qr", "svd", "softmax", "zeros"})
    EXPECT_TRUE(names.count(known)) << "the header reading missed " << known;
  for (const std::string& name : names)
    EXPECT_TRUE(rows.count(name) || kExempt.count(name))
        << name << " is declared in include/ndgrad but is no row of op_table.def or "
        << "function_table.def (nor exempt in " << __FILE__ << ")";
  for (const std::string& name : kExempt)
    EXPECT_TRUE(names.count(name) && !rows.count(name)) << name << ": a stale exemption";
}

// The forms are consistent: a row's cases are checked elsewhere; here, the counts.
TEST(FunctionTable, FormsAreWellFormed) {
  for (const functions::Function& f : functions::kFunctions) {
    EXPECT_LE(f.form.fewest, f.form.most) << f.name;
    EXPECT_GE(f.form.fewest, 0) << f.name;
  }
}
