"""ONNX and TorchScript exports of a student, checked against PyTorch at export and after."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import onnxruntime
import pytest
import torch
from torch import nn

from sdd_core.models import create_model
from sdd_core.spec import JobSpec
from sdd_core.trainer import TrainOptions, train
from sdd_core.trainer.export import sha256_file
from sdd_core.trainer.export_formats import EXPORT_TOLERANCE, ONNX_OPSET, export_student


@pytest.fixture(scope="module")
def student() -> nn.Module:
    torch.manual_seed(0)
    model = create_model("resnet8", 10)
    model.train()
    with torch.no_grad():  # running statistics away from their defaults, so eval mode matters
        for _ in range(3):
            model(torch.randn(16, 3, 32, 32) * 2 + 0.5)
    return model


@pytest.fixture(scope="module")
def exported(student: nn.Module, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("exports")
    return out, export_student(student, torch.randn(5, 3, 32, 32), out)


def test_onnx_matches_pytorch_at_any_batch_size(student: nn.Module, exported) -> None:
    out, exports = exported
    kept = exports.kept["onnx"]
    assert exports.refused == {}
    assert kept.path == out / "student.onnx" and kept.sha256 == sha256_file(kept.path)
    assert kept.max_abs_diff <= EXPORT_TOLERANCE
    assert onnx.load(str(kept.path)).opset_import[0].version == ONNX_OPSET
    session = onnxruntime.InferenceSession(str(kept.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    student.eval()
    for batch in (1, 3):
        x = torch.randn(batch, 3, 32, 32)
        (logits,) = session.run(None, {"images": x.numpy()})
        assert logits.shape == (batch, 10)
        with torch.no_grad():
            assert torch.allclose(torch.from_numpy(logits), student(x), atol=EXPORT_TOLERANCE)
    entry = exports.card()["onnx"]
    assert entry["opset"] == ONNX_OPSET and entry["sha256"] == kept.sha256 and entry["input"] == "images"


def test_torchscript_loads_and_matches_pytorch(student: nn.Module, exported) -> None:
    out, exports = exported
    kept = exports.kept["torchscript"]
    assert kept.path == out / "student.pt" and kept.sha256 == sha256_file(kept.path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(kept.path))
    student.eval()
    for batch in (1, 3):
        x = torch.randn(batch, 3, 32, 32)
        with torch.no_grad():
            assert torch.allclose(loaded(x), student(x), atol=EXPORT_TOLERANCE)
    assert set(exports.card()["torchscript"]) >= {"sha256", "max_abs_diff"}


def test_the_student_itself_is_left_in_training_mode(tmp_path: Path) -> None:
    model = create_model("resnet8", 10).train()
    exports = export_student(model, torch.randn(2, 3, 32, 32), tmp_path, formats=("torchscript",))
    assert model.training and set(exports.kept) == {"torchscript"}


class _Noisy(nn.Module):
    """Logits with fresh noise at every call: no export can match them."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.mean(dim=(2, 3))) + torch.rand(x.shape[0], 4)  # (B, 3, H, W) -> (B, 4)


def test_an_export_that_differs_is_refused_and_deleted(tmp_path: Path) -> None:
    exports = export_student(_Noisy(), torch.randn(4, 3, 8, 8), tmp_path, formats=("torchscript",))
    assert exports.kept == {}
    assert "differ from the PyTorch student's" in exports.refused["torchscript"]
    assert not (tmp_path / "student.pt").exists()


def test_no_validation_images_refuses_every_export(student: nn.Module, tmp_path: Path) -> None:
    exports = export_student(student, torch.empty(0, 3, 32, 32), tmp_path)
    assert exports.kept == {} and set(exports.refused) == {"onnx", "torchscript"}


def test_a_trained_student_comes_with_checked_exports_in_its_card(data_root: Path, tmp_path: Path) -> None:
    spec = JobSpec(dataset="digits", student="resnet8", method="ce", hyperparameters={"epochs": 1, "batch_size": 128})
    result = train(spec, tmp_path, options=TrainOptions(data_root=data_root))
    assert set(result.exports) == {"onnx", "torchscript"} and result.refused_exports == {}
    assert result.exports["onnx"] == tmp_path / "student.onnx"
    for fmt, path in result.exports.items():
        entry = result.card["exports"][fmt]
        assert entry["sha256"] == sha256_file(path) and 0 <= entry["max_abs_diff"] <= EXPORT_TOLERANCE
    assert result.card["exports"]["onnx"]["opset"] == ONNX_OPSET
