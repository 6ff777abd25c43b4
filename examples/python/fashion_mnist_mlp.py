"""The founding chapter's network grown up, from Python: an MLP on Fashion-MNIST.

    PYTHONPATH=build/python python3 examples/python/fashion_mnist_mlp.py [--epochs 5]

784-256-128-10 with ReLU, SGD with momentum 0.9, batch 128, cross-entropy (Debian's
dataset-fashion-mnist: `make demo` installs it). Prints each epoch's loss, test accuracy, time.
"""

import argparse
import time

import ndgrad as nd
from ndgrad import data, nn, optim


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden1 = nn.Linear(784, 256, seed=1)
        self.hidden2 = nn.Linear(256, 128, seed=2)
        self.out = nn.Linear(128, 10, seed=3)

    def forward(self, x):
        return self.out(nd.relu(self.hidden2(nd.relu(self.hidden1(x)))))


def accuracy(model, images, labels):
    with nd.no_grad():
        return (model(images).argmax(axis=1) == labels).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--data", default=data.DEFAULT_FASHION_MNIST)
    parser.add_argument("--max-steps", type=int, default=0, help="stop an epoch early (tests)")
    args = parser.parse_args()

    train_x, train_y = data.load_mnist_like(args.data, train=True)
    test_x, test_y = data.load_mnist_like(args.data, train=False)
    train_x, test_x = train_x / 255.0, test_x / 255.0
    model = MLP()
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
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
