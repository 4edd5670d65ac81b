"""Run settings: everything about one run that is neither the chip nor the network."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from archsim.spec.schema import spec_field
from archsim.units import TIME


class Backend(str, enum.Enum):
    NUMBA = "numba"   # compiled kernels (default)
    NUMPY = "numpy"   # the kernels' slow numpy twins (archsim.kernels.reference): same numbers


class ReadNoise(str, enum.Enum):
    PER_MVM = "per_mvm"  # a new device read-noise draw for every MVM (exact, costs ~1.5x)
    FROZEN = "frozen"    # one read realisation per evaluation (aihwkit's drifted weights)


class Fidelity(str, enum.Enum):
    EXACT = "exact"            # one simulation event per MVM
    AGGREGATED = "aggregated"  # one event per run of MVMs


class Augment(str, enum.Enum):
    AUTO = "auto"            # random crop and flip for 32x32 colour images, none otherwise
    NONE = "none"
    CROP_FLIP = "crop_flip"  # pad 4, random 32x32 crop, random horizontal flip


class ReplicaInit(str, enum.Enum):
    SAME = "same"                # one initial kernel copied onto every array (trains ~as fast as shared)
    INDEPENDENT = "independent"  # each array its own random draw (the replicas must first agree)


class ReplicaGradient(str, enum.Enum):
    OWN = "own"        # each array's update sums its own patches only, as on the hardware (Rasch 2019)
    SCALED = "scaled"  # times the replica count: the replicas' mean follows the un-replicated gradient


class Algorithm(str, enum.Enum):
    SGD = "sgd"                          # digital minibatch SGD (the baseline)
    RPU = "rpu"                          # in-situ analog: stochastic pulsed updates (Gokmen & Vlasov 2016)
    MIXED_PRECISION = "mixed-precision"  # digital update accumulator, pulses on overflow (Nandakumar 2020)
    HIC = "hic"                          # binary + multi-level PCM, low-precision accumulator (Joshi 2021)
    HA_SGD = "ha-sgd"                    # Hessian-aware SGD for noisy deployment (after Wan et al. 2020)


@dataclass(frozen=True, kw_only=True)
class HessianAware:
    """HA-SGD: minimise L(w) + strength/2 sum_i s_i^2 H_ii, s the deployed weights' programming
    noise on the hardware spec's devices and representation (see archsim.nn.train)."""

    strength: float = spec_field(1.0, doc="weight of the curvature penalty (lambda)", ge=0)
    epsilon: float = spec_field(0.5, doc="finite-difference step, as a fraction of the noise s", gt=0, le=2)
    refresh_steps: int = spec_field(20, doc="recompute the noise s from the weights every N steps", ge=1)


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """Minibatch SGD with momentum (`archsim train`)."""

    algorithm: Algorithm = spec_field(Algorithm.SGD, doc="training algorithm: sgd, rpu, mixed-precision, hic "
                                                         "or ha-sgd")
    epochs: int = spec_field(10, doc="passes over the training set", ge=1)
    batch_size: int = spec_field(64, doc="images per minibatch", ge=1)
    lr: float = spec_field(0.01, doc="initial learning rate (cosine decay to 0)", gt=0)
    momentum: float = spec_field(0.9, doc="SGD momentum", ge=0, lt=1)
    weight_decay: float = spec_field(5e-4, doc="L2 penalty on conv/linear weights", ge=0)
    replicated: bool = spec_field(True, doc="RAPA: every replica of a layer has its own weights, "
                                            "trained only on the patches assigned to it")
    replica_init: ReplicaInit = spec_field(ReplicaInit.SAME, doc="initial weights of a layer's replicas: the "
                                           "same draw copied to every replica, or independent draws")
    replica_gradient: ReplicaGradient = spec_field(ReplicaGradient.SCALED, doc="a replica's gradient "
                                                   "(replicated: true; digital and in-situ): its own "
                                                   "patches' sum, or that times the replica count")
    weight_noise: float = spec_field(0.0, doc="hardware-aware training: relative Gaussian weight noise "
                                              "(sigma / max|W| per layer) injected in the forward pass", ge=0)
    clip_sigma: float = spec_field(0.0, doc="clip weights to +-clip_sigma standard deviations "
                                            "after each step (0: off)", ge=0)
    augment: Augment = spec_field(Augment.AUTO, doc="data augmentation")
    train_limit: int = spec_field(0, doc="use only the first N training images (0: all)", ge=0)
    hessian: HessianAware = spec_field(default_factory=HessianAware, doc="ha-sgd settings")


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """One seed drives every random draw of a run; the same seed gives the same numbers."""

    schema_version: Literal[1] = spec_field(1, doc="version of this spec format (1)")
    seed: int = spec_field(0, doc="the one seed of every random draw", ge=0)
    out: str = spec_field("", doc="output directory (empty: reports/<workload>-<hardware>)")
    backend: Backend = spec_field(Backend.NUMBA, doc="numeric kernels: numba or numpy")
    fidelity: Fidelity = spec_field(Fidelity.EXACT, doc="timing fidelity: exact or aggregated")
    images: int = spec_field(4, doc="images streamed through the timing simulation", ge=1)
    inference_times: tuple[float, ...] = spec_field((3600.0,), doc="times after programming at which "
                                                    "accuracy is evaluated", unit=TIME, ge=0)
    eval_images: int = spec_field(500, doc="test images for accuracy (0: the whole test set)", ge=0)
    read_noise: ReadNoise = spec_field(ReadNoise.PER_MVM, doc="device read noise drawn per MVM or frozen "
                                                              "per evaluation")
    programming_repeats: int = spec_field(2, doc="independent programmings of the chip the analog "
                                                 "accuracy is averaged over", ge=1)
    workers: int = spec_field(1, doc="processes for the accuracy evaluations (archsim run; archsim train's "
                                     "test after each epoch): 1 evaluates here; N > 1 "
                                     "shares the test images out over N processes with one thread each "
                                     "(the same numbers; starting them takes about a second: the README "
                                     "says after how many images two workers win it back)", ge=1)
    train: TrainSettings = spec_field(default_factory=TrainSettings, doc="training hyperparameters")
