"""Finished runs and sweeps to build reports from (made once per test session)."""

import pytest

from archsim import api


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """A run with accuracy at two times after programming (rapa_convnet_28 ships weights)."""
    out = tmp_path_factory.mktemp("run")
    api.run("rapa_convnet_28", "rpu", None, ["run.images=2", "run.eval_images=30", "run.programming_repeats=2",
                                              "run.inference_times=[1s, 1d]"], out=out)
    return out


@pytest.fixture(scope="session")
def sweep_dir(tmp_path_factory):
    """A timing sweep on the RPU chip that leaves the ideal line, and a point that does not fit."""
    out = tmp_path_factory.mktemp("sweep")
    api.sweep("rapa_convnet_32", "rpu", sets=["run.images=16"], replicas=["1,4,16,64,128"], out=out,
              executor="serial", accuracy=False, progress=False)
    return out


@pytest.fixture(scope="session")
def accuracy_sweep_dir(tmp_path_factory):
    """A sweep with accuracy: rapa_convnet_28 (shipped weights) at two ADC resolutions."""
    out = tmp_path_factory.mktemp("accuracy_sweep")
    api.sweep("rapa_convnet_28", "rpu", sets=["run.images=2", "run.eval_images=30", "run.programming_repeats=2",
                                              "run.inference_times=[1s, 1d]", "hardware.tiles.adc.bits=4,9"],
              out=out, executor="serial", progress=False)
    return out
