// Runs a Markdown document's commands and checks their printed output, so that a tutorial
// cannot drift from what the library does.
//
//   doc_runner DOC.md --root DIR --bin NAME=PATH ... [--update]
//
// In ```console blocks, a line "$ NAME args..." is a command: NAME is replaced by the PATH that
// --bin gives for it, the command runs from DIR through the shell with stderr joined to stdout,
// and the lines after it (up to the next "$ " line or the block's end) must be its output.
// A line "<!-- snippet: FILE#NAME -->" before a ```cpp block makes that block the region of
// FILE (under DIR) between the lines "// doc:NAME" and "// end doc:NAME", unindented.
// Numbers compare as written, except that two numbers both below 1e-6 in magnitude (rounding
// errors a gradient check prints) are equal. --update writes the actual outputs and snippets
// into the document instead of comparing (atomically: a temporary file renamed over it).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "doc_runner: cannot read " << path << "\n";
    std::exit(2);
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string rstrip(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

std::vector<std::string> trimmed(std::vector<std::string> lines) {
  for (auto& l : lines) l = rstrip(l);
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::vector<std::string> run(const std::string& root, const std::string& command) {
  const std::string full = "cd " + quoted(root) + " && " + command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) {
    std::cerr << "doc_runner: cannot run " << command << "\n";
    std::exit(2);
  }
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  pclose(pipe);
  std::vector<std::string> lines;
  std::istringstream is(out);
  for (std::string line; std::getline(is, line);) lines.push_back(line);
  return trimmed(lines);
}

// Equal as text, but for numbers that are both rounding noise.
bool same_line(const std::string& want, const std::string& got) {
  if (want == got) return true;
  static const std::regex number(R"([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)");
  auto split = [](const std::string& s) {
    std::vector<std::pair<std::string, bool>> parts;  // (text, is a number)
    size_t at = 0;
    for (std::sregex_iterator it(s.begin(), s.end(), number), end; it != end; ++it) {
      parts.push_back({s.substr(at, it->position() - at), false});
      parts.push_back({it->str(), true});
      at = it->position() + it->length();
    }
    parts.push_back({s.substr(at), false});
    return parts;
  };
  const auto a = split(want), b = split(got);
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first == b[i].first) continue;
    if (!a[i].second || !b[i].second) return false;
    const double x = std::strtod(a[i].first.c_str(), nullptr);
    const double y = std::strtod(b[i].first.c_str(), nullptr);
    if (!(std::fabs(x) < 1e-6 && std::fabs(y) < 1e-6)) return false;
  }
  return true;
}

// The region of a source file between "// doc:NAME" and "// end doc:NAME", unindented.
std::vector<std::string> snippet(const std::string& root, const std::string& spec) {
  const size_t hash = spec.find('#');
  if (hash == std::string::npos) {
    std::cerr << "doc_runner: a snippet is FILE#NAME, got " << spec << "\n";
    std::exit(2);
  }
  const std::string file = spec.substr(0, hash), name = spec.substr(hash + 1);
  const auto lines = read_lines(root + "/" + file);
  std::vector<std::string> region;
  bool inside = false, found = false;
  for (const auto& l : lines) {
    const std::string t = rstrip(l.substr(std::min(l.find_first_not_of(" "), l.size())));
    if (t == "// doc:" + name) {
      inside = found = true;
      continue;
    }
    if (t == "// end doc:" + name) {
      inside = false;
      continue;
    }
    if (inside) region.push_back(rstrip(l));
  }
  if (!found) {
    std::cerr << "doc_runner: no region '" << name << "' in " << file << "\n";
    std::exit(2);
  }
  size_t indent = std::string::npos;
  for (const auto& l : region)
    if (!l.empty()) indent = std::min(indent, l.find_first_not_of(' '));
  for (auto& l : region)
    if (!l.empty() && indent != std::string::npos) l = l.substr(indent);
  return region;
}

}  // namespace

int main(int argc, char** argv) {
  std::string doc, root = ".";
  std::map<std::string, std::string> bins;
  bool update = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--update") {
      update = true;
    } else if (arg == "--root" && i + 1 < argc) {
      root = argv[++i];
    } else if (arg == "--bin" && i + 1 < argc) {
      const std::string b = argv[++i];
      const size_t eq = b.find('=');
      if (eq == std::string::npos) {
        std::cerr << "doc_runner: --bin takes NAME=PATH, got " << b << "\n";
        return 2;
      }
      bins[b.substr(0, eq)] = b.substr(eq + 1);
    } else if (doc.empty()) {
      doc = arg;
    } else {
      std::cerr << "usage: doc_runner DOC.md --root DIR --bin NAME=PATH ... [--update]\n";
      return 2;
    }
  }
  if (doc.empty()) {
    std::cerr << "usage: doc_runner DOC.md --root DIR --bin NAME=PATH ... [--update]\n";
    return 2;
  }
  const auto lines = read_lines(doc);
  std::vector<std::string> out;  // the document with actual outputs (--update)
  int commands = 0, snippets = 0, failures = 0;
  std::string pending_snippet;
  for (size_t i = 0; i < lines.size();) {
    const std::string& line = lines[i];
    static const std::regex snippet_tag(R"(<!-- snippet: (\S+) -->)");
    std::smatch m;
    if (std::regex_search(line, m, snippet_tag)) pending_snippet = m[1];
    if (rstrip(line) == "```cpp" && !pending_snippet.empty()) {
      out.push_back(line);
      size_t end = i + 1;
      while (end < lines.size() && rstrip(lines[end]) != "```") ++end;
      const std::vector<std::string> written(lines.begin() + i + 1, lines.begin() + end);
      const auto actual = snippet(root, pending_snippet);
      ++snippets;
      if (trimmed(written) != trimmed(actual) && !update) {
        ++failures;
        std::cerr << doc << ":" << i + 1 << ": the snippet differs from " << pending_snippet
                  << "\n";
      }
      out.insert(out.end(), actual.begin(), actual.end());
      pending_snippet.clear();
      i = end;
      continue;
    }
    if (rstrip(line) != "```console") {
      out.push_back(line);
      ++i;
      continue;
    }
    out.push_back(line);
    ++i;
    while (i < lines.size() && rstrip(lines[i]) != "```") {
      const std::string cmd_line = lines[i];
      if (cmd_line.rfind("$ ", 0) != 0) {
        std::cerr << doc << ":" << i + 1 << ": expected a '$ ' command line\n";
        return 2;
      }
      size_t next = i + 1;
      while (next < lines.size() && rstrip(lines[next]) != "```" && lines[next].rfind("$ ", 0) != 0)
        ++next;
      const std::vector<std::string> expected =
          trimmed({lines.begin() + i + 1, lines.begin() + next});
      std::string command = cmd_line.substr(2);
      const size_t space = command.find(' ');
      const std::string program = command.substr(0, space);
      const auto bin = bins.find(program);
      if (bin == bins.end()) {
        std::cerr << doc << ":" << i + 1 << ": no --bin for '" << program << "'\n";
        return 2;
      }
      command = quoted(bin->second) + (space == std::string::npos ? "" : command.substr(space));
      const auto actual = run(root, command);
      ++commands;
      bool same = expected.size() == actual.size();
      for (size_t k = 0; same && k < expected.size(); ++k) same = same_line(expected[k], actual[k]);
      if (!same && !update) {
        ++failures;
        std::cerr << doc << ":" << i + 1 << ": the output of '" << cmd_line.substr(2)
                  << "' differs\n--- written\n";
        for (const auto& l : expected) std::cerr << l << "\n";
        std::cerr << "--- printed now\n";
        for (const auto& l : actual) std::cerr << l << "\n";
      }
      out.push_back(cmd_line);
      out.insert(out.end(), actual.begin(), actual.end());
      i = next;
    }
    if (i < lines.size()) out.push_back(lines[i++]);
  }
  if (update) {
    const std::string tmp = doc + ".tmp";
    {
      std::ofstream f(tmp);
      for (const auto& l : out) f << l << "\n";
      if (!f.flush()) {
        std::cerr << "doc_runner: cannot write " << tmp << "\n";
        return 2;
      }
    }
    if (std::rename(tmp.c_str(), doc.c_str()) != 0) {
      std::cerr << "doc_runner: cannot replace " << doc << "\n";
      return 2;
    }
    std::cout << "updated " << doc << ": " << commands << " commands, " << snippets
              << " snippets\n";
    return 0;
  }
  std::cout << doc << ": " << commands << " commands, " << snippets << " snippets, " << failures
            << " differ\n";
  if (failures) std::cerr << "(rerun doc_runner with --update to write what they print now)\n";
  return failures ? 1 : 0;
}
