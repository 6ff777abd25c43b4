// .npy/.npz round trips, NumPy interop, atomic saves, and the IDX reader on good and bad files.
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

// One directory for the whole test binary, removed with everything in it when it exits.
std::string temp_dir() {
  struct TempDir {
    std::string path;
    ~TempDir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static TempDir dir{[] {
    char tmpl[] = "/tmp/ndgrad_io_XXXXXX";
    return std::string(mkdtemp(tmpl));
  }()};
  return dir.path;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_all(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

bool numpy_available() {
  return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

std::string idx_bytes(uint8_t type, const std::vector<uint32_t>& dims, const std::string& body) {
  std::string s{0, 0, char(type), char(dims.size())};
  for (uint32_t d : dims) s += be32(d);
  return s + body;
}

void write_gz(const std::string& path, const std::string& data) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, data.data(), static_cast<unsigned>(data.size()));
  gzclose(f);
}

template <class F>
void expect_io_error(F f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no IOError";
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Npy, RoundTripsEveryDTypeAndLayout) {
  const std::vector<Tensor> cases = {
      randn({3, 4}, 1, DType::f32),
      randn({2, 3, 2}, 2, DType::f64),
      tensor({-5, 0, 7, 1LL << 40}, {4}, DType::i64),
      randn({5}, 3) > 0.0,
      scalar(2.5, DType::f64),
      zeros({0, 3}),
      randn({3, 4}, 4, DType::f64).T(),    // non-contiguous view
      randn({4}, 5).broadcast_to({3, 4}),  // stride-0 view
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string path = temp_dir() + "/case" + std::to_string(i) + ".npy";
    save_npy(path, cases[i]);
    Tensor back = load_npy(path);
    EXPECT_EQ(back.dtype(), cases[i].dtype()) << i;
    EXPECT_EQ(back.shape(), cases[i].shape()) << i;
    EXPECT_EQ(back.to_vector(), cases[i].to_vector()) << i;
  }
}

TEST(Npz, RoundTripsNamedArrays) {
  const std::string path = temp_dir() + "/arrays.npz";
  std::map<std::string, Tensor> arrays = {{"weight", randn({3, 2}, 1)},
                                          {"labels", arange(4, DType::i64)},
                                          {"mask", ones({2}) > 0.5},
                                          {"scalar", scalar(1.5, DType::f64)}};
  save_npz(path, arrays);
  auto back = load_npz(path);
  ASSERT_EQ(back.size(), arrays.size());
  for (auto& [name, t] : arrays) {
    ASSERT_TRUE(back.count(name)) << name;
    EXPECT_EQ(back[name].dtype(), t.dtype());
    EXPECT_EQ(back[name].shape(), t.shape());
    EXPECT_EQ(back[name].to_vector(), t.to_vector());
  }
}

TEST(Npy, NumpyReadsWhatNdgradWritesAndViceVersa) {
  if (!numpy_available()) GTEST_SKIP() << "python3-numpy is not installed";
  const std::string dir = temp_dir();
  save_npy(dir + "/ours.npy", tensor({1.5, -2, 3, 4, 5, 6}, {2, 3}, DType::f64));
  save_npz(dir + "/ours.npz", {{"a", arange(3, DType::i64)}, {"b", ones({2, 2})}});
  const std::string script =
      "import numpy as np, sys\n"
      "d = sys.argv[1]\n"
      "x = np.load(d + '/ours.npy')\n"
      "assert x.dtype == np.float64 and x.shape == (2, 3) and x[0, 0] == 1.5 and x[1, 2] == 6, x\n"
      "z = np.load(d + '/ours.npz')\n"
      "assert sorted(z.files) == ['a', 'b'] and z['a'].dtype == np.int64 and list(z['a']) == [0, "
      "1, 2]\n"
      "assert z['b'].dtype == np.float32 and z['b'].shape == (2, 2)\n"
      "np.save(d + '/theirs.npy', np.arange(12, dtype=np.float32).reshape(3, 4))\n"
      "np.save(d + '/fortran.npy', np.asfortranarray(np.arange(6.0).reshape(2, 3)))\n"
      "np.save(d + '/big_endian.npy', np.arange(3, dtype='>i4'))\n"
      "np.save(d + '/bools.npy', np.array([True, False, True]))\n"
      "np.savez(d + '/theirs.npz', w=np.ones((2, 2)), k=np.arange(3, dtype=np.uint8))\n"
      "np.savez_compressed(d + '/compressed.npz', w=np.linspace(0, 1, 100))\n";
  write_all(dir + "/interop.py", script);
  ASSERT_EQ(std::system(("/usr/bin/python3 " + dir + "/interop.py " + dir).c_str()), 0);
  Tensor t = load_npy(dir + "/theirs.npy");
  EXPECT_EQ(t.dtype(), DType::f32);
  EXPECT_EQ(t.shape(), (Shape{3, 4}));
  expect_values(t, arange(12).to_vector());
  expect_values(load_npy(dir + "/fortran.npy"), {0, 1, 2, 3, 4, 5});
  expect_values(load_npy(dir + "/big_endian.npy"), {0, 1, 2});
  Tensor bools = load_npy(dir + "/bools.npy");
  EXPECT_EQ(bools.dtype(), DType::boolean);
  expect_values(bools, {1, 0, 1});
  auto z = load_npz(dir + "/theirs.npz");
  expect_values(z.at("w"), {1, 1, 1, 1});
  expect_values(z.at("k"), {0, 1, 2});
  auto c = load_npz(dir + "/compressed.npz");
  EXPECT_EQ(c.at("w").shape(), (Shape{100}));
  EXPECT_NEAR(c.at("w").to_vector()[99], 1.0, 1e-15);
}

TEST(Npy, MalformedFilesAreIOErrors) {
  const std::string dir = temp_dir();
  expect_io_error([&] { load_npy(dir + "/missing.npy"); }, "cannot open");
  write_all(dir + "/bad_magic.npy", "NOTNUMPY and more bytes here");
  expect_io_error([&] { load_npy(dir + "/bad_magic.npy"); }, "magic");
  save_npy(dir + "/full.npy", randn({10, 10}, 1));
  std::string bytes = read_all(dir + "/full.npy");
  write_all(dir + "/truncated.npy", bytes.substr(0, bytes.size() - 7));
  expect_io_error([&] { load_npy(dir + "/truncated.npy"); }, "truncated");
  write_all(dir + "/header_cut.npy", bytes.substr(0, 30));
  expect_io_error([&] { load_npy(dir + "/header_cut.npy"); }, "truncated");
  std::string complex = bytes;
  complex.replace(complex.find("<f4"), 3, "<c8");
  write_all(dir + "/complex.npy", complex);
  expect_io_error([&] { load_npy(dir + "/complex.npy"); }, "unsupported dtype");
  save_npz(dir + "/good.npz", {{"a", randn({50}, 2)}});
  std::string zip = read_all(dir + "/good.npz");
  zip[120] ^= 0x55;  // a flipped byte inside the member's data
  write_all(dir + "/corrupt.npz", zip);
  expect_io_error([&] { load_npz(dir + "/corrupt.npz"); }, "CRC");
  write_all(dir + "/short.npz", zip.substr(0, 40));
  expect_io_error([&] { load_npz(dir + "/short.npz"); }, "zip");
}

TEST(Save, AFailedSaveLeavesThePreviousFileIntact) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/keep.npz";
  save_npz(path, {{"a", arange(3)}});
  const std::string before = read_all(path);
  // A failure before writing (an undefined array) and one at rename time (the target is a
  // directory) both leave the old file and no temporary behind.
  EXPECT_THROW(save_npz(path, {{"a", arange(3)}, {"b", Tensor()}}), ValueError);
  EXPECT_EQ(read_all(path), before);
  ::mkdir((dir + "/a_directory.npy").c_str(), 0755);
  expect_io_error([&] { save_npy(dir + "/a_directory.npy", arange(3)); }, "a_directory.npy");
  expect_io_error([&] { save_npy(dir + "/no/such/dir/x.npy", arange(3)); }, "cannot write");
  EXPECT_EQ(read_all(path), before);
  int temporaries = std::system(("ls " + dir + " | grep -q tmp-").c_str());
  EXPECT_NE(temporaries, 0) << "a temporary file was left behind";
}

TEST(ModuleSaveLoad, RoundTripAndCheckedMismatch) {
  const std::string path = temp_dir() + "/model.npz";
  nn::Sequential a(nn::Linear(4, 3, 1), nn::ReLU(), nn::Linear(3, 2, 2));
  nn::Sequential b(nn::Linear(4, 3, 7), nn::ReLU(), nn::Linear(3, 2, 8));
  a.save(path);
  b.load(path);
  Tensor x = randn({5, 4}, 3);
  expect_close(a(x), b(x), 0);
  auto stored = load_npz(path);
  EXPECT_EQ(stored.count("0.weight") + stored.count("0.bias") + stored.count("2.weight") +
                stored.count("2.bias"),
            4u);
  // A model of another shape: the error names the parameter, and nothing changes.
  nn::Sequential c(nn::Linear(4, 5, 1), nn::ReLU(), nn::Linear(5, 2, 2));
  const std::vector<double> before = c.parameters()[2].to_vector();
  expect_io_error([&] { c.load(path); }, "'0.weight'");
  EXPECT_EQ(c.parameters()[2].to_vector(), before);
  nn::Sequential d(nn::Linear(4, 3, 1, DType::f64), nn::ReLU(), nn::Linear(3, 2, 2));
  expect_io_error([&] { d.load(path); }, "f32");
  nn::Sequential e(nn::Linear(4, 3, 1));
  expect_io_error([&] { e.load(path); }, "that the module does not");
}

TEST(Idx, ReadsPlainAndGzipFiles) {
  const std::string dir = temp_dir();
  std::string body;
  for (int i = 0; i < 2 * 3 * 4; ++i) body += char(i * 10);
  const std::string bytes = idx_bytes(0x08, {2, 3, 4}, body);
  write_all(dir + "/plain.idx", bytes);
  write_gz(dir + "/zipped.idx.gz", bytes);
  for (const std::string& p : {dir + "/plain.idx", dir + "/zipped.idx.gz"}) {
    Tensor t = data::load_idx(p);
    EXPECT_EQ(t.shape(), (Shape{2, 3, 4}));
    EXPECT_EQ(t.dtype(), DType::f32);
    EXPECT_DOUBLE_EQ(t.to_vector()[23], 230);
  }
  // Big-endian int32 and float64 bodies.
  Tensor ints = data::load_idx(
      (write_all(dir + "/ints.idx", idx_bytes(0x0C, {2}, be32(7) + be32(uint32_t(-3)))),
       dir + "/ints.idx"),
      DType::i64);
  expect_values(ints, {7, -3});
}

TEST(Idx, MalformedFilesAreIOErrors) {
  const std::string dir = temp_dir();
  expect_io_error([&] { data::load_idx(dir + "/nope.idx"); }, "cannot open");
  write_all(dir + "/magic.idx", std::string("\x01\x02\x08\x01", 4) + be32(1) + "x");
  expect_io_error([&] { data::load_idx(dir + "/magic.idx"); }, "magic");
  write_all(dir + "/empty.idx", "");
  expect_io_error([&] { data::load_idx(dir + "/empty.idx"); }, "truncated");
  write_all(dir + "/short.idx", idx_bytes(0x08, {10, 10}, std::string(57, 'a')));
  expect_io_error([&] { data::load_idx(dir + "/short.idx"); }, "needs 100 bytes");
  write_gz(dir + "/short.idx.gz", idx_bytes(0x08, {10, 10}, std::string(57, 'a')));
  expect_io_error([&] { data::load_idx(dir + "/short.idx.gz"); }, "truncated");
  write_all(dir + "/long.idx", idx_bytes(0x08, {2}, "abc"));
  expect_io_error([&] { data::load_idx(dir + "/long.idx"); }, "more data");
  write_all(dir + "/dims.idx", std::string("\x00\x00\x08\x03", 4) + be32(5));
  expect_io_error([&] { data::load_idx(dir + "/dims.idx"); }, "header");
}

TEST(Idx, MnistLayoutChecksThatCountsAgree) {
  const std::string dir = temp_dir() + "/mnist";
  ::mkdir(dir.c_str(), 0755);
  write_gz(dir + "/train-images-idx3-ubyte.gz",
           idx_bytes(0x08, {3, 2, 2}, std::string(12, '\x10')));
  write_gz(dir + "/train-labels-idx1-ubyte.gz",
           idx_bytes(0x08, {3}, std::string("\x01\x02\x03", 3)));
  data::Dataset ds = data::load_mnist_like(dir, true);
  EXPECT_EQ(ds.images.shape(), (Shape{3, 4}));
  EXPECT_EQ(ds.labels.dtype(), DType::i64);
  expect_values(ds.labels, {1, 2, 3});
  write_all(dir + "/t10k-images-idx3-ubyte", idx_bytes(0x08, {2, 2, 2}, std::string(8, '\x01')));
  write_all(dir + "/t10k-labels-idx1-ubyte", idx_bytes(0x08, {3}, std::string(3, '\x01')));
  expect_io_error([&] { data::load_mnist_like(dir, false); }, "2 images");
  expect_io_error([&] { data::load_mnist_like(temp_dir() + "/absent", true); }, "exists");
}
