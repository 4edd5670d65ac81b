"""Digital training in numpy: minibatch SGD with momentum, weight decay and cross-entropy.

RAPA training (Rasch et al. 2019): a replicated layer holds one weight per replica and
each replica is trained only on the patches the layer's Assignment gives it; random
tiling redraws the assignment for every presentation of every image (image id =
epoch * N + index). Hardware-aware training (Joshi et al. 2020) injects relative
Gaussian weight noise in the forward pass (the gradient updates the clean weights) and
optionally clips weights. Every random draw comes from the run's seed.

HA-SGD (`algorithm: ha-sgd`, after Wan et al. 2020; their exact rule was not available,
this is our variant): under deployment weight noise d ~ N(0, s^2) the expected loss is
L(w) + 1/2 sum_i s_i^2 H_ii, so we descend L(w) + lambda/2 sum_i s_i^2 H_ii, where s is the
programming noise of each weight on the hardware spec's devices and weight representation
(`devices.sensitivity.programming_sigma`: bi-scale weights have smaller s). The penalty
is estimated Hutchinson-style with one Rademacher probe v per step, u = s * v
(E[u^T H u] = sum s_i^2 H_ii), by finite differences of gradients:
grad(1/2 u^T H u) ~ (g(w + eps u) + g(w - eps u) - 2 g(w)) / (2 eps^2). Three gradient
evaluations per step; the curvature u^T H u ~ u . (g(w + eps u) - g(w - eps u)) / (2 eps)
is logged per epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from archsim.compiler.program import Program
from archsim.nn import functional as F
from archsim.nn.network import (Network, Params, PassLog, digital_product, images_per_chunk, init_params,
                                kernel_matrices, param_shapes, params_from_kernels)
from archsim.rng import Stream, generator
from archsim.spec.run import Algorithm, Augment, ReplicaGradient, ReplicaInit, TrainSettings

if TYPE_CHECKING:  # only an annotation: importing nn.train need not load the process-pool machinery
    from archsim.pool import Workers

Progress = Callable[[dict], None]


@dataclass
class TrainState:
    """Everything needed to continue training exactly where it stopped."""

    params: Params
    velocity: Params
    epoch: int = 0                                     # epochs completed
    history: list[dict] = field(default_factory=list)  # one record per completed epoch
    devices: dict | None = None  # in-situ algorithms: the chip's device states (`InSituChip.devices`)


def evaluate(net: Network, params: Params, images: np.ndarray, labels: np.ndarray,
             batch: int | None = None, id_offset: int = 0, workers: Workers | None = None) -> float:
    """Top-1 accuracy; image ids start at `id_offset` (random tiling draws per image id).

    The images go through in chunks of `batch` (default: the fewest equal chunks within the
    network's chunk budget, so that shares of whole chunks balance). An analog product that
    keys its MVM noise by the chunk (`AnalogProduct.reserve_chunks`) can share the chunks out over `workers`
    (archsim.pool.worker_pool): each process takes a contiguous share, and the accuracy
    and the pass log are those of one process. Other products run here."""
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if not batch:  # equal chunks within the budget
        chunks = max(1, -(-len(images) // images_per_chunk(net.program)))
        batch = max(1, -(-len(images) // chunks))
    chunks = -(-len(images) // batch)
    reserve = getattr(net.product, "reserve_chunks", None)  # analog products key noise by chunk
    base = reserve(chunks) if reserve is not None else None
    shareable = base is not None or net.product is digital_product
    if workers is None or workers.count < 2 or chunks < 2 or not shareable:
        correct = _correct(net, params, images, labels, batch, id_offset, base, 0)[0]
        if base is not None:
            net.product.start_chunk(base, chunks)  # later MVMs draw past the evaluation's counters
        return correct / max(len(images), 1)
    bounds = np.linspace(0, chunks, min(workers.count, chunks) + 1).round().astype(int)
    # each share records its passes in a log of its own, merged into the caller's below
    shipped = Network(net.program, net.product, PassLog(net.pass_log.keep) if net.pass_log else None,
                      net.transposed)
    from archsim.pool import shared  # here: importing nn.train need not load the pool
    correct = 0
    with shared((shipped, params)) as handle:  # the network and weights go to the workers once
        shares = [workers.executor.submit(_correct_shared, handle, images[lo * batch:hi * batch],
                                          labels[lo * batch:hi * batch], batch, id_offset + lo * batch, base, lo)
                  for lo, hi in zip(bounds[:-1], bounds[1:])]
        try:
            for share in shares:
                count, log = share.result()
                correct += count
                if net.pass_log is not None:
                    net.pass_log.merge(log)
        except BaseException:  # the shares not started yet would find the file gone
            for share in shares:
                share.cancel()
            raise
    return correct / max(len(images), 1)


def _correct_shared(handle, *args) -> tuple[int, PassLog | None]:
    """`_correct` in a worker, of the (network, params) that `handle` (archsim.pool.Shared) holds."""
    net, params = handle.load()
    return _correct(net, params, *args)


def _correct(net: Network, params: Params, images: np.ndarray, labels: np.ndarray, batch: int,
             id_offset: int, base: int | None, first_chunk: int) -> tuple[int, PassLog | None]:
    """Correct predictions on `images`, whose first chunk is chunk `first_chunk` of an
    evaluation whose noise counters start at `base` (None: the product keeps counting),
    and the network's pass log (the caller's own when run in this process)."""
    correct = 0
    for chunk, start in enumerate(range(0, len(images), batch), first_chunk):
        if base is not None:
            net.product.start_chunk(base, chunk)
        x = images[start:start + batch]
        ids = np.arange(start, start + len(x)) + id_offset
        logits, _ = net.forward(params, x, ids)
        correct += int((logits.argmax(axis=1) == labels[start:start + batch]).sum())
    return correct, net.pass_log


def augment_batch(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random crop (4-pixel zero padding) and random horizontal flip, per image."""
    b, c, h, w = x.shape
    padded = F.pad_hw(x, 4)
    oy, ox = rng.integers(0, 9, size=b), rng.integers(0, 9, size=b)
    out = np.empty_like(x)
    for i in range(b):
        out[i] = padded[i, :, oy[i]:oy[i] + h, ox[i]:ox[i] + w]
    flip = rng.random(b) < 0.5
    out[flip] = out[flip, :, :, ::-1]
    return out


def uses_augmentation(settings: TrainSettings, shape: tuple[int, ...]) -> bool:
    if settings.augment is Augment.AUTO:
        return shape[0] == 3 and shape[1] == shape[2] == 32
    return settings.augment is Augment.CROP_FLIP


def new_state(program: Program, seed: int, settings: TrainSettings) -> TrainState:
    params = init_params(program, generator(seed, Stream.TRAINING, 0), replicated=settings.replicated,
                         same_replicas=settings.replica_init is ReplicaInit.SAME)
    return TrainState(params=params, velocity={k: np.zeros_like(v) for k, v in params.items()
                                               if not k.endswith((".mean", ".var"))})


def _noisy(params: Params, noise: float, rng: np.random.Generator) -> Params:
    """Weights with relative Gaussian noise sigma = noise * max|W| per layer."""
    out = dict(params)
    for key, w in params.items():
        if key.endswith(".weight"):
            out[key] = (w + noise * np.abs(w).max() * rng.standard_normal(w.shape)).astype(w.dtype)
    return out


def train(program: Program, train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
          settings: TrainSettings, seed: int, state: TrainState | None = None,
          progress: Progress | None = None, checkpoint: Callable[[TrainState], None] | None = None,
          workers: Workers | None = None) -> TrainState:
    """Train for `settings.epochs` (continuing `state` when given), evaluating after every epoch
    (on `workers` when given: the same accuracy, see `evaluate`)."""
    state = state or new_state(program, seed, settings)
    n = len(train_x)
    steps_per_epoch = math.ceil(n / settings.batch_size)
    chip = None
    if settings.algorithm in IN_SITU and not settings.replicated and any(
            p.analog.replicas > 1 for p in program.analog_layers):
        from archsim.errors import SpecError
        raise SpecError([f"run.train.replicated must be true for run.train.algorithm "
                         f"{settings.algorithm.value}: every replica's array has its own devices"])
    scaled = settings.replica_gradient is ReplicaGradient.SCALED  # else each replica its own patches' sum
    if settings.algorithm in IN_SITU:  # a resumed run continues on the devices it left
        from archsim.nn.analog_train import InSituChip
        chip = (InSituChip.resume(program, seed, state.devices, scale_replicas=scaled) if state.devices is not None
                else InSituChip.program_all(program, state.params, settings.algorithm.value, seed,
                                            scale_replicas=scaled))
    net = Network(program, chip, transposed=chip.transposed) if chip else Network(program)
    total_steps = steps_per_epoch * settings.epochs
    augment = uses_augmentation(settings, train_x.shape[1:])
    chunk = images_per_chunk(program)
    shared, per_replica = param_shapes(program), param_shapes(program, replicated=True)
    replica_scale = {k: float(per_replica[k][0]) for k, v in state.params.items()  # weights with a replica axis
                     if scaled and k in shared and per_replica[k] != shared[k] and v.shape == per_replica[k]}
    for epoch in range(state.epoch, settings.epochs):
        order = generator(seed, Stream.DATA, epoch).permutation(n)
        noise_rng = generator(seed, Stream.TRAINING, 1, epoch)
        aug_rng = generator(seed, Stream.DATA, 1_000_000 + epoch)
        losses, correct, curvatures = [], 0, []
        for step in range(steps_per_epoch):
            idx = order[step * settings.batch_size:(step + 1) * settings.batch_size]
            x, y = train_x[idx], train_y[idx]
            if augment:
                x = augment_batch(x, aug_rng)
            used = _noisy(state.params, settings.weight_noise, noise_rng) if settings.weight_noise else state.params
            lr = 0.5 * settings.lr * (1 + math.cos(math.pi * (epoch * steps_per_epoch + step) / total_steps))
            if chip:
                chip.lr = lr / (1 - settings.momentum)  # no momentum on devices: momentum SGD's steady step
            try:
                grads, loss, hits = _gradients(net, used, x, y, epoch * n + idx, chunk, state,
                                               outer=chip.update if chip else None)
                if settings.algorithm is Algorithm.HA_SGD:
                    if step % settings.hessian.refresh_steps == 0:
                        sigmas = weight_noise_sigmas(program, state.params)
                    curvatures.append(_hessian_penalty(net, used, x, y, epoch * n + idx, chunk, grads, sigmas,
                                                       settings, generator(seed, Stream.TRAINING, 2, epoch, step)))
            except FloatingPointError as exc:
                from archsim.errors import ArchsimError
                raise ArchsimError(f"training diverged in epoch {epoch + 1}, step {step + 1} ({exc}); "
                                   f"lower run.train.lr (now {settings.lr})") from None
            for key, scale in replica_scale.items():  # each replica sees 1/n of the patches
                if key in grads:  # (in-situ training updates analog weights on the devices)
                    grads[key] = grads[key] * scale
            _sgd_step(state, grads, lr, settings)
            losses.append(loss)
            correct += hits
            if progress:
                progress({"epoch": epoch + 1, "epochs": settings.epochs, "step": step + 1,
                          "steps": steps_per_epoch, "loss": float(np.mean(losses[-50:]))})
        if chip:
            state.params = chip.read_params(state.params)
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "train_accuracy": correct / n,
                  "test_accuracy": evaluate(Network(program), state.params, test_x, test_y, workers=workers),
                  "lr_end": lr}
        if chip:  # the digital read-out above; the chip itself, its writes and, at the end, drift
            record["analog_test_accuracy"] = evaluate(net, state.params, test_x, test_y, workers=workers)
            record["writes"] = chip.writes()
            if epoch + 1 == settings.epochs:
                record["after_drift"] = drift_accuracy(program, chip, state.params, test_x[:DRIFT_IMAGES],
                                                       test_y[:DRIFT_IMAGES], seed)
        if chip:
            state.devices = chip.devices()
        if curvatures:
            record["noise_curvature"] = float(np.mean(curvatures))  # ~ sum_i s_i^2 H_ii
        state.history.append(record)
        state.epoch = epoch + 1
        if progress:
            progress({"epoch_done": record})
        if checkpoint:
            checkpoint(state)
    return state


def _gradients(net: Network, params: Params, x, y, ids, chunk: int, state: TrainState, outer=None):
    """Mean-loss gradients of one minibatch, computed in chunks of images and summed exactly
    (batch norm sees each chunk as its batch); returns (grads, loss, correct)."""
    grads: Params = {}
    loss, correct = 0.0, 0
    for lo in range(0, len(x), chunk):
        xs, ys = x[lo:lo + chunk], y[lo:lo + chunk]
        logits, tape = net.forward(params, xs, ids[lo:lo + chunk], train=True)
        part, dlogits = F.softmax_cross_entropy(logits, ys)
        if not np.isfinite(part):
            raise FloatingPointError(f"loss {part}")
        weight = len(xs) / len(x)
        for key, g in net.backward(params, tape, dlogits * weight, outer=outer).items():
            grads[key] = grads[key] + g if key in grads else g
        state.params.update(tape.running)
        loss += part * weight
        correct += int((logits.argmax(axis=1) == ys).sum())
    return grads, loss, correct


IN_SITU = (Algorithm.RPU, Algorithm.MIXED_PRECISION, Algorithm.HIC)
DRIFT_TIMES = (3600.0, 86400.0, 365.25 * 86400.0)  # 1 h, 1 day, 1 year after training
DRIFT_IMAGES = 2000  # test images per drift evaluation


def drift_accuracy(program: Program, chip, params: Params, images: np.ndarray, labels: np.ndarray,
                   seed: int) -> dict[str, float]:
    """Accuracy of the trained tiles (the spec's device, drift compensation) read at
    1 h, 1 day and 1 year after training, with the spec's periphery (one frozen read each)."""
    from archsim.nn.accuracy import time_label
    from archsim.nn.analog import ProgrammedChip
    trained = ProgrammedChip(program=program, tiles=chip.programmed_tiles(), seed=seed, repeat=0)
    return {time_label(t): evaluate(Network(program, trained.read(t, per_mvm=False)), params, images, labels)
            for t in DRIFT_TIMES}


def weight_noise_sigmas(program: Program, params: Params) -> Params:
    """Programming-noise std of every analog-mapped weight and bias (weight units), per the
    hardware spec's device and representation; each replica's kernel matrix on its own."""
    from archsim.devices.sensitivity import programming_sigma
    tiles = program.hardware.tiles
    out = {}
    for plan in program.analog_layers:
        kernels = kernel_matrices(plan, params)
        distinct = kernels[:1] if all(k is kernels[0] for k in kernels) else kernels  # shared weights: one
        out.update(params_from_kernels(plan, [programming_sigma(k, tiles) for k in distinct], params))
    return out


def _hessian_penalty(net: Network, params: Params, x, y, ids, chunk: int, grads: Params, sigmas: Params,
                     settings: TrainSettings, rng: np.random.Generator) -> float:
    """Add lambda * grad(1/2 u^T H u) to `grads` (in place); return the curvature u^T H u."""
    eps, strength = settings.hessian.epsilon, settings.hessian.strength
    u = {k: s * rng.choice(np.array([-1.0, 1.0], s.dtype), size=s.shape) for k, s in sigmas.items()}
    scratch = TrainState(params={}, velocity={})  # perturbed passes must not touch batch-norm statistics
    plus, _, _ = _gradients(net, {**params, **{k: params[k] + eps * v for k, v in u.items()}}, x, y, ids, chunk, scratch)
    minus, _, _ = _gradients(net, {**params, **{k: params[k] - eps * v for k, v in u.items()}}, x, y, ids, chunk,
                             scratch)
    curvature = sum(float((u[k] * (plus[k] - minus[k])).sum()) for k in u) / (2 * eps)
    for k in grads:
        grads[k] = grads[k] + strength * (plus[k] + minus[k] - 2 * grads[k]) / (2 * eps ** 2)
    return curvature


def _sgd_step(state: TrainState, grads: Params, lr: float, settings: TrainSettings) -> None:
    for key, g in grads.items():
        w = state.params[key]
        if key.endswith(".weight") and settings.weight_decay:
            g = g + settings.weight_decay * w
        v = state.velocity[key]
        v *= settings.momentum
        v += g
        w -= (lr * v).astype(w.dtype)
        if key.endswith(".weight") and settings.clip_sigma:
            bound = settings.clip_sigma * w.std()
            np.clip(w, -bound, bound, out=w)
