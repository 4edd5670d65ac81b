"""Datasets and trained weights, read from local files (archsim never downloads).

- `load_dataset(name, split, path=..., base_dir=..., limit=...)` -> `Dataset`: images
  float32 (N, C, H, W) in [0, 1], labels int64; see `archsim.data.datasets` for the
  search order and the file layouts accepted.
- `save_weights(path, params, meta)` / `load_weights(path, expected)`: '<layer>.<param>'
  arrays and JSON metadata in one .npz file; see `archsim.data.weights`.
- `archsim.data.formats`: the IDX, CIFAR python-batch and .npz readers.

Every problem a user can cause or fix (missing, truncated or malformed files) raises
`archsim.errors.DataError` with a message that says what is wrong, where archsim looked
and how to get the data.
"""

from archsim.data.datasets import (DATASETS, SPLITS, Dataset, DatasetInfo, dataset_info, load_dataset,
                                   search_places, user_cache_dir)
from archsim.data.weights import load_weights, save_weights

__all__ = ["Dataset", "DatasetInfo", "DATASETS", "SPLITS", "dataset_info", "load_dataset", "search_places",
           "user_cache_dir", "save_weights", "load_weights"]
