"""The `archsim` command: parse arguments, call the API, map errors to exit codes.

Exit codes: 0 success, 2 bad input (specs, mapping, data: the message says what and
where), 1 an internal error (a bug: `--debug` shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback

from archsim import __version__
from archsim.errors import ArchsimError

log = logging.getLogger("archsim")


def _add_spec_args(p: argparse.ArgumentParser, workload_required: bool, many_chips: bool = False) -> None:
    if workload_required:
        p.add_argument("workload", help="workload YAML file or built-in name (see `archsim list`)")
    else:
        p.add_argument("workload", nargs="?", default=None,
                       help="workload YAML file or built-in name (default: rapa_convnet_32)")
    p.add_argument("--hardware", "-H", default=None, metavar="SPEC", nargs="+" if many_chips else None,
                   help="hardware YAML file(s) or built-in name(s) (default: rpu)" if many_chips
                   else "hardware YAML file or built-in name (default: rpu)")
    p.add_argument("--settings", default=None, metavar="FILE", help="run settings YAML (seed, out, ...)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE",
                   help="override a spec value: 'seed=3', 'run.images=8', 'hardware.tiles.adc.bits=8', "
                        "'workload.mapping.strategy=image' (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archsim", description="Cycle-level simulator for analog in-memory-computing accelerators.")
    parser.add_argument("--version", action="version", version=f"archsim {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="simulate a workload on a chip and write the results")
    _add_spec_args(p, workload_required=False)
    p.add_argument("--out", "-o", default=None, metavar="DIR",
                   help="output directory (default: reports/<workload>-<hardware>)")

    p = sub.add_parser("plan", help="show how a workload maps onto a chip, before any simulation")
    _add_spec_args(p, workload_required=True)
    p.add_argument("--json", action="store_true", help="print the plan as JSON")

    p = sub.add_parser("train", help="train a workload's network on its dataset (digital, numpy)")
    _add_spec_args(p, workload_required=True)
    p.add_argument("--algorithm", default=None,  # checked with the run settings (run.train.algorithm)
                   help="digital sgd; in-situ analog rpu (pulsed updates), mixed-precision or hic on the "
                        "hardware's tiles; ha-sgd (Hessian-aware, for noisy deployment) (train.algorithm)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (run setting train.epochs)")
    p.add_argument("--lr", type=float, default=None, help="initial learning rate (train.lr)")
    p.add_argument("--batch-size", type=int, default=None, help="minibatch size (train.batch_size)")
    p.add_argument("--out", "-o", default=None, metavar="DIR",
                   help="output directory (default: reports/<workload>-<hardware>-train)")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.npz")

    p = sub.add_parser("sweep", help="run a workload at every combination of replica counts and spec values",
                       description="Run the workload at every combination of the --replicas values and of "
                                   "the values of each --set PATH=V1,V2,... (a single value is a constant); "
                                   "each point is an `archsim run`.")
    _add_spec_args(p, workload_required=True)
    p.add_argument("--replicas", action="append", default=[], metavar="N,N,...|LAYER=N,N,...|auto",
                   help="replicas of every analog conv layer (1,2,4,...), per layer (conv1=1,4,16; repeat the "
                        "option for each layer; others get 1), or auto (balanced under each --budgets value)")
    p.add_argument("--budgets", default=None, metavar="T,T,...", help="tile budgets for --replicas auto")
    p.add_argument("--out", "-o", default=None, metavar="DIR",
                   help="output directory (default: reports/<workload>-<hardware>-sweep)")
    _add_executor_args(p)

    p = sub.add_parser("compare", help="compare patch-assignment strategies (and chips) on one workload")
    _add_spec_args(p, workload_required=True, many_chips=True)
    p.add_argument("--strategies", default=None, metavar="S,S,...",
                   help="strategies to compare (default: all; none = one replica per layer)")
    p.add_argument("--out", "-o", default=None, metavar="DIR",
                   help="output directory (default: reports/<workload>-compare)")
    _add_executor_args(p)

    p = sub.add_parser("report", help="rebuild index.html and plots of a finished run, sweep or comparison")
    p.add_argument("directory", metavar="DIR")

    p = sub.add_parser("validate", help="check spec files; exit 0 if all are valid, 2 otherwise")
    p.add_argument("files", nargs="+", metavar="FILE")

    sub.add_parser("list", help="list the built-in hardware specs and workloads")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _add_executor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=("serial", "pool", "dask"), default="pool",
                   help="where the points run: this process, a local process pool (default) or dask")
    p.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="worker processes (default: the number of CPUs)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on the dask cluster at ADDRESS (e.g. tcp://10.0.0.1:8786; implies --executor dask)")
    p.add_argument("--resume", action="store_true", help="keep the points DIR/points already holds")
    p.add_argument("--no-accuracy", dest="accuracy", action="store_false",
                   help="timing only, even when the workload has weights (much faster)")


def _sweep_summary(info: dict) -> None:
    print("\n".join(info["findings"]))
    skipped = f", {info['skipped']} kept from before (--resume)" if info.get("skipped") else ""
    print(f"\n{info['points']} points: {info['ok']} ok, {info['failed']} failed{skipped}")
    print(f"results written to {info['directory']}/ (results.csv, results.parquet, points/, index.html)")


def _cmd_sweep(args) -> int:
    from archsim import api
    info = api.sweep(args.workload, args.hardware, args.settings, args.sets, args.replicas, args.budgets, args.out,
                     executor=args.executor, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                     accuracy=args.accuracy)
    _sweep_summary(info)
    return 0


def _cmd_compare(args) -> int:
    from archsim import api
    strategies = api.STRATEGIES if args.strategies is None else args.strategies  # "" is an error, not "all"
    info = api.compare(args.workload, args.hardware, args.settings, args.sets, strategies, args.out,
                       executor=args.executor, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                       accuracy=args.accuracy)
    _sweep_summary(info)
    return 0


def _cmd_report(args) -> int:
    from archsim import api
    info = api.report(args.directory)
    print("\n".join(info["findings"]))
    print(f"report written to {info['index']}")
    return 0


def _cmd_run(args) -> int:
    from archsim import api
    directory, summary = api.run(args.workload, args.hardware, args.settings, args.sets, args.out,
                                 progress=lambda line: print(line, file=sys.stderr, flush=True),
                                 tick=_Bar("accuracy", "evaluation"))
    from archsim.report import run_text
    print(run_text(summary))
    print(f"\nresults written to {directory}/ (summary.json, layers.csv, components.csv, trace.json, index.html)")
    return 0


def _cmd_plan(args) -> int:
    from archsim import api
    summary = api.plan(args.workload, args.hardware, args.settings, args.sets)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        from archsim.report import plan_text
        print(plan_text(summary))
    return 0


class _Bar:
    """A tqdm bar for `tick(done, total)` on a terminal; silent otherwise."""

    def __init__(self, desc: str, unit: str, stream=sys.stderr):
        self.desc, self.unit, self.stream, self.bar = desc, unit, stream, None

    def __call__(self, done: int, total: int) -> None:
        if not self.stream.isatty():
            return
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=self.desc, unit=self.unit, file=self.stream, leave=False)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.bar.close()


class Progress:
    """One updating line on a terminal; only finished epochs otherwise (logs stay readable)."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()

    def __call__(self, event: dict) -> None:
        if "epoch_done" in event:
            r = event["epoch_done"]
            end = "\r\033[K" if self.tty else ""
            extra = ""
            if "analog_test_accuracy" in r:
                w = r["writes"]
                extra = (f", on the chip {r['analog_test_accuracy']:.2%}; {w['pulses']:,} pulses, most writes "
                         f"on one device {w['max']:,.0f} ({w['max_fraction']:.2e} of endurance)")
            if "after_drift" in r:
                extra += "; after drift " + ", ".join(f"{k} {v:.2%}" for k, v in r["after_drift"].items())
            print(f"{end}epoch {r['epoch']}: train loss {r['train_loss']:.4f}, train accuracy "
                  f"{r['train_accuracy']:.2%}, test accuracy {r['test_accuracy']:.2%}{extra}",
                  file=self.stream, flush=True)
        elif self.tty:
            print(f"\repoch {event['epoch']}/{event['epochs']}  step {event['step']}/{event['steps']}  "
                  f"loss {event['loss']:.4f}", end="", file=self.stream, flush=True)


def _cmd_train(args) -> int:
    from archsim import api
    sets = list(args.sets)
    for flag, key in (("algorithm", "train.algorithm"), ("epochs", "train.epochs"), ("lr", "train.lr"),
                      ("batch_size", "train.batch_size")):
        if getattr(args, flag) is not None:
            sets.append(f"run.{key}={getattr(args, flag)}")
    directory, summary = api.train(args.workload, args.hardware, args.settings, sets, args.out,
                                   resume=args.resume, progress=Progress())
    print(f"{summary['workload']}: test accuracy {summary['test_accuracy']:.2%} after {summary['epochs']} epochs "
          f"({summary['test_images']} test images)")
    t = summary.get("timing")
    if t:
        acc = t["acceleration"]
        print(f"training step on {summary['hardware']}: {t['latency_s'] * 1e6:.1f} us per image, "
              f"{t['throughput_images_per_s']:,.0f} images/s; acceleration against one replica per layer "
              f"{acc['pipelined']:.2f} pipelined, {acc['sequential']:.2f} sequential "
              f"(closed form {acc['closed_form']['pipelined']:.2f})")
    print(f"weights written to {directory}/weights.npz")
    return 0


def _cmd_validate(args) -> int:
    from archsim.errors import SpecError
    from archsim.spec import load_file
    failed = False
    for name in args.files:
        try:
            kind, spec = load_file(name)
        except SpecError as exc:
            failed = True
            print("\n".join(exc.problems), file=sys.stderr)
        else:
            print(f"{name}: valid {kind} spec '{getattr(spec, 'name', 'run settings')}'")
    return 2 if failed else 0


def _cmd_list(args) -> int:
    from archsim.spec import load_hardware, load_workload, presets
    print("hardware specs:")
    for name in presets("hardware"):
        hw = load_hardware(name)
        print(f"  {name:16s} {hw.tiles.count} tiles of {hw.tiles.rows}x{hw.tiles.cols}, "
              f"{hw.tiles.device.kind} devices")
    print("workloads:")
    for name in presets("workload"):
        w = load_workload(name)
        print(f"  {name:16s} input {'x'.join(map(str, w.input.shape))}, {len(w.layers)} layers")
    return 0


COMMANDS = {"run": _cmd_run, "plan": _cmd_plan, "train": _cmd_train, "sweep": _cmd_sweep, "compare": _cmd_compare,
            "report": _cmd_report, "validate": _cmd_validate, "list": _cmd_list}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    command = args.command or "run"
    if args.command is None:  # bare `archsim` runs the built-in default
        args = parser.parse_args(["run"])
        args.debug = parser.parse_args(argv).debug
    try:
        return COMMANDS[command](args)
    except ArchsimError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"archsim {command}: error:\n{exc}" if "\n" in str(exc) else f"archsim {command}: error: {exc}",
              file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"archsim {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so plainly, traceback only on request
        if args.debug:
            traceback.print_exc()
        print(f"archsim {command}: internal error: {type(exc).__name__}: {exc}\n"
              f"(run with --debug for the traceback; please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
