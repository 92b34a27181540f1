import json

import pytest
import yaml
from click.testing import CliRunner
from safetensors.torch import save_file

from sdd_core.cli import cli
from sdd_core.models import create_model


@pytest.mark.slow
def test_train_from_a_config_file_with_flag_overrides(tmp_path, data_root, digits_teacher):
    config = tmp_path / "job.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "dataset": "digits",
                "student": "resnet8",
                "method": "sd-kd",
                "scales": [1, 2],
                "teacher": {"arch": digits_teacher["arch"], "checkpoint": digits_teacher["checkpoint"]},
                "hyperparameters": {"epochs": 5, "batch_size": 256},
            }
        )
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--file",
            str(config),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--lr-decay-epochs",
            "1",
            "--data-root",
            str(data_root),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    written = {p.name for p in out.iterdir()}
    assert {"student.safetensors", "card.json", "metrics.jsonl", "checkpoint.pt", "spec.json"} <= written
    spec = json.loads((out / "spec.json").read_text())
    assert spec["hyperparameters"]["epochs"] == 1 and spec["hyperparameters"]["lr_decay_epochs"] == [1]
    assert spec["scales"] == [1, 2]

    evaluated = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "--weights",
            str(out / "student.safetensors"),
            "--card",
            str(out / "card.json"),
            "--data-root",
            str(data_root),
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    card = json.loads((out / "card.json").read_text())
    assert json.loads(evaluated.output.strip().splitlines()[-1])["val_top1"] == card["final_metrics"]["val_top1"]


def test_train_names_its_flags_as_jobs_submit_does():
    """--file, --loader-workers and --teacher-pretrained as `sdd jobs submit` names them; the old
    --config and --workers still read the same."""
    from sdd_core.cli import build_spec

    flags = {"dataset": "digits", "student": "resnet8", "method": "kd", "teacher_pretrained": "resnet8"}
    spec = build_spec({}, {**flags, "loader_workers": "3"})
    assert spec.teacher is not None and (spec.teacher.arch, spec.teacher.pretrained) == ("resnet8", True)
    assert spec.resolved_hyperparameters.loader_workers == 3
    both = CliRunner().invoke(
        cli, ["train", "--out", "unused", "--teacher-pretrained", "resnet8", "--teacher-checkpoint", "t.safetensors"]
    )
    assert (
        both.exit_code == 2 and "--teacher-pretrained ARCH, or --teacher-arch with --teacher-checkpoint" in both.output
    )
    help_text = CliRunner().invoke(cli, ["train", "--help"]).output
    assert "--file" in help_text and "--loader-workers" in help_text and "--teacher-pretrained" in help_text
    assert "--workers " not in help_text  # one name for the loader's processes


def test_invalid_spec_names_the_field(tmp_path):
    base = ["train", "--out", str(tmp_path), "--dataset", "digits", "--student", "resnet8"]
    result = CliRunner().invoke(cli, [*base, "--method", "ce", "--epochs", "0"])
    assert result.exit_code == 2 and "hyperparameters.epochs" in result.output
    result = CliRunner().invoke(cli, [*base, "--method", "sd-kd"])
    assert result.exit_code == 2 and "distils from a teacher" in result.output


@pytest.mark.slow
def test_training_error_is_reported_with_its_code(tmp_path, data_root):
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--out",
            str(tmp_path),
            "--dataset",
            "digits",
            "--student",
            "resnet8",
            "--method",
            "kd",
            "--teacher-arch",
            "resnet8",
            "--teacher-checkpoint",
            str(tmp_path / "missing.safetensors"),
            "--data-root",
            str(data_root),
            "--no-progress",
        ],
    )
    assert result.exit_code == 1
    assert "teacher_error" in result.output and "missing.safetensors" in result.output


@pytest.mark.slow
def test_an_impossible_job_is_refused_before_training(tmp_path, data_root):
    model = create_model("resnet8", 10)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "t.safetensors"))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--out",
            str(out),
            "--dataset",
            "digits",
            "--student",
            "mobilenetv2",
            "--method",
            "sd-kd",
            "--scales",
            "1,2,4",
            "--teacher-arch",
            "resnet8",
            "--teacher-checkpoint",
            str(tmp_path / "t.safetensors"),
            "--data-root",
            str(data_root),
            "--no-progress",
        ],
    )
    assert result.exit_code == 1
    assert "error [invalid_spec]" in result.output and "scale(s) [4]" in result.output
    assert not (out / "checkpoint.pt").exists() and not (out / "metrics.jsonl").exists()


def test_models_lists_the_zoo_with_sd_support():
    result = CliRunner().invoke(cli, ["models", "--json"])
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["resnet32x4"]["sd_supported"] is True
    assert rows["tv/mobilenet_v3_small"]["sd_supported"] is False and rows["tv/mobilenet_v3_small"]["reason"]


@pytest.mark.slow
def test_ctrl_c_stops_at_the_next_batch_with_a_checkpoint_to_resume_from(tmp_path, data_root):
    """A real ``sdd train`` process: the first SIGINT stops training after the current batch,
    writes a checkpoint inside the epoch and says how to continue; ``--resume`` finishes the job."""
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "sdd_core.cli",
        "train",
        "--out",
        str(out),
        "--dataset",
        "digits",
        "--student",
        "resnet8",
        "--method",
        "ce",
        "--image-size",
        "8",
        "--epochs",
        "6",
        "--batch-size",
        "64",
        "--data-root",
        str(data_root),
        "--no-progress",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    for line in process.stdout:  # wait until training runs: epoch 1 reported
        if line.startswith("epoch 1/6"):
            break
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "stopped after batch" in stderr and f"--resume {out / 'checkpoint.pt'}" in stderr
    assert 1 <= len((out / "metrics.jsonl").read_text().splitlines()) < 6

    resumed = subprocess.run(
        [*command, "--resume", str(out / "checkpoint.pt")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert resumed.returncode == 0, resumed.stderr
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3, 4, 5, 6]
