// Trains an MLP 784-256-128-10 (ReLU) on Fashion-MNIST, the founding texts' two-layer network
// grown up, or (--model cnn) a small convolutional network. Progress bar on a terminal, plain lines
// otherwise; a checkpoint every epoch (--resume goes on from one), and a learning-curve SVG and the
// trained parameters (.npz) at the end. --distributed (under mpirun) trains data-parallel: each
// rank a shard of every global batch, gradients averaged by ndgrad::distributed.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "ndgrad/ndgrad.hpp"
#ifdef NDGRAD_HAVE_DISTRIBUTED
#include "ndgrad/distributed.hpp"
#endif

using namespace ndgrad;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  int epochs = 0;  // the model's default when not given: 15 for the MLP, 15 for the CNN
  bool epochs_given = false;
  int64_t batch_size = 128;
  double lr = 0.05;
  double weight_decay = -1;  // the model's default when not given: 0 for the MLP, 5e-4 the CNN
  bool augment = false, augment_given = false;
  bool distributed = false;
  std::string optimizer = "sgd";
  std::string resume;
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
    "  --epochs N          passes over the training set (default 15)\n"
    "  --batch-size N      samples per step (default 128); with --distributed, per rank\n"
    "  --lr X              learning rate (default 0.05 for sgd, use ~0.001 for adam/adamw)\n"
    "  --optimizer NAME    sgd (momentum 0.9; nesterov for cnn), adam or adamw (default sgd);\n"
    "                      the lr decays on a cosine (cnn: per step, after a one-epoch warmup)\n"
    "  --weight-decay X    L2 (sgd, adam) or decoupled (adamw) decay (default 0 mlp, 5e-4 cnn)\n"
    "  --augment on|off    random horizontal flips of the training images (default: on for cnn)\n"
    "  --resume FILE       go on from a checkpoint of an interrupted run with the same options\n"
    "                      (OUT/checkpoint.npz is written after every epoch)\n"
    "  --seed N            initialization and shuffling seed (default 0)\n"
    "  --data DIR          directory with the IDX files (default "
    "/usr/share/datasets/fashion-mnist)\n"
    "  --out DIR           where the plot and the parameters go (default fashion_mnist_out)\n"
    "  --distributed       data-parallel over the ranks of mpirun (global batch = batch size x\n"
    "                      ranks); rank 0 prints and writes the outputs\n"
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
    if (flag == "--distributed") {
      o.distributed = true;
      continue;
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
    else if (flag == "--weight-decay")
      o.weight_decay = parse_number<double>(flag, value);
    else if (flag == "--augment") {
      if (value != "on" && value != "off") usage_error("--augment must be on or off");
      o.augment = value == "on";
      o.augment_given = true;
    } else if (flag == "--resume")
      o.resume = value;
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
  if (!o.epochs_given) o.epochs = 15;
  if (o.weight_decay < 0) o.weight_decay = o.model == "cnn" ? 5e-4 : 0;
  if (!o.augment_given) o.augment = o.model == "cnn";
  if (o.epochs <= 0) usage_error("--epochs must be positive");
  if (o.batch_size <= 0) usage_error("--batch-size must be positive");
  if (!(o.lr > 0)) usage_error("--lr must be positive");
  if (!(o.weight_decay >= 0)) usage_error("--weight-decay must be >= 0");
  if (o.optimizer != "sgd" && o.optimizer != "adam" && o.optimizer != "adamw")
    usage_error("--optimizer must be sgd, adam or adamw");
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
  int rank = 0, world = 1;
#ifdef NDGRAD_HAVE_DISTRIBUTED
  std::unique_ptr<distributed::Environment> env;
  if (opt.distributed) {
    env = std::make_unique<distributed::Environment>(&argc, &argv);
    rank = env->rank();
    world = env->world_size();
  }
#else
  if (opt.distributed)
    usage_error("--distributed: this build has no ndgrad::distributed (MPI was not found)");
#endif
  // Rank 0 speaks for the job; the others print only errors.
  if (rank != 0) std::cout.setstate(std::ios::failbit);
  const bool lead = rank == 0;
  const bool tty = lead && isatty(STDOUT_FILENO);
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
            << ", " << opt.optimizer << " lr " << opt.lr << ", batch " << opt.batch_size * world
            << (world > 1 ? " (" + std::to_string(opt.batch_size) + " on each of " +
                                std::to_string(world) + " ranks)"
                          : std::string())
            << ", " << opt.epochs << " epochs, seed " << opt.seed << "\n";

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
  std::unique_ptr<optim::Optimizer> optimizer;
  if (opt.optimizer == "sgd")
    optimizer =
        std::make_unique<optim::SGD>(model.parameters(), optim::SGDOptions(opt.lr)
                                                             .momentum(0.9)
                                                             .nesterov(opt.model == "cnn")
                                                             .weight_decay(opt.weight_decay));
  else if (opt.optimizer == "adam")
    optimizer = std::make_unique<optim::Adam>(
        model.parameters(), optim::AdamOptions(opt.lr).weight_decay(opt.weight_decay));
  else
    optimizer = std::make_unique<optim::AdamW>(
        model.parameters(), optim::AdamWOptions(opt.lr).weight_decay(opt.weight_decay));

  // Every rank gets its shard of each global batch (the batches one process with the global
  // batch size would take, in the same order).
  data::BatchIterator batches(train_x, train.labels, opt.batch_size, true, opt.seed,
                              data::Shard{rank, world});
  // The model trained: data-parallel, the gradients averaged over the ranks in backward.
  nn::Module* trained = &model;
#ifdef NDGRAD_HAVE_DISTRIBUTED
  std::unique_ptr<distributed::DistributedDataParallel> ddp;
  if (opt.distributed) {
    ddp = std::make_unique<distributed::DistributedDataParallel>(model);
    trained = ddp.get();
  }
#endif
  const int64_t steps_per_epoch = batches.num_batches();
  // The MLP's lr steps once an epoch; the CNN's once a batch, after a one-epoch warmup (half
  // the run when it is one epoch long).
  std::unique_ptr<optim::LRScheduler> schedule;
  if (opt.model == "mlp")
    schedule = std::make_unique<optim::CosineAnnealingLR>(*optimizer, opt.epochs);
  else
    schedule = std::make_unique<optim::CosineWarmupLR>(
        *optimizer, std::min(steps_per_epoch, steps_per_epoch * opt.epochs / 2),
        steps_per_epoch * opt.epochs);
  Generator augment_rng(opt.seed * 4 + 5 + uint64_t(rank) * 1000003);  // its own flips a rank

  // Everything a resumed run needs; written whole (or not at all) after every epoch.
  {  // before any training: a directory that cannot be made fails now, not after an epoch
    std::error_code error;
    std::filesystem::create_directories(opt.out, error);
    if (error) {
      std::cerr << "fashion_mnist: cannot create '" << opt.out << "': " << error.message() << "\n";
      return 1;
    }
  }
  const std::string checkpoint = opt.out + "/checkpoint.npz";
  TrainingState state;
  state.model = &model;
  state.optimizer = optimizer.get();
  state.scheduler = schedule.get();
  state.generators = {{"augment", &augment_rng}};
  std::vector<double> losses, accuracies;
  if (!opt.resume.empty()) {
    try {
      load_checkpoint(opt.resume, state);
    } catch (const Error& e) {
      std::cerr << "fashion_mnist: cannot resume: " << e.what() << "\n";
      return 1;
    }
    for (const char* key : {"losses", "accuracies"}) {
      auto it = state.extra.find(key);
      if (it == state.extra.end()) continue;
      const Tensor v = it->second.to(DType::f64).contiguous();
      auto& dst = std::string(key) == "losses" ? losses : accuracies;
      dst.assign(v.data_ptr<double>(), v.data_ptr<double>() + v.numel());
    }
    // The schedule spans the whole run: a resumed run must plan as many epochs.
    auto planned = state.extra.find("epochs");
    if (planned != state.extra.end() && int(planned->second.item()) != opt.epochs) {
      std::cerr << "fashion_mnist: " << opt.resume << " is of a run of "
                << int(planned->second.item()) << " epochs; resume it with --epochs "
                << int(planned->second.item()) << " (the learning-rate schedule spans the run)\n";
      return 1;
    }
    std::cout << "resumed from " << opt.resume << " after epoch " << state.epoch << "\n";
  }
  for (int epoch = int(state.epoch) + 1; epoch <= opt.epochs; ++epoch) {
    model.train();
    batches.start_epoch(epoch);
    const auto start = Clock::now();
    double loss_sum = 0;
    int64_t step = 0, seen = 0;
    Tensor x, y;
    while (batches.next(x, y)) {
      if (opt.augment) {  // half the images mirrored left to right
        const Tensor flip = augment_rng.bernoulli(0.5, {x.size(0), 1}) > 0.5;
        x = where(flip, x.reshape({x.size(0), 28, 28}).flip({2}).reshape({x.size(0), 784}), x);
      }
      Tensor loss = nn::cross_entropy((*trained)(x), y);
      optimizer->zero_grad();
      loss.backward();
      optimizer->step();
      if (opt.model == "cnn") schedule->step();
      loss_sum += loss.item();
      ++step;
      seen += x.shape()[0] * world;
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
    if (opt.model == "mlp") schedule->step();
#ifdef NDGRAD_HAVE_DISTRIBUTED
    if (ddp) {  // the training loss over every rank's shard
      Tensor total = scalar(loss_sum, DType::f64);
      distributed::all_reduce(total, distributed::ReduceOp::mean);
      loss_sum = total.item();
    }
#endif
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    model.eval();
    const double acc = accuracy(predict(model, test_x), test.labels);
    losses.push_back(loss_sum / step);
    accuracies.push_back(acc);
    if (tty) std::printf("\r%*s\r", 100, "");
    if (lead)
      std::printf("epoch %2d/%d  train loss %.4f  test accuracy %.4f  %.2f s (%.0f samples/s)\n",
                  epoch, opt.epochs, loss_sum / step, acc, secs, seen / secs);
    std::fflush(stdout);
    state.epoch = epoch;
    state.step += step;
    state.extra["epochs"] = scalar(opt.epochs, DType::i64);
    state.extra["losses"] = tensor(losses, {int64_t(losses.size())}, DType::f64);
    state.extra["accuracies"] = tensor(accuracies, {int64_t(accuracies.size())}, DType::f64);
    try {
      save_checkpoint(checkpoint, state);
    } catch (const Error& e) {
      std::cerr << "fashion_mnist: " << e.what() << "\n";
      return 1;
    }
  }
  if (losses.empty()) {
    std::cerr << "fashion_mnist: nothing to train: the checkpoint is at epoch " << state.epoch
              << " of " << opt.epochs << "\n";
    return 1;
  }

  // Accuracy per class: the test predictions picked out by each class' boolean mask.
  static const char* kClasses[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  const Tensor predicted = predict(model, test_x);
  if (!lead) return 0;  // rank 0 writes the outputs
  std::printf("per class:");
  for (int64_t c = 0; c < 10; ++c)
    std::printf("%s %s %.2f", c == 0 ? "" : ",", kClasses[c],
                accuracy(masked_select(predicted, test.labels == c),
                         masked_select(test.labels, test.labels == c)));
  std::printf("\n");

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
            << "parameters: " << params << "\n"
            << "checkpoint: " << checkpoint << "\n";
  std::printf("test accuracy: %.4f\n", accuracies.back());
  return 0;
}
