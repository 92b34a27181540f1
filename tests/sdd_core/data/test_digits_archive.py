"""``sdd samples digits``: the digits as an image-folder zip that ``imagefolder:`` reads, the same bytes each time."""

from __future__ import annotations

import zipfile
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from sdd_core.cli import cli
from sdd_core.data.digits import DIGITS_TRAIN_SIZE, DIGITS_VAL_SIZE
from sdd_core.data.image_folder import image_folder_shape


def test_the_archive_is_an_image_folder_of_the_digits_split(tmp_path: Path) -> None:
    out = tmp_path / "digits-images.zip"
    runner = CliRunner()
    result = runner.invoke(cli, ["samples", "digits", "--out", str(out), "--image-size", "8"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out) and "1437 training and 360 validation images" in result.stderr

    extracted = tmp_path / "extracted"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(extracted)
    shape = image_folder_shape("digits-images", extracted)
    assert shape.classes == [str(digit) for digit in range(10)]
    assert (shape.train_size, shape.val_size, shape.image_size) == (DIGITS_TRAIN_SIZE, DIGITS_VAL_SIZE, 8)
    with Image.open(extracted / "val" / "7" / "0359.png") as image:
        assert (image.mode, image.size) == ("L", (8, 8))

    first = out.read_bytes()
    refused = runner.invoke(cli, ["samples", "digits", "--out", str(out), "--image-size", "8"])
    assert refused.exit_code == 1 and "exists; pass --overwrite" in refused.output
    again = runner.invoke(cli, ["samples", "digits", "--out", str(out), "--image-size", "8", "--overwrite"])
    assert again.exit_code == 0 and out.read_bytes() == first  # an interrupted upload of it resumes
    assert sorted(path.name for path in tmp_path.iterdir()) == ["digits-images.zip", "extracted"]  # no partial left
