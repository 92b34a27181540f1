"""Scale Decoupled Distillation (Wei, Luo, Luo, CVPR 2024) as a plain PyTorch library.

Sub-packages: ``models`` (model zoo), ``decouple`` (multi-scale logits), ``losses`` (KD, DKD, NKD
and their scale decoupled forms), ``data`` (datasets and transforms), ``trainer`` (the training
loop, checkpoints, export). Nothing here knows about HTTP, queues or SQL.
"""

__version__ = "0.1.0"
