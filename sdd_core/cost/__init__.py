"""What a trained student costs to run: parameters, FLOPs per image and latency measured where it
trained (``student_cost.py``; the timing protocol: ``latency.py``)."""

from sdd_core.cost.latency import BATCHES, CPU_THREADS, LatencyMeasurement
from sdd_core.cost.student_cost import StudentCost, student_cost

__all__ = ["BATCHES", "CPU_THREADS", "LatencyMeasurement", "StudentCost", "student_cost"]
