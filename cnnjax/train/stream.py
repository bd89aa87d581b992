"""The streaming input pipeline (dataset.pipeline=stream): batches read by grain from the
host, for data that does not fit on the device (or in memory).

The in-memory pipeline puts a split on the device once and each step gathers its batch there.
Streaming reads the same batches on the host instead, from a random-access source: the rows of
a split, which are either a NumPy array or images still in their files
(cnnjax.data.lazy_images, decoded when read). It visits the examples in exactly the order of
the in-memory pipeline (the epoch's permutation from (seed, epoch), each replica its own), so
both pipelines train the same numbers; augmentation and normalisation stay on the device.

- grain (`MapDataset` over the epoch's batches, `to_iter_dataset` with `ReadOptions`) reads
  the batches in `dataset.stream_threads` threads, `dataset.stream_prefetch` batches ahead (a
  batch of an array in one gather; of a folder, its files decoded one by one in its thread),
  and they are put on the devices one batch ahead of the step.
- Each JAX process reads only its own shard of every global batch: of the B examples of a step,
  process p of P reads positions [p B/P, (p+1) B/P), the examples its devices compute on, and
  the global batch is assembled with `jax.make_array_from_process_local_data`.
- The position is grain's iterator state ({'next_index': the steps taken in the epoch}),
  saved in a mid-epoch checkpoint and restored on resume.
- Evaluation streams the split in padded batches with a mask, as `pipeline.padded_batches`.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Iterator

import jax
import numpy as np


def local_order(perm: np.ndarray, steps: int, batch_size: int, process: int, processes: int):
    """The examples process `process` of `processes` reads in an epoch, in reading order:
    for each step, for each replica, its b = batch_size / processes positions of the step's
    global batch. perm: (N,) or (K, N) the epoch's order. Returns (steps * K * b,) indices."""
    rows = perm.reshape(-1, perm.shape[-1])[:, : steps * batch_size]
    b = batch_size // processes
    mine = rows.reshape(len(rows), steps, processes, b)[:, :, process]  # (K, steps, b)
    return mine.transpose(1, 0, 2).reshape(-1)


class _BatchSource:
    """grain's random-access source: element i is the i-th batch (images, labels, mask) of
    `per_batch` rows order[i * per_batch : (i + 1) * per_batch] of a split, read in one gather
    from an array, or decoded file by file from LazyImages; rows at or past `num_real` are
    padding (zeros, mask 0)."""

    def __init__(self, images, labels, order: np.ndarray, per_batch: int, num_real=None):
        self.images, self.labels, self.per_batch = images, labels, per_batch
        self.order = order.reshape(-1, per_batch)
        self.num_real = len(labels) if num_real is None else num_real

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int):
        rows = self.order[i]
        real = rows < self.num_real
        if real.all():
            return self._read(rows), self.labels[rows], np.ones(len(rows), np.float32)
        images = np.zeros((len(rows),) + tuple(self.images.shape[1:]), np.uint8)
        labels = np.zeros((len(rows),) + self.labels.shape[1:], np.int32)
        images[real], labels[real] = self._read(rows[real]), self.labels[rows[real]]
        return images, labels, real.astype(np.float32)

    def _read(self, rows: np.ndarray) -> np.ndarray:
        if isinstance(self.images, np.ndarray):
            return self.images[rows]
        return np.stack([self.images[int(r)] for r in rows])  # each file decoded here


@dataclasses.dataclass(frozen=True)
class Stream:
    """How a run streams one split: its rows (images (N, H, W, C) uint8 or LazyImages, labels),
    grain's threads and prefetch, the process's shard, and the batches' device sharding."""

    images: Any
    labels: np.ndarray
    threads: int
    prefetch: int  # batches read ahead
    sharding: jax.sharding.Sharding | None  # of a global batch (None: one device)
    process: int = 0
    processes: int = 1

    def __len__(self) -> int:
        return len(self.labels)

    def _read(self, order: np.ndarray, per_batch: int, num_real=None, state=None):
        import grain  # the streaming pipeline's own dependency, imported when it is used

        source = _BatchSource(self.images, self.labels, order, per_batch, num_real)
        options = grain.ReadOptions(self.threads, max(self.prefetch, self.threads))
        iterator = iter(grain.MapDataset.source(source).to_iter_dataset(options))
        if state is not None:
            iterator.set_state(state)
        return iterator

    def _global(self, local: np.ndarray, batch_axis: int, global_batch: int) -> jax.Array:
        if self.sharding is None:
            return jax.device_put(local)
        shape = list(local.shape)
        shape[batch_axis] = global_batch
        return jax.make_array_from_process_local_data(self.sharding, local, tuple(shape))

    def epoch(self, perm: np.ndarray, steps: int, batch_size: int, state=None) -> "Batches":
        """An epoch's training batches (x, y) on the devices, (B, ...) or with K replicas
        (K, B, ...), from the epoch's order perm (N,) or (K, N); `state` resumes mid-epoch."""
        k = 1 if perm.ndim == 1 else perm.shape[0]
        b = batch_size // self.processes
        order = local_order(perm, steps, batch_size, self.process, self.processes)
        iterator = self._read(order, k * b, state=state)

        def batches():
            for x, y, _ in iterator:
                if k > 1:
                    x, y = x.reshape((k, b) + x.shape[1:]), y.reshape((k, b) + y.shape[1:])
                axis = int(k > 1)
                yield iterator.get_state(), (
                    self._global(x, axis, batch_size),
                    self._global(y, axis, batch_size),
                )

        return Batches(batches(), state or {"next_index": 0})

    def evaluation(self, batch_size: int) -> Iterator[tuple[jax.Array, jax.Array, jax.Array]]:
        """The split in padded evaluation batches (x, y, mask) on the devices; the mask is 0
        for the padding of the last batch (pipeline.padded_batches' layout)."""
        n = len(self)
        num_batches = -(-n // batch_size)
        positions = np.arange(num_batches * batch_size)  # rows >= n are padding
        order = local_order(positions, num_batches, batch_size, self.process, self.processes)
        for x, y, m in self._read(order, batch_size // self.processes, num_real=n):
            yield tuple(self._global(a, 0, batch_size) for a in (x, y, m))


class Batches:
    """An epoch's device batches, one put ahead of the step; `position` is grain's state after
    the batches taken so far (what a mid-epoch checkpoint saves)."""

    def __init__(self, source: Iterator, start: dict):
        self._source, self.position = source, start
        self._ahead: collections.deque = collections.deque()

    def __iter__(self):
        return self

    def __next__(self):
        while len(self._ahead) < 2:
            try:
                self._ahead.append(next(self._source))
            except StopIteration:
                break
        if not self._ahead:
            raise StopIteration
        self.position, batch = self._ahead.popleft()
        return batch
