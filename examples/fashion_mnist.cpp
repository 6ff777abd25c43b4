// Trains an MLP 784-256-128-10 (ReLU) on Fashion-MNIST, the founding texts' two-layer network
// grown up, or (--model cnn) a small convolutional network. Progress bar on a terminal, plain lines
// otherwise; a learning-curve SVG and the trained parameters (.npz) at the end.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "ndgrad/ndgrad.hpp"

using namespace ndgrad;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  int epochs = 0;  // the model's default when not given: 15 for the MLP, 12 for the CNN
  bool epochs_given = false;
  int64_t batch_size = 128;
  double lr = 0.05;
  std::string optimizer = "sgd";
  std::string model = "mlp";
  uint64_t seed = 0;
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::string out = "fashion_mnist_out";
};

const char* kUsage =
    "usage: fashion_mnist [options]\n"
    "Trains a model on Fashion-MNIST with ndgrad.\n\n"
    "  --model NAME        mlp: 784-256-128-10 (ReLU); cnn: conv(32, 3x3)-relu-maxpool-\n"
    "                      conv(64, 3x3)-relu-maxpool-linear(128)-relu-linear(10) (default mlp)\n"
    "  --epochs N          passes over the training set (default 15 for mlp, 12 for cnn)\n"
    "  --batch-size N      samples per step (default 128)\n"
    "  --lr X              learning rate (default 0.05 for sgd, use ~0.001 for adam)\n"
    "  --optimizer NAME    sgd (momentum 0.9, cosine-decayed lr) or adam (default sgd)\n"
    "  --seed N            initialization and shuffling seed (default 0)\n"
    "  --data DIR          directory with the IDX files (default "
    "/usr/share/datasets/fashion-mnist)\n"
    "  --out DIR           where the plot and the parameters go (default fashion_mnist_out)\n"
    "  --help              this text\n";

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "fashion_mnist: " << message << "\n\n" << kUsage;
  std::exit(2);
}

template <class T>
T parse_number(const std::string& flag, const std::string& text) {
  std::istringstream is(text);
  T v;
  if (!(is >> v) || !is.eof()) usage_error("bad value '" + text + "' for " + flag);
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (i + 1 >= argc)
      usage_error(flag.rfind("--", 0) == 0 ? "missing value for " + flag
                                           : "unknown argument '" + flag + "'");
    const std::string value = argv[++i];
    if (flag == "--epochs") {
      o.epochs = parse_number<int>(flag, value);
      o.epochs_given = true;
    } else if (flag == "--batch-size")
      o.batch_size = parse_number<int64_t>(flag, value);
    else if (flag == "--lr")
      o.lr = parse_number<double>(flag, value);
    else if (flag == "--optimizer")
      o.optimizer = value;
    else if (flag == "--model")
      o.model = value;
    else if (flag == "--seed")
      o.seed = parse_number<uint64_t>(flag, value);
    else if (flag == "--data")
      o.data = value;
    else if (flag == "--out")
      o.out = value;
    else
      usage_error("unknown option '" + flag + "'");
  }
  if (!o.epochs_given) o.epochs = o.model == "cnn" ? 12 : 15;
  if (o.epochs <= 0) usage_error("--epochs must be positive");
  if (o.batch_size <= 0) usage_error("--batch-size must be positive");
  if (!(o.lr > 0)) usage_error("--lr must be positive");
  if (o.optimizer != "sgd" && o.optimizer != "adam") usage_error("--optimizer must be sgd or adam");
  if (o.model != "mlp" && o.model != "cnn") usage_error("--model must be mlp or cnn");
  return o;
}

// Rows of features seen as images: (B, n) to (B, shape...).
struct Unflatten : nn::Module {
  explicit Unflatten(Shape s) : shape(std::move(s)) {}
  Tensor forward(const Tensor& x) override {
    Shape out{x.size(0)};
    out.insert(out.end(), shape.begin(), shape.end());
    return x.reshape(out);
  }
  Shape shape;
};

// The model's class for every image, 1000 at a time through slices of the set (views: no copy).
Tensor predict(nn::Module& model, const Tensor& images) {
  NoGradGuard no_grad;
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < images.size(0); i += 1000)
    parts.push_back(model(images.slice(0, i, i + 1000)).argmax(1));
  return cat(parts);
}

double accuracy(const Tensor& predicted, const Tensor& labels) {
  return (predicted == labels).sum().item() / static_cast<double>(labels.numel());
}

// Two panels side by side: training loss and test accuracy per epoch.
std::string learning_curve_svg(const std::vector<double>& loss, const std::vector<double>& acc) {
  const int w = 360, h = 260, left = 60, top = 40, pw = 270, ph = 170;
  std::ostringstream s;
  s.precision(4);
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << 2 * w << "' height='" << h
    << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' "
       "fill='white'/>\n";
  auto panel = [&](int x0, const std::vector<double>& v, const char* title, const char* color) {
    double lo = v[0], hi = v[0];
    for (double e : v) lo = std::min(lo, e), hi = std::max(hi, e);
    const double pad = (hi - lo) * 0.1 + 1e-9;
    lo -= pad, hi += pad;
    auto px = [&](size_t i) {
      return x0 + left + (v.size() == 1 ? pw / 2.0 : pw * double(i) / double(v.size() - 1));
    };
    auto py = [&](double e) { return top + ph * (1 - (e - lo) / (hi - lo)); };
    s << "<text x='" << x0 + left + pw / 2 << "' y='22' text-anchor='middle' font-size='14'>"
      << title << "</text>\n";
    s << "<rect x='" << x0 + left << "' y='" << top << "' width='" << pw << "' height='" << ph
      << "' fill='none' stroke='#444'/>\n";
    for (int t = 0; t <= 4; ++t) {
      const double e = lo + (hi - lo) * t / 4;
      s << "<line x1='" << x0 + left - 4 << "' x2='" << x0 + left << "' y1='" << py(e) << "' y2='"
        << py(e) << "' stroke='#444'/><text x='" << x0 + left - 6 << "' y='" << py(e) + 4
        << "' text-anchor='end'>" << e << "</text>\n";
    }
    for (size_t i = 0; i < v.size(); ++i)
      s << "<text x='" << px(i) << "' y='" << top + ph + 16 << "' text-anchor='middle'>" << i + 1
        << "</text>\n";
    s << "<text x='" << x0 + left + pw / 2 << "' y='" << h - 8
      << "' text-anchor='middle'>epoch</text>\n";
    s << "<polyline fill='none' stroke='" << color << "' stroke-width='2' points='";
    for (size_t i = 0; i < v.size(); ++i) s << px(i) << "," << py(v[i]) << " ";
    s << "'/>\n";
    for (size_t i = 0; i < v.size(); ++i)
      s << "<circle cx='" << px(i) << "' cy='" << py(v[i]) << "' r='3' fill='" << color << "'/>\n";
  };
  panel(0, loss, "training loss", "#d62728");
  panel(w, acc, "test accuracy", "#1f77b4");
  s << "</svg>\n";
  return s.str();
}

void write_text_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    f << text;
    if (!f) throw IOError("cannot write '" + tmp + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw IOError("cannot write '" + path + "'");
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  const bool tty = isatty(STDOUT_FILENO);
  data::Dataset train, test;
  try {
    train = data::load_mnist_like(opt.data, true);
    test = data::load_mnist_like(opt.data, false);
  } catch (const IOError& e) {
    std::cerr << "fashion_mnist: cannot load the data set: " << e.what()
              << "\n(on Debian: apt-get install dataset-fashion-mnist, or pass --data DIR)\n";
    return 1;
  }
  // Pixels to [0, 1], then standardized with the training set's statistics.
  const double mean = 0.2860, std_dev = 0.3530;
  const Tensor train_x = data::standardize(train.images / 255.0, mean, std_dev);
  const Tensor test_x = data::standardize(test.images / 255.0, mean, std_dev);
  std::cout << "Fashion-MNIST: " << train_x.shape()[0] << " training and " << test_x.shape()[0]
            << " test images from " << opt.data << "\n"
            << "model: "
            << (opt.model == "mlp" ? "MLP 784-256-128-10 (ReLU)"
                                   : "CNN conv(32, 3x3)-relu-maxpool-conv(64, 3x3)-relu-maxpool-"
                                     "linear(128)-relu-linear(10)")
            << ", " << opt.optimizer << " lr " << opt.lr << ", batch " << opt.batch_size << ", "
            << opt.epochs << " epochs, seed " << opt.seed << "\n";

  nn::Sequential model;
  if (opt.model == "mlp") {
    model.push_back(std::make_shared<nn::Linear>(784, 256, opt.seed * 3 + 1));
    model.push_back(std::make_shared<nn::ReLU>());
    model.push_back(std::make_shared<nn::Linear>(256, 128, opt.seed * 3 + 2));
    model.push_back(std::make_shared<nn::ReLU>());
    model.push_back(std::make_shared<nn::Linear>(128, 10, opt.seed * 3 + 3));
  } else {  // images (B, 784) seen as (B, 1, 28, 28)
    model.push_back(std::make_shared<Unflatten>(Shape{1, 28, 28}));
    model.push_back(std::make_shared<nn::Conv2d>(1, 32, 3, 1, 1, 1, 1, true, opt.seed * 4 + 1));
    model.push_back(std::make_shared<nn::ReLU>());
    model.push_back(std::make_shared<nn::MaxPool2d>(2));
    model.push_back(std::make_shared<nn::Conv2d>(32, 64, 3, 1, 1, 1, 1, true, opt.seed * 4 + 2));
    model.push_back(std::make_shared<nn::ReLU>());
    model.push_back(std::make_shared<nn::MaxPool2d>(2));
    model.push_back(std::make_shared<nn::Flatten>());
    model.push_back(std::make_shared<nn::Linear>(64 * 7 * 7, 128, opt.seed * 4 + 3));
    model.push_back(std::make_shared<nn::ReLU>());
    model.push_back(std::make_shared<nn::Linear>(128, 10, opt.seed * 4 + 4));
  }
  std::unique_ptr<optim::SGD> sgd;
  std::unique_ptr<optim::Adam> adam;
  if (opt.optimizer == "sgd")
    sgd = std::make_unique<optim::SGD>(model.parameters(), opt.lr, 0.9);
  else
    adam = std::make_unique<optim::Adam>(model.parameters(), opt.lr);
  optim::Optimizer& optimizer = sgd ? static_cast<optim::Optimizer&>(*sgd) : *adam;

  data::BatchIterator batches(train_x, train.labels, opt.batch_size, true, opt.seed);
  const int64_t steps_per_epoch = batches.num_batches();
  std::vector<double> losses, accuracies;
  for (int epoch = 1; epoch <= opt.epochs; ++epoch) {
    if (sgd)  // cosine decay over the whole run
      sgd->lr = 0.5 * opt.lr * (1 + std::cos(M_PI * (epoch - 1) / opt.epochs));
    model.train();
    batches.start_epoch();
    const auto start = Clock::now();
    double loss_sum = 0;
    int64_t step = 0, seen = 0;
    Tensor x, y;
    while (batches.next(x, y)) {
      Tensor loss = nn::cross_entropy(model(x), y);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_sum += loss.item();
      ++step;
      seen += x.shape()[0];
      if (tty && (step % 10 == 0 || step == steps_per_epoch)) {
        const double secs = std::chrono::duration<double>(Clock::now() - start).count();
        const int filled = static_cast<int>(30 * step / steps_per_epoch);
        std::printf("\repoch %2d/%d [%s%s] %4lld/%lld  loss %.4f  %6.0f samples/s", epoch,
                    opt.epochs, std::string(filled, '#').c_str(),
                    std::string(30 - filled, '.').c_str(), static_cast<long long>(step),
                    static_cast<long long>(steps_per_epoch), loss_sum / step, seen / secs);
        std::fflush(stdout);
      }
    }
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    model.eval();
    const double acc = accuracy(predict(model, test_x), test.labels);
    losses.push_back(loss_sum / step);
    accuracies.push_back(acc);
    if (tty) std::printf("\r%*s\r", 100, "");
    std::printf("epoch %2d/%d  train loss %.4f  test accuracy %.4f  %.2f s (%.0f samples/s)\n",
                epoch, opt.epochs, loss_sum / step, acc, secs, seen / secs);
    std::fflush(stdout);
  }

  // Accuracy per class: the test predictions picked out by each class' boolean mask.
  static const char* kClasses[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  const Tensor predicted = predict(model, test_x);
  std::printf("per class:");
  for (int64_t c = 0; c < 10; ++c)
    std::printf("%s %s %.2f", c == 0 ? "" : ",", kClasses[c],
                accuracy(masked_select(predicted, test.labels == c),
                         masked_select(test.labels, test.labels == c)));
  std::printf("\n");

  ::mkdir(opt.out.c_str(), 0755);
  const std::string plot = opt.out + "/learning_curve.svg";
  const std::string params = opt.out + "/" + opt.model + ".npz";
  try {
    write_text_file(plot, learning_curve_svg(losses, accuracies));
    model.save(params);
  } catch (const Error& e) {
    std::cerr << "fashion_mnist: " << e.what() << "\n";
    return 1;
  }
  std::cout << "learning curve: " << plot << "\n"
            << "parameters: " << params << "\n";
  std::printf("test accuracy: %.4f\n", accuracies.back());
  return 0;
}
