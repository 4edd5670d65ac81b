"""Analyses of trained RAPA networks (Rasch et al. 2019): majority voting over random
tilings, reduction of replicas to one mean kernel, filter similarity across replicas,
and FGSM adversarial robustness.

Everything runs through `Network.forward`, so it follows the Program's mapping: random
tiling draws its patch assignment from the image id, and the gradient of an attack is
taken with the same image ids (hence the same assignment) as its evaluation. Pure numpy;
the only randomness is that of the generators passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.compiler.program import Program
from archsim.nn import functional as F
from archsim.nn.network import Network, Params, images_per_chunk, init_params


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


# -- majority voting -------------------------------------------------------------------------------
@dataclass(frozen=True)
class VoteResult:
    """Majority-vote accuracy, each draw's own accuracy, and the voted predictions."""

    accuracy: float
    per_draw: np.ndarray     # (draws,) accuracy of each single draw
    predictions: np.ndarray  # (N,) voted class per image


def majority_vote(net: Network, params: Params, images: np.ndarray, labels: np.ndarray, draws: int,
                  id_offset: int = 0, batch: int | None = None) -> VoteResult:
    """Predict every image `draws` times, draw k with image ids id_offset + index + k * N (so
    random tiling uses a different assignment per draw; draw 0 is what `evaluate` uses), and
    take the majority class; ties go to the tied class with the largest summed softmax."""
    if draws < 1:
        raise ValueError("draws must be >= 1")
    n = len(images)
    batch = batch or images_per_chunk(net.program)
    votes, prob_sum, per_draw = None, None, np.zeros(draws)
    for k in range(draws):
        correct = 0
        for start in range(0, n, batch):
            x = images[start:start + batch]
            ids = np.arange(start, start + len(x)) + id_offset + k * n
            logits, _ = net.forward(params, x, ids)
            if votes is None:
                votes = np.zeros((n, logits.shape[1]), np.int64)
                prob_sum = np.zeros((n, logits.shape[1]))
            pred = logits.argmax(axis=1)
            votes[start + np.arange(len(x)), pred] += 1
            prob_sum[start:start + len(x)] += _softmax(logits.astype(np.float64))
            correct += int((pred == labels[start:start + len(x)]).sum())
        per_draw[k] = correct / max(n, 1)
    if votes is None:
        return VoteResult(0.0, per_draw, np.zeros(0, np.int64))
    tied = votes == votes.max(axis=1, keepdims=True)
    predictions = np.where(tied, prob_sum, -np.inf).argmax(axis=1)
    return VoteResult(float((predictions == labels).mean()), per_draw, predictions)


def majority_vote_accuracy(net: Network, params: Params, images: np.ndarray, labels: np.ndarray, draws: int,
                           id_offset: int = 0, batch: int | None = None) -> tuple[float, np.ndarray]:
    """(majority-vote accuracy, per-draw accuracies); see `majority_vote`."""
    r = majority_vote(net, params, images, labels, draws, id_offset, batch)
    return r.accuracy, r.per_draw


# -- replicas reduced to one kernel ----------------------------------------------------------------
def _replicated_keys(params: Params, program: Program) -> list[str]:
    keys = []
    for plan in program.layers:
        if plan.op not in ("conv2d", "linear") or plan.analog is None or plan.analog.replicas <= 1:
            continue
        shared_ndim = {"weight": 4 if plan.op == "conv2d" else 2, "bias": 1}
        for kind, ndim in shared_ndim.items():
            key = f"{plan.name}.{kind}"
            if key in params and params[key].ndim == ndim + 1:
                keys.append(key)
    return keys


def mean_kernel(params: Params, program: Program) -> Params:
    """Parameters with every replicated weight and bias (leading replica axis) replaced by its
    mean over the replicas: the shared-weight shape, one kernel per layer. Others are kept."""
    out = dict(params)
    for key in _replicated_keys(params, program):
        out[key] = params[key].mean(axis=0).astype(params[key].dtype)
    return out


# -- filter similarity -----------------------------------------------------------------------------
def filter_similarity(weights: np.ndarray) -> float:
    """Mean pairwise cosine similarity of corresponding filters across replicas.

    `weights` is replicated, (n, c_out, ...) (conv: (n, c_out, c_in, k, k); linear:
    (n, out, in)); the mean is over all n(n-1)/2 replica pairs and all output channels.
    Zero filters count as similarity 0."""
    w = np.asarray(weights, np.float64)
    if w.ndim < 3 or w.shape[0] < 2:
        raise ValueError("need a replicated weight (n >= 2, c_out, ...)")
    f = w.reshape(w.shape[0], w.shape[1], -1)
    norms = np.linalg.norm(f, axis=2, keepdims=True)
    unit = np.divide(f, norms, out=np.zeros_like(f), where=norms > 0)
    n = unit.shape[0]
    s = unit.sum(axis=0)  # sum over pairs i<j of u_i.u_j = (|sum u|^2 - sum |u|^2) / 2
    pair_sums = ((s * s).sum(axis=1) - (unit * unit).sum(axis=(0, 2))) / 2
    return float(pair_sums.mean() / (n * (n - 1) / 2))


def filter_similarities(params: Params, program: Program) -> dict[str, float]:
    """`filter_similarity` of every replicated layer's weight, by layer name."""
    return {key.rsplit(".", 1)[0]: filter_similarity(params[key])
            for key in _replicated_keys(params, program) if key.endswith(".weight")}


def baseline_filter_similarity(program: Program, layer: str, rng: np.random.Generator,
                               draws: int = 1) -> float:
    """The same similarity for independently initialised replicas (`init_params`,
    replicated): what training has to beat. Mean over `draws` initialisations."""
    values = [filter_similarity(init_params(program, rng, replicated=True, dtype=np.float64)[f"{layer}.weight"])
              for _ in range(draws)]
    return float(np.mean(values))


# -- FGSM ------------------------------------------------------------------------------------------
def input_gradient(net: Network, params: Params, x: np.ndarray, y: np.ndarray,
                   image_ids: np.ndarray | None = None, batch: int | None = None) -> np.ndarray:
    """d(mean cross-entropy over the batch) / dx, through the mapping with these image ids
    (inference mode: batch norm uses its running statistics)."""
    if image_ids is None:
        image_ids = np.arange(len(x))
    image_ids = np.asarray(image_ids)
    batch = batch or images_per_chunk(net.program)
    grad = np.empty_like(x)
    for lo in range(0, len(x), batch):
        xs = x[lo:lo + batch]
        logits, tape = net.forward(params, xs, image_ids[lo:lo + batch], keep=True)
        _, dlogits = F.softmax_cross_entropy(logits, y[lo:lo + batch])
        grad[lo:lo + batch] = net.backward(params, tape, dlogits * (len(xs) / len(x)), input_grad=True)["input"]
    return grad


def fgsm_accuracy(net: Network, params: Params, images: np.ndarray, labels: np.ndarray, epsilons,
                  id_offset: int = 0, batch: int | None = None) -> np.ndarray:
    """Accuracy under FGSM for each eps: x_adv = clip(x + eps * sign(dL/dx), 0, 1).

    The gradient and the evaluation use the same image ids (id_offset + index, as
    `evaluate`), so under random tiling the attack sees the assignment it is judged on."""
    epsilons = np.atleast_1d(np.asarray(epsilons, np.float64))
    batch = batch or images_per_chunk(net.program)
    correct = np.zeros(len(epsilons), np.int64)
    for start in range(0, len(images), batch):
        x, y = images[start:start + batch], labels[start:start + batch]
        ids = np.arange(start, start + len(x)) + id_offset
        direction = np.sign(input_gradient(net, params, x, y, ids, batch))
        for e, eps in enumerate(epsilons):
            adv = np.clip(x + eps * direction, 0, 1).astype(x.dtype)
            logits, _ = net.forward(params, adv, ids)
            correct[e] += int((logits.argmax(axis=1) == y).sum())
    return correct / max(len(images), 1)
