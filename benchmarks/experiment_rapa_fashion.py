"""RAPA on Fashion-MNIST: tiling strategies, seeds, analog (PCM) accuracy and analyses.

Trains the RAPA ConvNet for 28x28 (replicas 16/4/1) under every assignment strategy and
the un-replicated net (one replica per layer), over training seeds, with the same budget; then
for every trained net measures, on the test set:
- digital accuracy (random tiling: one draw, and a majority vote over 5 draws, and the
  replicas reduced to their mean kernel),
- analog accuracy on the `standard_aimc` chip (PCM: programming noise, drift, 1/f read
  noise, global drift compensation) at 1 s, 1 h, 1 day, 1 year, over programmings
  (the same code path as `archsim run`),
- FGSM accuracy against perturbation size (digital),
- filter similarity across replicas, against independently initialised replicas.

Each configuration's result is written as soon as it is done (DIR/<config>.json) and
skipped when present, so an interrupted experiment resumes. Results: DIR/results.csv.

    python benchmarks/experiment_rapa_fashion.py --train-limit 12000 --epochs 20 --seeds 0,1,2 \
        --out reports/rapa28-strategies

`--epochs 20,40,80` trains in stages, resuming at each: the cosine learning rate restarts at
20 and 40 epochs (warm restarts), as for the 80-epoch figures in the README.

Last line: name=value figures of the comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from archsim import api
from archsim.nn import Network, analysis
from archsim.nn.train import evaluate
from archsim.rng import Stream, generator
from archsim.spec.run import ReplicaGradient

WORKLOAD = "rapa_convnet_28"
EPSILONS = (0.0, 0.02, 0.05, 0.1)
TIMES = "[1s, 3600s, 86400s, 31557600s]"  # 1 s, 1 h, 1 day, 1 year


def configs(seeds: list[int]) -> list[dict]:
    out = [{"name": f"none-s{s}", "strategy": "none", "replicas": "[1, 1, 1, 1]", "seed": s} for s in seeds]
    out += [{"name": f"random-s{s}", "strategy": "random", "seed": s} for s in seeds]
    out += [{"name": f"{k}-s{seeds[0]}", "strategy": k, "seed": seeds[0]} for k in ("image", "alternate", "perforated")]
    out.append({"name": f"random-independent-s{seeds[0]}", "strategy": "random", "seed": seeds[0],
                "replica_init": "independent"})
    return out


def spec_sets(cfg: dict) -> list[str]:
    sets = [f"workload.mapping.strategy={cfg['strategy']}", f"seed={cfg['seed']}"]
    if "replicas" in cfg:
        sets.append(f"workload.mapping.replicas={cfg['replicas']}")
    if "replica_init" in cfg:
        sets.append(f"run.train.replica_init={cfg['replica_init']}")
    return sets


def run_config(cfg: dict, args, directory: Path) -> dict:
    train_sets = spec_sets(cfg) + [f"run.train.lr={args.lr}", f"run.train.train_limit={args.train_limit}",
                                   f"run.train.replica_gradient={args.replica_gradient}",
                                   f"run.train.weight_noise={args.weight_noise}"]
    t0 = time.perf_counter()
    train_dir = directory / cfg["name"] / "train"
    for epochs in args.epochs:  # each stage resumes the last (a checkpoint after every epoch)
        done = train_dir / "summary.json"
        if done.exists() and json.loads(done.read_text())["epochs"] >= epochs:
            continue  # trained before an interruption: keep it
        train_dir, _ = api.train(WORKLOAD, "rpu", sets=train_sets + [f"run.train.epochs={epochs}"],
                                 out=train_dir, resume=True)
    summary = json.loads((train_dir / "summary.json").read_text())
    weights = (train_dir / "weights.npz").resolve()
    row = {**{k: v for k, v in cfg.items() if k != "name"}, "config": cfg["name"],
           "train_seconds": round(time.perf_counter() - t0, 1), "digital": summary["test_accuracy"]}

    # analog accuracy on the PCM chip, through `archsim run`'s own path
    run_sets = spec_sets(cfg) + [f"workload.weights={weights}", f"run.eval_images={args.eval_images}",
                                 f"run.inference_times={TIMES}", f"run.programming_repeats={args.repeats}"]
    _, run_summary = api.run(WORKLOAD, "standard_aimc", sets=run_sets, out=directory / cfg["name"] / "pcm")
    acc = run_summary["accuracy"]
    row["digital_eval"] = acc["digital"]
    for label, point in acc["analog"].items():  # labels '1s', '1h', '1d', '1y'
        row[f"analog_{label}"] = point["mean"]
        row[f"analog_{label}_sd"] = point["std"]
    row["pcm_loss_1h"] = row["digital_eval"] - row["analog_1h"]

    # digital analyses on the test set
    specs = api.load_specs(WORKLOAD, "rpu", sets=run_sets)
    program = api.compile_specs(specs)
    params = api.load_params(specs, program)
    test = api.load_data(specs, "test", args.eval_images)
    net = Network(program)
    if cfg["strategy"] == "random":
        row["vote5"] = analysis.majority_vote(net, params, test.images, test.labels, draws=5).accuracy
    if any(p.analog.replicas > 1 for p in program.analog_layers):  # (perforation: one kernel matrix)
        mean = analysis.mean_kernel(params, program)
        row["mean_kernel"] = evaluate(net, mean, test.images, test.labels)
        for layer, value in analysis.filter_similarities(params, program).items():
            row[f"similarity_{layer}"] = value
            row[f"similarity_{layer}_independent_init"] = analysis.baseline_filter_similarity(
                program, layer, generator(cfg["seed"], Stream.TRAINING, 99), draws=3)
    n = min(args.eval_images, 1000)
    fgsm = analysis.fgsm_accuracy(net, params, test.images[:n], test.labels[:n], EPSILONS)
    for eps, value in zip(EPSILONS, fgsm):
        row[f"fgsm_{eps}"] = float(value)
    return row


def _stages(text: str) -> list[int]:
    stages = [int(v) for v in text.split(",")]
    if stages[0] < 1 or any(b <= a for a, b in zip(stages, stages[1:])):
        raise argparse.ArgumentTypeError(f"epochs must be increasing positive integers, not {text}")
    return stages


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="reports/rapa28-strategies")
    p.add_argument("--train-limit", type=int, default=12000)
    p.add_argument("--epochs", type=_stages, default=[20],
                   help="epochs, or increasing stages such as 20,40,80 (the cosine restarts at each)")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--replica-gradient", default="own", choices=[g.value for g in ReplicaGradient],
                   help="each replica trained on its own patches (own, as in the paper) or scaled")
    p.add_argument("--weight-noise", type=float, default=0.0,
                   help="hardware-aware training: relative weight noise (Joshi 2020: 0.038)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--eval-images", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3, help="programmings of the PCM chip")
    p.add_argument("--only", default="", help="comma-separated config names")
    args = p.parse_args(argv)
    directory = Path(args.out)
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for cfg in configs([int(s) for s in args.seeds.split(",")]):
        if args.only and cfg["name"] not in args.only.split(","):
            continue
        path = directory / f"{cfg['name']}.json"
        if path.exists():
            rows.append(json.loads(path.read_text()))
            continue
        print(f"[{cfg['name']}] training and evaluating", file=sys.stderr, flush=True)
        row = run_config(cfg, args, directory)
        path.write_text(json.dumps(row, indent=2) + "\n")
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    from archsim.report import write_table
    write_table(directory / "results.csv", rows)
    summary = {}
    for kind in ("none", "random", "image", "alternate", "perforated"):
        sel = [r for r in rows if r["strategy"] == kind and "replica_init" not in r
               and (kind != "none") == ("replicas" not in r)]
        if sel:
            summary[f"{kind}_digital"] = float(np.mean([r["digital"] for r in sel]))
            summary[f"{kind}_digital_sd"] = float(np.std([r["digital"] for r in sel]))
            summary[f"{kind}_pcm_loss_1h"] = float(np.mean([r["pcm_loss_1h"] for r in sel]))
    print(" ".join(f"{k}={v:.4f}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
