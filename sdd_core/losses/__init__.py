"""Distillation losses: one pure function each, tensors and plain numbers in, tensor out.

Global forms take (B, K) logits and average over the batch; ``scale_decoupled_loss`` takes the
(B, K, N) multi-scale logits of ``sdd_core.decouple.multiscale_logits``.
"""

from sdd_core.losses.dkd import dkd_loss, dkd_rows
from sdd_core.losses.kd import kd_loss, kd_rows
from sdd_core.losses.nkd import NKD_MODES, nkd_loss, nkd_rows
from sdd_core.losses.scale_decoupled import (
    BASE_LOSSES,
    base_loss_rows,
    complementary_mask,
    scale_decoupled_loss,
)

__all__ = [
    "BASE_LOSSES",
    "NKD_MODES",
    "base_loss_rows",
    "complementary_mask",
    "dkd_loss",
    "dkd_rows",
    "kd_loss",
    "kd_rows",
    "nkd_loss",
    "nkd_rows",
    "scale_decoupled_loss",
]
