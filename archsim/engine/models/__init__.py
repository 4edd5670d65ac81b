"""Chip components built on the engine core: tiles, digital units, buffers, interconnect,
the dataflow graph and the controller that streams images through them."""
