"""Network operations as pure numpy functions, each forward with its backward.

Feature maps are NCHW. Convolutions are lowered by im2col to the kernel-matrix layout
the compiler maps onto tiles: patch rows ordered (ki, kj, c_in), so a conv weight
(c_out, c_in, k, k) becomes K = W.transpose(0, 2, 3, 1).reshape(c_out, -1).T, with the
bias as an extra row driven by a constant 1. Channels innermost make every patch copy a
run of contiguous channel values (NHWC), about 4x faster than (c_in, ki, kj) order; any
fixed row order is equally valid on the arrays. Functions keep the input dtype (float32 in use, float64 in the
gradient checks).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad_hw(x: np.ndarray, padding: int, value: float = 0.0) -> np.ndarray:
    """x (B, C, H, W) with `padding` rows and columns of `value` around each map (np.pad's
    result, 1.2-3.4x faster on the RAPA and ResNet-32 maps, measured: most on small ones)."""
    if padding == 0:
        return x
    b, c, h, w = x.shape
    out = np.full((b, c, h + 2 * padding, w + 2 * padding), value, dtype=x.dtype)
    out[:, :, padding:padding + h, padding:padding + w] = x
    return out


def out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def windows(x: np.ndarray, kernel: int, stride: int, padding: int, value: float = 0.0) -> np.ndarray:
    """A strided view (B, C, oh, ow, k, k) of every k x k window (no copy)."""
    view = sliding_window_view(pad_hw(x, padding, value), (kernel, kernel), axis=(2, 3))
    return view[:, :, ::stride, ::stride]


def to_nhwc(x: np.ndarray, padding: int = 0) -> np.ndarray:
    """A contiguous (B, H + 2p, W + 2p, C) copy of an NCHW map, zero padded."""
    b, c, h, w = x.shape
    out = np.zeros((b, h + 2 * padding, w + 2 * padding, c), dtype=x.dtype)
    out[:, padding:padding + h, padding:padding + w] = x.transpose(0, 2, 3, 1)
    return out


def im2col(x: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    """Patches (B, P, k*k*C) in raster order of the output positions, rows (ki, kj, c): the
    obvious form, which the tests hold `devices.inputs.patch_rows` (the network's gather) to."""
    b, c = x.shape[:2]
    view = sliding_window_view(to_nhwc(x, padding), (kernel, kernel), axis=(1, 2))[:, ::stride, ::stride]
    oh, ow = view.shape[1:3]  # view: (B, oh, ow, C, k, k)
    return np.ascontiguousarray(view.transpose(0, 1, 2, 4, 5, 3)).reshape(b, oh * ow, kernel * kernel * c)


def col2im(cols: np.ndarray, shape: tuple[int, ...], kernel: int, stride: int, padding: int) -> np.ndarray:
    """Adjoint of im2col: sum every patch gradient back onto the input positions."""
    b, c, h, w = shape
    oh, ow = out_size(h, kernel, stride, padding), out_size(w, kernel, stride, padding)
    cols = cols.reshape(b, oh, ow, kernel, kernel, c)
    out = np.zeros((b, h + 2 * padding, w + 2 * padding, c), dtype=cols.dtype)
    for ki in range(kernel):  # each slice moves runs of c contiguous channel values
        for kj in range(kernel):
            out[:, ki:ki + stride * oh:stride, kj:kj + stride * ow:stride] += cols[:, :, :, ki, kj]
    return np.ascontiguousarray(out[:, padding:padding + h, padding:padding + w].transpose(0, 3, 1, 2))


def kernel_matrix(weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """K (rows, c_out) of a conv (c_out, c_in, k, k) or linear (out, in) weight, bias row last."""
    w = weight.transpose(0, 2, 3, 1) if weight.ndim == 4 else weight
    k = w.reshape(w.shape[0], -1).T
    return np.vstack([k, bias[None, :]]) if bias is not None else k


def kernel_weight(k: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of kernel_matrix without the bias row: K (rows, c_out) back to a weight of `shape`."""
    if len(shape) == 4:
        c_out, c_in, kh, kw = shape
        return k.T.reshape(c_out, kh, kw, c_in).transpose(0, 3, 1, 2)
    return k.T.reshape(shape)


def maxpool_forward(x: np.ndarray, kernel: int, stride: int, padding: int, need_arg: bool = True):
    """Max over k x k windows (padding is -inf) and, with `need_arg`, the index ki * k + kj of
    each window's first maximum (for the backward pass; None otherwise). A running maximum
    over the k*k strided slices: no (B, C, oh, ow, k*k) copy of the windows."""
    xp = pad_hw(x, padding, -np.inf)
    oh, ow = out_size(x.shape[2], kernel, stride, padding), out_size(x.shape[3], kernel, stride, padding)
    y = arg = None
    for ki in range(kernel):
        for kj in range(kernel):
            v = xp[:, :, ki:ki + stride * (oh - 1) + 1:stride, kj:kj + stride * (ow - 1) + 1:stride]
            if y is None:
                y = v.copy()
                arg = np.zeros(y.shape, np.uint8 if kernel * kernel < 256 else np.int64) if need_arg else None
                continue
            if need_arg:
                np.copyto(arg, ki * kernel + kj, where=v > y)  # strict: the first maximum wins
            np.maximum(y, v, out=y)
    return y, arg


def maxpool_backward(dy: np.ndarray, arg: np.ndarray, shape, kernel: int, stride: int, padding: int):
    b, c, h, w = shape
    oh, ow = dy.shape[2:]
    dx = np.zeros((b, c, h + 2 * padding, w + 2 * padding), dtype=dy.dtype)
    for ki in range(kernel):
        for kj in range(kernel):
            dx[:, :, ki:ki + stride * oh:stride, kj:kj + stride * ow:stride] += dy * (arg == ki * kernel + kj)
    return dx[:, :, padding:padding + h, padding:padding + w] if padding else dx


def avgpool_forward(x: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    """Average over k x k windows; padded positions count as zeros (count_include_pad)."""
    return windows(x, kernel, stride, padding).mean(axis=(-2, -1))


def avgpool_backward(dy: np.ndarray, shape, kernel: int, stride: int, padding: int) -> np.ndarray:
    b, c, h, w = shape
    oh, ow = dy.shape[2:]
    dx = np.zeros((b, c, h + 2 * padding, w + 2 * padding), dtype=dy.dtype)
    share = dy / (kernel * kernel)
    for ki in range(kernel):
        for kj in range(kernel):
            dx[:, :, ki:ki + stride * oh:stride, kj:kj + stride * ow:stride] += share
    return dx[:, :, padding:padding + h, padding:padding + w] if padding else dx


def channel_affine(x: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """x * scale + shift per channel (axis 1). A conv layer's output is an NCHW view of
    channels-last memory: there it runs as one flat pass with the channel vectors tiled
    along, in that layout (numpy's broadcast over a 16-wide inner axis took 1.7x as long)."""
    if x.ndim == 4 and x.transpose(0, 2, 3, 1).flags.c_contiguous:
        b, c, h, w = x.shape
        tile = math.gcd(b * h * w, 64)  # channel vectors per row of the flat pass
        flat = x.transpose(0, 2, 3, 1).reshape(-1, c * tile)
        y = flat * np.tile(scale, tile)
        y += np.tile(shift, tile)
        return y.reshape(b, h, w, c).transpose(0, 3, 1, 2)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return x * scale.reshape(shape) + shift.reshape(shape)


def batchnorm_forward(x, gamma, beta, mean, var, eps: float, train: bool, momentum: float = 0.1):
    """Per-channel normalisation; in training uses batch statistics and returns updated running ones."""
    axes = (0, 2, 3) if x.ndim == 4 else (0,)
    shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
    if train:
        mu = x.mean(axis=axes)
        sigma2 = x.var(axis=axes)
        n = x.size / x.shape[1]
        new_mean = (1 - momentum) * mean + momentum * mu
        new_var = (1 - momentum) * var + momentum * sigma2 * n / max(n - 1, 1)
    else:
        mu, sigma2, new_mean, new_var = mean, var, mean, var
    inv = 1.0 / np.sqrt(sigma2 + eps)
    if not train:  # one scale and shift per channel; xhat only if a backward pass asks
        a = gamma * inv
        y = channel_affine(x, a.astype(x.dtype), (beta - mu * a).astype(x.dtype))
        return y, (None, inv, gamma, train, x, mu), new_mean, new_var
    xhat = (x - mu.reshape(shape)) * inv.reshape(shape)
    y = xhat * gamma.reshape(shape) + beta.reshape(shape)
    return y.astype(x.dtype, copy=False), (xhat, inv, gamma, train, None, None), new_mean, new_var


def batchnorm_backward(dy, cache):
    xhat, inv, gamma, train, x, mean = cache
    axes = (0, 2, 3) if dy.ndim == 4 else (0,)
    shape = (1, -1, 1, 1) if dy.ndim == 4 else (1, -1)
    if xhat is None:
        xhat = (x - mean.reshape(shape)) * inv.reshape(shape)
    dgamma = (dy * xhat).sum(axis=axes)
    dbeta = dy.sum(axis=axes)
    dxhat = dy * gamma.reshape(shape)
    if not train:
        return dxhat * inv.reshape(shape), dgamma, dbeta
    n = dy.size / dy.shape[1]
    dx = (inv.reshape(shape) / n) * (n * dxhat - dxhat.sum(axis=axes).reshape(shape)
                                     - xhat * (dxhat * xhat).sum(axis=axes).reshape(shape))
    return dx, dgamma, dbeta


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = -logp[np.arange(n), labels].mean()
    grad = np.exp(logp)
    grad[np.arange(n), labels] -= 1
    return float(loss), grad / n
