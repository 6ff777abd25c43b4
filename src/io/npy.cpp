// .npy and .npz, readable by NumPy and reading what NumPy writes.
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/shape.hpp"
#include "core/tensor_impl.hpp"
#include "io/file_util.hpp"
#include "io/npy_format.hpp"
#include "ndgrad/io.hpp"

namespace ndgrad {

namespace {

static_assert(sizeof(int64_t) == 8 && sizeof(double) == 8 && sizeof(float) == 4);

bool host_is_little_endian() {
  const uint16_t one = 1;
  uint8_t first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

const char* descr_of(DType d) {
  switch (d) {
    case DType::f32:
      return "<f4";
    case DType::f64:
      return "<f8";
    case DType::i64:
      return "<i8";
    case DType::boolean:
      return "|b1";
    case DType::i32:
      return "<i4";
    case DType::u8:
      return "|u1";
    case DType::i8:
      return "|i1";
    case DType::f16:
      return "<f2";
    case DType::bf16:
      break;  // NumPy has no bfloat16: npy_bytes refuses it
  }
  return "";
}

std::string npy_bytes(const Tensor& t) {
  if (!host_is_little_endian()) throw IOError("save_npy: only little-endian hosts are supported");
  if (t.defined() && t.dtype() == DType::bf16)
    throw DTypeError(
        "save_npy: bf16 has no .npy type code (NumPy has no bfloat16); convert with "
        ".to(DType::f32), which is exact");
  Tensor c;
  try {
    c = t.detach().contiguous();
  } catch (const MemoryError&) {  // a broadcast view far larger than its memory
    throw MemoryError("save_npy: cannot allocate a copy of the tensor of shape " +
                      shape_str(t.shape()) + " " + dtype_name(t.dtype()) + " to write");
  }
  std::string shape = "(";
  for (size_t i = 0; i < c.shape().size(); ++i)
    shape += (i ? ", " : "") + std::to_string(c.shape()[i]);
  if (c.shape().size() == 1) shape += ",";
  shape += ")";
  std::string header = std::string("{'descr': '") + descr_of(c.dtype()) +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  std::string out = npy_preamble(std::move(header));
  const size_t nbytes = static_cast<size_t>(c.numel() * itemsize(c.dtype()));
  try {
    if (nbytes > max_buffer_bytes()) throw std::bad_alloc();
    out.reserve(out.size() + nbytes);
  } catch (const std::exception&) {  // bad_alloc, or length_error past the string's limit
    throw MemoryError("save_npy: cannot allocate " + std::to_string(nbytes) +
                      " bytes to write a tensor of shape " + shape_str(c.shape()));
  }
  if (nbytes) out.append(c.impl()->data(), nbytes);
  return out;
}

// A .npy header: a Python dict literal with exactly the keys 'descr' (a string),
// 'fortran_order' (True or False) and 'shape' (a tuple of integers), padded with whitespace.
// NumPy's reader refuses anything else, and so does this one: a header that merely contains
// the keys somewhere is not accepted.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

class HeaderParser {
 public:
  static constexpr const char* kKeys[3] = {"descr", "fortran_order", "shape"};

  HeaderParser(const std::string& text, const std::string& what) : s_(text), what_(what) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen[3] = {false, false, false};
    expect('{', "the header is not a dict");
    while (!at('}')) {
      const std::string key = string_literal("a key in quotes");
      int k = 0;
      while (k < 3 && key != kKeys[k]) ++k;
      if (k == 3)
        fail("unknown key '" + key + "' in the header (a .npy header has exactly 'descr', " +
             "'fortran_order' and 'shape')");
      if (seen[k]) fail("the key '" + key + "' appears twice in the header");
      seen[k] = true;
      expect(':', "expected ':' after '" + key + "'");
      if (k == 0)
        h.descr = string_literal("'descr' to be a string (structured dtypes are not supported)");
      else if (k == 1)
        h.fortran_order = boolean();
      else
        h.shape = shape();
      if (!at(',')) break;
      ++pos_;
    }
    expect('}', "expected ',' or '}' in the header dict");
    skip();
    if (pos_ != s_.size()) fail("unexpected text after the header dict");
    for (int k = 0; k < 3; ++k)
      if (!seen[k]) fail(std::string("the header has no '") + kKeys[k] + "'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw IOError(what_ + ": malformed header: " + problem);
  }
  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool at(char c) {
    skip();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  void expect(char c, const std::string& problem) {
    if (!at(c)) fail(problem);
    ++pos_;
  }
  // The next value's text, for messages: up to the next ',' or '}'.
  std::string value_text() {
    skip();
    const size_t end = s_.find_first_of(",}", pos_);
    return s_.substr(pos_,
                     std::min<size_t>((end == std::string::npos ? s_.size() : end) - pos_, 40));
  }
  std::string string_literal(const std::string& expected) {
    if (!at('\'') && !at('"')) fail("expected " + expected + ", got '" + value_text() + "'");
    const char quote = s_[pos_];
    const size_t end = s_.find(quote, pos_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string out = s_.substr(pos_ + 1, end - pos_ - 1);
    if (out.find('\\') != std::string::npos) fail("escapes in strings are not supported");
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    skip();
    for (const char* word : {"True", "False"}) {
      const size_t n = std::strlen(word);
      // A whole word: "Truest" or "True_" is a Python name, not True.
      if (s_.compare(pos_, n, word) == 0 &&
          (pos_ + n == s_.size() ||
           !(std::isalnum(static_cast<unsigned char>(s_[pos_ + n])) || s_[pos_ + n] == '_'))) {
        pos_ += n;
        return word[0] == 'T';
      }
    }
    fail("'fortran_order' must be True or False, got '" + value_text() + "'");
  }
  Shape shape() {
    const std::string text = value_text();
    expect('(', "'shape' must be a tuple of integers, got '" + text + "'");
    Shape out;
    bool trailing_comma = false;
    while (!at(')')) {
      if (pos_ < s_.size() && s_[pos_] == '-') fail("negative dimension in shape '" + text + "'");
      const size_t start = pos_;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      if (pos_ == start) fail("'shape' must be a tuple of integers, got '" + text + "'");
      if (pos_ - start > 18) fail("dimension too large in shape '" + text + "'");
      out.push_back(std::stoll(s_.substr(start, pos_ - start)));
      trailing_comma = at(',');
      if (!trailing_comma) break;
      ++pos_;
    }
    expect(')', "'shape' must be a tuple of integers, got '" + text + "'");
    // "(3)" is the integer 3 in Python, not a tuple.
    if (out.size() == 1 && !trailing_comma)
      fail("'shape' must be a tuple of integers, got '" + text + "'");
    return out;
  }

  const std::string& s_;
  const std::string& what_;
  size_t pos_ = 0;
};

template <class S, class D>
void convert(const char* src, char* dst, int64_t n, bool swap) {
  for (int64_t i = 0; i < n; ++i) {
    char raw[sizeof(S)];
    std::memcpy(raw, src + i * sizeof(S), sizeof(S));
    if (swap) std::reverse(raw, raw + sizeof(S));
    S v;
    std::memcpy(&v, raw, sizeof(S));
    D d = static_cast<D>(v);
    std::memcpy(dst + i * sizeof(D), &d, sizeof(D));
  }
}

Tensor parse_npy(const std::string& bytes, const std::string& what) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    throw IOError(what + ": not a .npy file (bad magic number)");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw IOError(what + ": truncated header");
    header_len = 0;
    for (int i = 3; i >= 0; --i)
      header_len = header_len << 8 | static_cast<unsigned char>(bytes[8 + i]);
    offset = 12;
  } else {
    throw IOError(what + ": unsupported .npy version " + std::to_string(major));
  }
  if (bytes.size() < offset + header_len) throw IOError(what + ": truncated header");
  const std::string header = bytes.substr(offset, header_len);
  NpyHeader parsed = HeaderParser(header, what).parse();
  const std::string& descr = parsed.descr;
  const bool fortran = parsed.fortran_order;
  const Shape& shape = parsed.shape;
  if (descr.size() < 3) throw IOError(what + ": unsupported dtype '" + descr + "'");
  const char order = descr[0];
  const std::string kind = descr.substr(1);
  if (order != '<' && order != '>' && order != '|' && order != '=')
    throw IOError(what + ": unsupported dtype '" + descr + "'");
  const bool swap = order == '>' && host_is_little_endian();
  DType dtype;
  size_t src_size;
  if (kind == "f4")
    dtype = DType::f32, src_size = 4;
  else if (kind == "f8")
    dtype = DType::f64, src_size = 8;
  else if (kind == "f2")
    dtype = DType::f16, src_size = 2;
  else if (kind == "b1")
    dtype = DType::boolean, src_size = 1;
  else if (kind == "i4")
    dtype = DType::i32, src_size = 4;
  else if (kind == "i1")
    dtype = DType::i8, src_size = 1;
  else if (kind == "u1")
    dtype = DType::u8, src_size = 1;
  else if (kind == "i2" || kind == "u2")  // no 16-bit integers here: the smallest that holds them
    dtype = DType::i32, src_size = 2;
  else if (kind == "i8" || kind == "u4")
    dtype = DType::i64, src_size = static_cast<size_t>(kind[1] - '0');
  else
    throw IOError(what + ": unsupported dtype '" + descr + "'");
  int64_t n;
  try {
    n = checked_numel(shape, "load_npy");
  } catch (const Error& e) {
    throw IOError(what + ": " + e.what());
  }
  const size_t body = bytes.size() - offset - header_len;
  if (static_cast<uint64_t>(n) > body / std::max<size_t>(src_size, 1) || body < n * src_size)
    throw IOError(what + ": truncated data: the header describes " + std::to_string(n) +
                  " elements of " + std::to_string(src_size) + " bytes, the file holds " +
                  std::to_string(body) + " bytes");
  // Fortran order: read as the reversed shape, then transpose back.
  Shape storage_shape = shape;
  if (fortran) std::reverse(storage_shape.begin(), storage_shape.end());
  Tensor t = empty(storage_shape, dtype);
  const char* src = bytes.data() + offset + header_len;
  char* dst = t.impl()->data();
  if (kind == "f4")
    convert<float, float>(src, dst, n, swap);
  else if (kind == "f8")
    convert<double, double>(src, dst, n, swap);
  else if (kind == "b1")
    convert<uint8_t, bool>(src, dst, n, false);
  else if (kind == "i8")
    convert<int64_t, int64_t>(src, dst, n, swap);
  else if (kind == "f2")
    convert<uint16_t, uint16_t>(src, dst, n, swap);  // the bits
  else if (kind == "i4")
    convert<int32_t, int32_t>(src, dst, n, swap);
  else if (kind == "i2")
    convert<int16_t, int32_t>(src, dst, n, swap);
  else if (kind == "i1")
    convert<int8_t, int8_t>(src, dst, n, false);
  else if (kind == "u1")
    convert<uint8_t, uint8_t>(src, dst, n, false);
  else if (kind == "u2")
    convert<uint16_t, int32_t>(src, dst, n, swap);
  else if (kind == "u4")
    convert<uint32_t, int64_t>(src, dst, n, swap);
  return fortran ? t.T().contiguous() : t;
}

// --- a minimal zip container ---

void put16(std::string& s, uint32_t v) {
  s += static_cast<char>(v & 0xff);
  s += static_cast<char>((v >> 8) & 0xff);
}
void put32(std::string& s, uint32_t v) {
  put16(s, v & 0xffff);
  put16(s, v >> 16);
}
uint32_t get16(const std::string& s, size_t at) {
  return static_cast<unsigned char>(s[at]) | static_cast<unsigned char>(s[at + 1]) << 8;
}
uint32_t get32(const std::string& s, size_t at) { return get16(s, at) | get16(s, at + 2) << 16; }

std::string inflate_raw(const std::string& data, size_t expected, const std::string& what) {
  std::string out(expected, '\0');
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) throw IOError(what + ": zlib initialisation failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&zs, Z_FINISH);
  const size_t produced = zs.total_out;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || produced != expected)
    throw IOError(what + ": corrupted compressed member");
  return out;
}

}  // namespace

std::string npy_preamble(std::string header) {
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header;
}

void save_npy(const std::string& path, const Tensor& t) {
  require_defined_arg(t, "save_npy", "the tensor");
  write_file_atomically(path, npy_bytes(t), "save_npy");
}

Tensor load_npy(const std::string& path) {
  return parse_npy(read_file(path, "load_npy"), "load_npy: '" + path + "'");
}

void save_npz(const std::string& path, const std::map<std::string, Tensor>& arrays) {
  std::string zip, central;
  uint32_t count = 0;
  for (const auto& [name, t] : arrays) {
    require_defined_arg(t, "save_npz", ("array '" + name + "'").c_str());
    if (name.empty() || name.size() > 4000)
      throw ValueError("save_npz: bad array name '" + name + "'");
    const std::string member = name + ".npy";
    const std::string data = npy_bytes(t);
    if (data.size() >= 0xffffffffu || zip.size() >= 0xffffffffu)
      throw IOError("save_npz: '" + path + "' would exceed 4 GiB, which needs zip64");
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
    const uint32_t offset = static_cast<uint32_t>(zip.size());
    const uint32_t dos_time = 0, dos_date = (1 << 5) | 1;  // 1980-01-01: reproducible files
    put32(zip, 0x04034b50);
    put16(zip, 20), put16(zip, 0), put16(zip, 0), put16(zip, dos_time), put16(zip, dos_date);
    put32(zip, crc), put32(zip, static_cast<uint32_t>(data.size()));
    put32(zip, static_cast<uint32_t>(data.size()));
    put16(zip, static_cast<uint32_t>(member.size())), put16(zip, 0);
    zip += member;
    zip += data;
    put32(central, 0x02014b50);
    put16(central, 20), put16(central, 20), put16(central, 0), put16(central, 0);
    put16(central, dos_time), put16(central, dos_date);
    put32(central, crc), put32(central, static_cast<uint32_t>(data.size()));
    put32(central, static_cast<uint32_t>(data.size()));
    put16(central, static_cast<uint32_t>(member.size())), put16(central, 0), put16(central, 0);
    put16(central, 0), put16(central, 0), put32(central, 0), put32(central, offset);
    central += member;
    ++count;
  }
  if (count > 0xffff) throw IOError("save_npz: too many arrays for a zip without zip64");
  const uint32_t central_offset = static_cast<uint32_t>(zip.size());
  zip += central;
  put32(zip, 0x06054b50);
  put16(zip, 0), put16(zip, 0), put16(zip, count), put16(zip, count);
  put32(zip, static_cast<uint32_t>(central.size())), put32(zip, central_offset), put16(zip, 0);
  write_file_atomically(path, zip, "save_npz");
}

std::map<std::string, Tensor> load_npz(const std::string& path) {
  const std::string what = "load_npz: '" + path + "'";
  const std::string zip = read_file(path, "load_npz");
  // The end-of-central-directory record is in the last 64 KiB + 22 bytes.
  if (zip.size() < 22) throw IOError(what + ": not a zip file (too short)");
  size_t eocd = std::string::npos;
  const size_t lowest = zip.size() > 65557 ? zip.size() - 65557 : 0;
  for (size_t i = zip.size() - 22 + 1; i-- > lowest;)
    if (get32(zip, i) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd == std::string::npos) throw IOError(what + ": not a zip file (no end record)");
  const uint32_t count = get16(zip, eocd + 10);
  const uint32_t cd_size = get32(zip, eocd + 12), cd_offset = get32(zip, eocd + 16);
  if (cd_offset == 0xffffffffu || count == 0xffff)
    throw IOError(what + ": zip64 files are not supported");
  if (static_cast<uint64_t>(cd_offset) + cd_size > eocd)
    throw IOError(what + ": corrupted central directory");
  std::map<std::string, Tensor> out;
  size_t at = cd_offset;
  for (uint32_t e = 0; e < count; ++e) {
    if (at + 46 > eocd || get32(zip, at) != 0x02014b50)
      throw IOError(what + ": corrupted central directory");
    const uint32_t method = get16(zip, at + 10), crc = get32(zip, at + 16);
    const uint32_t csize = get32(zip, at + 20), usize = get32(zip, at + 24);
    const uint32_t name_len = get16(zip, at + 28), extra_len = get16(zip, at + 30),
                   comment_len = get16(zip, at + 32), local = get32(zip, at + 42);
    if (at + 46 + name_len > eocd) throw IOError(what + ": corrupted central directory");
    std::string name = zip.substr(at + 46, name_len);
    at += 46 + name_len + extra_len + comment_len;
    if (csize == 0xffffffffu || usize == 0xffffffffu || local == 0xffffffffu)
      throw IOError(what + ": zip64 members are not supported");
    if (static_cast<uint64_t>(local) + 30 > zip.size() || get32(zip, local) != 0x04034b50)
      throw IOError(what + ": corrupted member '" + name + "'");
    const size_t data_at = local + 30 + get16(zip, local + 26) + get16(zip, local + 28);
    if (data_at + static_cast<uint64_t>(csize) > zip.size())
      throw IOError(what + ": truncated member '" + name + "'");
    std::string data = zip.substr(data_at, csize);
    // Deflate expands at most ~1032:1; a larger claim is a corrupted (or hostile) header.
    if (method == 8 && static_cast<uint64_t>(usize) > static_cast<uint64_t>(csize) * 1032 + 1024)
      throw IOError(what + ": member '" + name + "' claims an impossible uncompressed size");
    if (method == 8)
      data = inflate_raw(data, usize, what + " member '" + name + "'");
    else if (method != 0)
      throw IOError(what + ": member '" + name + "' uses unsupported compression " +
                    std::to_string(method));
    if (static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(data.data()),
                                    static_cast<uInt>(data.size()))) != crc)
      throw IOError(what + ": member '" + name + "' is corrupted (CRC mismatch)");
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0)
      name.resize(name.size() - 4);
    out[name] = parse_npy(data, what + " member '" + name + "'");
  }
  return out;
}

}  // namespace ndgrad
