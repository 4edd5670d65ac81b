"""The numba configuration of archsim.kernels._numba that tests elsewhere do not see."""

import json
import os
import subprocess
import sys

_PROBE = """
import json, os, numba
from archsim.kernels import standard_normal
standard_normal(0, 0, 20000)  # a parallel kernel: launches the threading layer
print(json.dumps([os.environ.get('NUMBA_CPU_FEATURES', 'unset'), numba.config.CPU_FEATURES,
                  numba.threading_layer()]))
"""


def _after_import(**env):
    """(NUMBA_CPU_FEATURES, numba's CPU features, threading layer) in a fresh process."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("NUMBA_CPU_FEATURES", "NUMBA_CPU_NAME", "ARCHSIM_NUMBA_CPU_FEATURES")}
    out = subprocess.run([sys.executable, "-c", _PROBE], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_512_bit_vectors_on_avx512_hosts_unless_the_user_chose_features():
    from numba.core.codegen import get_host_cpu_features
    host = get_host_cpu_features()
    avx512 = "+avx512f" in host.split(",")
    ours = host + ",-prefer-256-bit"
    env, features, layer = _after_import()
    assert layer == "workqueue"  # (a reload of numba's configuration once reset it to OpenMP)
    assert (env, features) == ((ours, ours) if avx512 else ("unset", None))
    assert _after_import(NUMBA_CPU_NAME="generic")[0] == "unset"
    assert _after_import(NUMBA_CPU_FEATURES=host)[:2] == [host, host]  # the user's choice stands
    # a value a parent set for its own host is recomputed for this one
    parents = "+sse2,+avx512f,-prefer-256-bit"
    env, features, layer = _after_import(NUMBA_CPU_FEATURES=parents, ARCHSIM_NUMBA_CPU_FEATURES=parents)
    assert (env, features, layer) == ((ours, ours, "workqueue") if avx512 else ("unset", None, "workqueue"))
