"""The book's MultiLayerNet training step in NumPy, float32, one BLAS thread.

Layers as in "Deep Learning from Scratch" (common/layers.py, common/functions.py,
common/multi_layer_net.py): Affine, Relu, SoftmaxWithLoss; 784-[100x6]-10 ReLU,
He init, batch 100; SGD lr 0.01 or Adam lr 0.001 (common/optimizer.py). Run by
bench/mlp.bench.mjs and bench/threads.bench.mjs; prints one JSON line:
{"ms": mean ms per step, "blas": "..."} or {"skip": reason}.
Usage: python3 mlp_numpy.py [--optimizer=sgd|adam] [--time=ms] [--clock=wall|cpu] [--serve]
  (cpu: process CPU time, like bench --cpu-time; --serve: warm up, then time blocks on request,
  see numpy_peer.py)
"""
import json
import sys
import time

try:
    import numpy as np
except ImportError:
    print(json.dumps({"skip": "numpy is not importable by python3"}))
    sys.exit(0)

from book_optimizers import F32, SGD, Adam  # noqa: E402 (numpy checked first)
from numpy_peer import blas_info, serve  # noqa: E402

INPUT, HIDDEN, OUTPUT, BATCH = 784, [100] * 6, 10, 100


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def cross_entropy_error(y, t):
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        return dout


class SoftmaxWithLoss:
    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        return cross_entropy_error(self.y, t)

    def backward(self):
        batch_size = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        return dx / batch_size


class MultiLayerNet:
    def __init__(self, rng):
        sizes = [INPUT] + HIDDEN + [OUTPUT]
        self.params, self.layers = {}, []
        for i in range(1, len(sizes)):
            scale = np.sqrt(2.0 / sizes[i - 1])
            self.params[f"W{i}"] = (scale * rng.standard_normal((sizes[i - 1], sizes[i]))).astype(np.float32)
            self.params[f"b{i}"] = np.zeros(sizes[i], dtype=np.float32)
            self.layers.append(Affine(self.params[f"W{i}"], self.params[f"b{i}"]))
            if i < len(sizes) - 1:
                self.layers.append(Relu())
        self.last_layer = SoftmaxWithLoss()

    def loss(self, x, t):
        for layer in self.layers:
            x = layer.forward(x)
        return self.last_layer.forward(x, t)

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.last_layer.backward()
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        grads, i = {}, 1
        for layer in self.layers:
            if isinstance(layer, Affine):
                grads[f"W{i}"], grads[f"b{i}"] = layer.dW, layer.db
                i += 1
        return grads


OPTIMIZERS = {"sgd": SGD, "adam": Adam}




def main():
    budget_ms, clock, optimizer, serving = 1000.0, time.perf_counter, SGD(), False
    for arg in sys.argv[1:]:
        if arg == "--serve":
            serving = True
        elif arg.startswith("--optimizer=") and arg[len("--optimizer="):] in OPTIMIZERS:
            optimizer = OPTIMIZERS[arg[len("--optimizer="):]]()
        elif arg.startswith("--time="):
            budget_ms = float(arg[len("--time="):])
        elif arg == "--clock=cpu":
            clock = time.process_time
        elif arg != "--clock=wall":
            sys.exit(f"mlp_numpy.py: unknown argument {arg!r}")
    rng = np.random.default_rng(1)
    net = MultiLayerNet(rng)
    x = rng.random((BATCH, INPUT), dtype=np.float32)
    t = (np.arange(BATCH) * 7 + 3) % OUTPUT

    initial = {key: p.copy() for key, p in net.params.items()}

    def step():
        # untimed: every timed step starts from the same weights (see mlp.bench.mjs)
        for key, p in net.params.items():
            p[...] = initial[key]
        start = clock()
        optimizer.update(net.params, net.gradient(x, t))
        return clock() - start

    if serving:
        return serve(step, max(0.05, budget_ms / 4000))
    warm = 0.0
    while warm < max(0.05, budget_ms / 4000):
        warm += step()
    steps, total = 0, 0.0
    while steps < 2 or total < budget_ms / 1000:
        total += step()
        steps += 1
    ms = total * 1000 / steps
    assert net.params["W1"].dtype == np.float32
    print(json.dumps({"ms": ms, "blas": blas_info()}))


main()
