"""The formats a distilled student is downloaded in, torch-free: what the REST API names and serves.
Writing them: ``export`` (safetensors) and ``export_formats`` (the others)."""

STUDENT_SUFFIXES = {"safetensors": ".safetensors", "onnx": ".onnx", "torchscript": ".pt"}
"""Every format a student is downloaded in, with its file's suffix."""
