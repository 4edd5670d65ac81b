"""Network execution and training in numpy, following the compiled Program's mapping."""

from archsim.nn.network import Network, Params, init_params, param_shapes

__all__ = ["Network", "Params", "init_params", "param_shapes"]
