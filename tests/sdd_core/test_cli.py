import json

import yaml
from click.testing import CliRunner

from sdd_core.cli import cli


def test_train_from_a_config_file_with_flag_overrides(tmp_path, data_root, digits_teacher):
    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump({
        "dataset": "digits", "student": "resnet8", "method": "sd-kd", "scales": [1, 2],
        "teacher": {"arch": digits_teacher["arch"], "checkpoint": digits_teacher["checkpoint"]},
        "hyperparameters": {"epochs": 5, "batch_size": 256},
    }))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["train", "--config", str(config), "--out", str(out), "--epochs", "1",
                                      "--lr-decay-epochs", "1", "--data-root", str(data_root), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert {"student.safetensors", "card.json", "metrics.jsonl", "checkpoint.pt", "spec.json"} <= {p.name for p in out.iterdir()}
    spec = json.loads((out / "spec.json").read_text())
    assert spec["hyperparameters"]["epochs"] == 1 and spec["hyperparameters"]["lr_decay_epochs"] == [1]
    assert spec["scales"] == [1, 2]

    evaluated = CliRunner().invoke(cli, ["evaluate", "--weights", str(out / "student.safetensors"),
                                         "--card", str(out / "card.json"), "--data-root", str(data_root)])
    assert evaluated.exit_code == 0, evaluated.output
    card = json.loads((out / "card.json").read_text())
    assert json.loads(evaluated.output.strip().splitlines()[-1])["val_top1"] == card["final_metrics"]["val_top1"]


def test_invalid_spec_names_the_field(tmp_path):
    base = ["train", "--out", str(tmp_path), "--dataset", "digits", "--student", "resnet8"]
    result = CliRunner().invoke(cli, [*base, "--method", "ce", "--epochs", "0"])
    assert result.exit_code == 2 and "hyperparameters.epochs" in result.output
    result = CliRunner().invoke(cli, [*base, "--method", "sd-kd"])
    assert result.exit_code == 2 and "distils from a teacher" in result.output


def test_training_error_is_reported_with_its_code(tmp_path, data_root):
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path), "--dataset", "digits", "--student", "resnet8",
                                      "--method", "kd", "--teacher-arch", "resnet8",
                                      "--teacher-checkpoint", str(tmp_path / "missing.safetensors"),
                                      "--data-root", str(data_root), "--no-progress"])
    assert result.exit_code == 1
    assert "teacher_error" in result.output and "missing.safetensors" in result.output


def test_models_lists_the_zoo_with_sd_support():
    result = CliRunner().invoke(cli, ["models", "--json"])
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["resnet32x4"]["sd_supported"] is True
    assert rows["tv/mobilenet_v3_small"]["sd_supported"] is False and rows["tv/mobilenet_v3_small"]["reason"]
