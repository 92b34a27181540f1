"""The training step and epoch without host reads: non-finite steps skipped on the device, the
compiled step against the eager one, and (on a GPU) an epoch under CUDA's sync debug mode."""

import pytest
import torch

from sdd_core.data import Augmentation, build_image_tensors
from sdd_core.data.tensor_batches import DeviceBatches
from sdd_core.models import create_model
from sdd_core.spec import JobSpec
from sdd_core.trainer.distillation_step import LossConfig
from sdd_core.trainer.epoch import EpochProgress, TrainStep, train_epoch
from sdd_core.trainer.options import TrainCallbacks
from sdd_core.trainer.teacher import FrozenTeacher
from sdd_core.trainer.training_state import EpochSums

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _pair(method="sd-kd", device="cpu", seed=0):
    torch.manual_seed(seed)
    spec = JobSpec(
        dataset="digits",
        student="resnet8",
        method=method,
        teacher={"arch": "resnet8", "checkpoint": "unused.safetensors"},
    )
    student = create_model("resnet8", 10).to(device)
    teacher = FrozenTeacher(create_model("resnet8", 10)).to(device)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, fused=True)
    return student, teacher, optimizer, LossConfig.from_spec(spec)


def _state(student, optimizer):
    weights = {k: v.clone() for k, v in student.state_dict().items() if v.is_floating_point()}
    momentum = [optimizer.state[p]["momentum_buffer"].clone() for p in student.parameters()]
    return weights, momentum


def test_a_non_finite_step_changes_nothing_and_is_counted_on_the_device():
    student, teacher, optimizer, config = _pair()
    step = TrainStep(student, teacher, optimizer, config=config, device=torch.device("cpu"), precision="fp32")
    images, labels = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    weights, momentum = _state(student, optimizer)  # zero buffers: a skipped first step leaves no garbage
    assert all(not m.any() for m in momentum)
    student.eval()  # batch norm statistics aside, nothing may change
    poisoned = images.clone()
    poisoned[0, 0, 0, 0] = float("nan")
    statistics, finite = step(poisoned, labels, epoch=1)
    assert finite.dtype == torch.bool and not bool(finite) and statistics.shape == (5,)
    after, after_momentum = _state(student, optimizer)
    assert all(torch.equal(weights[k], after[k]) for k in weights)
    assert all(not m.any() for m in after_momentum)
    statistics, finite = step(images, labels, epoch=1)
    assert bool(finite) and torch.isfinite(statistics).all()
    assert any(not torch.equal(weights[k], v) for k, v in _state(student, optimizer)[0].items())


def test_an_epochs_sums_skip_non_finite_steps():
    from sdd_core.trainer.epoch import RunningSums

    sums = RunningSums(EpochSums(loss=1.0, correct=3, images=8, steps=1), torch.device("cpu"))
    sums.add(torch.tensor([2.0, 1.5, 0.5, 0.25, 5.0]), torch.tensor(True), 8)
    sums.add(torch.tensor([float("nan"), float("inf"), 1.0, 1.0, 4.0]), torch.tensor(False), 8)
    read = sums.read(seconds=2.0)
    assert read == EpochSums(
        loss=3.0, ce=1.5, kd=0.5, correct=8, images=24, steps=3, nonfinite=1, complementary=0.25, seconds=2.0
    )


def test_the_compiled_step_gives_the_eager_steps_loss():
    student, teacher, optimizer, config = _pair()
    cpu = torch.device("cpu")
    eager = TrainStep(student, teacher, optimizer, config=config, device=cpu, precision="fp32")
    compiled = TrainStep(
        student, teacher, optimizer, config=config, device=cpu, precision="fp32", compiled=True, batch_size=4
    )
    student.eval()  # the same forward twice: no batch norm update, no dropout
    images, labels = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))
    want = eager.forward_parts(images, labels)
    targets = compiled.targets.get(images, config)  # through the compiled teacher forward (a full batch of 4)
    got = compiled.compiled(images, labels, targets)
    for a, b in zip(want, got, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-5)


def _digits_epoch_source(device, batch_size=64):
    train, _, info = build_image_tensors("digits", data_root="unused", image_size=16)
    return DeviceBatches(
        train, batch_size=batch_size, mean=info.mean, std=info.std, augmentation=Augmentation(), device=device
    )


@pytest.mark.parametrize("device_name", ["cpu", pytest.param("cuda", marks=needs_cuda)])
def test_an_epoch_reads_nothing_from_the_device_between_reports(device_name):
    """On CUDA under the sync debug mode "error": any host read inside the epoch would raise."""
    device = torch.device(device_name)
    student, teacher, optimizer, config = _pair(device=device)
    precision = "bf16" if device.type == "cuda" else "fp32"
    step = TrainStep(student, teacher, optimizer, config=config, device=device, precision=precision)
    source = _digits_epoch_source(device)
    progress, positions = EpochProgress(), []
    callbacks = TrainCallbacks(
        on_batch_end=lambda e, b, n, parts: positions.append((b, parts)), should_stop=lambda: False
    )
    step(*next(iter(source.batches(1))), epoch=1)  # first use (cuDNN, allocator) outside the check
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
    try:
        finished = train_epoch(
            step, source, seed=2, epoch=1, callbacks=callbacks, progress=progress, report_seconds=float("inf")
        )
    finally:
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("default")
    sums = progress.finish()
    assert finished and sums.steps == len(source) == 23 and [b for b, _ in positions] == list(range(1, 24))
    assert all(parts == {} for _, parts in positions)  # no report point: no parts read
    assert sums.nonfinite == 0 and 0 < sums.correct <= sums.images == source.images
    assert sums.loss > 0 and sums.kd > 0 and 0 <= sums.complementary <= sums.steps


@needs_cuda
def test_bf16_and_compiled_cuda_steps_stay_near_fp32():
    cuda = torch.device("cuda")
    student, teacher, optimizer, config = _pair(device=cuda)
    student.eval()
    images, labels = torch.randn(64, 3, 32, 32, device=cuda), torch.randint(0, 10, (64,), device=cuda)
    fp32 = TrainStep(student, teacher, optimizer, config=config, device=cuda, precision="fp32")
    bf16 = TrainStep(student, teacher, optimizer, config=config, device=cuda, precision="bf16")
    compiled = TrainStep(
        student, teacher, optimizer, config=config, device=cuda, precision="fp32", compiled=True, batch_size=64
    )
    ce32, kd32, _ = fp32.forward_parts(images, labels)
    ce16, kd16, _ = bf16.forward_parts(images, labels)
    targets = compiled.targets.get(images, config)  # through the compiled teacher forward
    cec, kdc, _ = compiled.compiled(images, labels, targets)
    torch.testing.assert_close(ce16, ce32, rtol=0.02, atol=0.02)
    torch.testing.assert_close(kd16, kd32, rtol=0.05, atol=0.02)
    torch.testing.assert_close(cec, ce32, rtol=0, atol=1e-4)
    torch.testing.assert_close(kdc, kd32, rtol=0, atol=1e-4)
