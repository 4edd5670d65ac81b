"""The numba configuration of archsim.kernels._numba that tests elsewhere do not see."""

import os
import subprocess
import sys


def _features_after_import(**env):
    clean = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_FEATURES", "NUMBA_CPU_NAME")}
    out = subprocess.run([sys.executable, "-c", "import os, archsim.kernels; "
                          "print(os.environ.get('NUMBA_CPU_FEATURES', 'unset'))"],
                         env={**clean, **env}, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_512_bit_vectors_on_avx512_hosts_unless_the_user_chose_features():
    from numba.core.codegen import get_host_cpu_features
    host = get_host_cpu_features()
    if "+avx512f" in host.split(","):
        assert _features_after_import() == host + ",-prefer-256-bit"
    else:
        assert _features_after_import() == "unset"
    assert _features_after_import(NUMBA_CPU_NAME="generic") == "unset"
    assert _features_after_import(NUMBA_CPU_FEATURES="+sse2") == "+sse2"
