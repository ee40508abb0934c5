"""The book's Convolution layer and DeepConvNet training step in NumPy, float32, one BLAS thread.

Layers as in "Deep Learning from Scratch" (common/util.py im2col/col2im,
common/layers.py Convolution, Pooling, Relu, Affine, Dropout, SoftmaxWithLoss,
common/optimizer.py Adam, ch08/deep_convnet.py): batch 100, 1x28x28 input.
Run by bench/conv.bench.mjs; prints one JSON line:
{"ms": mean ms per call, "blas": "..."} or {"skip": reason}.
Usage: python3 deepconvnet_numpy.py --case=step | --case=conv:C,H,FN,pad,forward|backward [--time=ms] [--clock=wall|cpu] [--serve]
(cpu: process CPU time, like bench --cpu-time; --serve: warm up for a quarter of the time, then time blocks
on request, see numpy_peer.py)
"""
import json
import sys
import time

try:
    import numpy as np
except ImportError:
    print(json.dumps({"skip": "numpy is not importable by python3"}))
    sys.exit(0)

from book_optimizers import F32, Adam  # noqa: E402 (numpy checked first)
from numpy_peer import blas_info, serve  # noqa: E402

BATCH, OUTPUT, LR = 100, 10, 0.001


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


class SoftmaxWithLoss:
    def forward(self, x, t):
        self.t, self.y = t, softmax(x)
        return -np.sum(np.log(self.y[np.arange(t.shape[0]), t] + 1e-7)) / t.shape[0]

    def backward(self):
        dx = self.y.copy()
        dx[np.arange(self.t.shape[0]), self.t] -= 1
        return dx / self.t.shape[0]


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        return dout




def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    N, C, H, W = input_data.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w), dtype=input_data.dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    N, C, H, W = input_shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=col.dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]
    return img[:, :, pad:H + pad, pad:W + pad]


class Convolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x):
        FN, C, FH, FW = self.W.shape
        N, C, H, W = x.shape
        out_h = 1 + (H + 2 * self.pad - FH) // self.stride
        out_w = 1 + (W + 2 * self.pad - FW) // self.stride
        col = im2col(x, FH, FW, self.stride, self.pad)
        col_W = self.W.reshape(FN, -1).T
        out = np.dot(col, col_W) + self.b
        self.x, self.col, self.col_W = x, col, col_W
        return out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout).transpose(1, 0).reshape(FN, C, FH, FW)
        dcol = np.dot(dout, self.col_W.T)
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class Pooling:
    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x):
        N, C, H, W = x.shape
        out_h = int(1 + (H - self.pool_h) / self.stride)
        out_w = int(1 + (W - self.pool_w) / self.stride)
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad).reshape(-1, self.pool_h * self.pool_w)
        self.arg_max = np.argmax(col, axis=1)
        self.x = x
        return np.max(col, axis=1).reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        pool_size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(dout.shape + (pool_size,)).reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)


class Dropout:
    def __init__(self, rng, ratio=0.5):
        self.rng, self.ratio = rng, ratio

    def forward(self, x):
        self.mask = self.rng.random(x.shape, dtype=F32) > self.ratio
        return x * self.mask

    def backward(self, dout):
        return dout * self.mask


# DeepConvNet's conv layers on 28x28: (C, H, FN, pad); 3x3 filters, stride 1
CONVS = [(1, 28, 16, 1), (16, 28, 16, 1), (16, 14, 32, 1), (32, 14, 32, 2), (32, 8, 64, 1), (64, 8, 64, 1)]


def he(rng, shape, fan_in):
    return (np.sqrt(2.0 / fan_in) * rng.standard_normal(shape)).astype(F32)


class DeepConvNet:
    def __init__(self, rng):
        self.params, self.layers, weighted = {}, [], []
        for i, (C, _, FN, pad) in enumerate(CONVS, 1):
            self.params[f"W{i}"], self.params[f"b{i}"] = he(rng, (FN, C, 3, 3), C * 9), np.zeros(FN, F32)
            self.layers += [Convolution(self.params[f"W{i}"], self.params[f"b{i}"], 1, pad), Relu()]
            if i % 2 == 0:
                self.layers.append(Pooling(2, 2, 2))
        self.params["W7"], self.params["b7"] = he(rng, (64 * 4 * 4, 50), 64 * 4 * 4), np.zeros(50, F32)
        self.params["W8"], self.params["b8"] = he(rng, (50, OUTPUT), 50), np.zeros(OUTPUT, F32)
        self.layers += [Affine(self.params["W7"], self.params["b7"]), Relu(), Dropout(rng),
                        Affine(self.params["W8"], self.params["b8"]), Dropout(rng)]
        self.last_layer = SoftmaxWithLoss()

    def gradient(self, x, t):
        for layer in self.layers:
            x = layer.forward(x)
        self.last_layer.forward(x, t)
        dout = self.last_layer.backward()
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        grads = {}
        for i, layer in enumerate(l for l in self.layers if isinstance(l, (Convolution, Affine))):
            grads[f"W{i + 1}"], grads[f"b{i + 1}"] = layer.dW, layer.db
        return grads


def prepare(case, rng):
    """The function to time for a case name."""
    if case == "step":
        net, optimizer = DeepConvNet(rng), Adam(LR)
        x = rng.random((BATCH, 1, 28, 28), dtype=F32)
        t = (np.arange(BATCH) * 7 + 3) % OUTPUT
        return lambda: optimizer.update(net.params, net.gradient(x, t))
    if case.startswith("conv:"):
        *shape, direction = case[5:].split(",")
        C, H, FN, pad = map(int, shape)
        layer = Convolution(he(rng, (FN, C, 3, 3), C * 9), np.zeros(FN, F32), 1, pad)
        x = rng.random((BATCH, C, H, H), dtype=F32)
        OH = H + 2 * pad - 2
        # as training gives it (conv.bench.mjs reluGradient): 0 where the output is not positive
        dout = rng.standard_normal((BATCH, FN, OH, OH)).astype(F32) * (layer.forward(x) > 0)
        if direction == "forward":
            return lambda: layer.forward(x)
        if direction == "backward":
            return lambda: (layer.forward(x), layer.backward(dout))
    sys.exit(f"deepconvnet_numpy.py: unknown case {case!r}")


def main():
    budget_ms, case, clock, serving = 1000.0, None, time.perf_counter, False
    for arg in sys.argv[1:]:
        if arg == "--serve":
            serving = True
        elif arg.startswith("--time="):
            budget_ms = float(arg[len("--time="):])
        elif arg.startswith("--case="):
            case = arg[len("--case="):]
        elif arg == "--clock=cpu":
            clock = time.process_time
        elif arg != "--clock=wall":
            sys.exit(f"deepconvnet_numpy.py: unknown argument {arg!r}")
    fn = prepare(case or "", np.random.default_rng(1))
    if serving:
        def step():
            start = clock()
            fn()
            return clock() - start
        return serve(step, budget_ms / 4000)
    fn()  # warm-up
    steps, start = 0, clock()
    while steps < 2 or clock() - start < budget_ms / 1000:
        fn()
        steps += 1
    ms = (clock() - start) * 1000 / steps
    print(json.dumps({"ms": ms, "blas": blas_info()}))


main()
