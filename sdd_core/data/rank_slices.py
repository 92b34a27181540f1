"""Which part of a global batch each rank of a job loads (``torch.distributed``, one node).

A job trained by N ranks keeps the single process's global batches; rank ``r`` trains the ``r``-th
of N contiguous slices of each, the first ``B % N`` one image longer, as ``torch.tensor_split``
splits a batch. Both data paths build only that slice, so ranks read disjoint images.
"""

from __future__ import annotations

SINGLE = (0, 1)
"""(rank, ranks) of a job trained by one process: the whole batch."""


def rank_slice(positions: range, rank: int, ranks: int) -> range:
    """Rank ``rank``'s part of ``positions`` split into ``ranks`` contiguous parts."""
    size, longer = divmod(len(positions), ranks)
    start = rank * size + min(rank, longer)
    return positions[start : start + size + (1 if rank < longer else 0)]
