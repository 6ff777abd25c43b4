"""A small convolutional network on Fashion-MNIST, from Python.

    PYTHONPATH=build/python python3 examples/python/fashion_mnist_cnn.py [--epochs 3]

conv 3x3 (16) - ReLU - max pool 2 - conv 3x3 (32) - ReLU - max pool 2 - linear 10, Adam,
batch 128 (Debian's dataset-fashion-mnist: `make demo` installs it).
"""

import argparse
import time

import ndgrad as nd
from ndgrad import data, nn, optim


def make_model():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, seed=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, seed=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10, seed=3))


def accuracy(model, images, labels, batch=1000):
    correct = 0
    with nd.no_grad():
        for start in range(0, images.shape[0], batch):
            x, y = images[start:start + batch], labels[start:start + batch]
            correct += (model(x).argmax(axis=1) == y).sum().item()
    return correct / images.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--data", default=data.DEFAULT_FASHION_MNIST)
    parser.add_argument("--max-steps", type=int, default=0, help="stop an epoch early (tests)")
    parser.add_argument("--test-images", type=int, default=10000)
    args = parser.parse_args()

    train_x, train_y = data.load_mnist_like(args.data, train=True)
    test_x, test_y = data.load_mnist_like(args.data, train=False)
    # (N, 784) pixels to (N, 1, 28, 28) images in [0, 1].
    train_x = (train_x / 255.0).reshape(-1, 1, 28, 28)
    test_x = (test_x / 255.0).reshape(-1, 1, 28, 28)[:args.test_images]
    test_y = test_y[:args.test_images]
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        start, total, steps = time.perf_counter(), 0.0, 0
        for x, y in data.batches(train_x, train_y, 128, shuffle=True, seed=0, epoch=epoch):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
            steps += 1
            if steps == args.max_steps:
                break
        print(f"epoch {epoch + 1}: loss {total / steps:.4f}, "
              f"test accuracy {accuracy(model, test_x, test_y):.4f}, "
              f"{time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
