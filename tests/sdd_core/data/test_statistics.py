import json

import torch

from sdd_core.data.statistics import (
    STATS_CACHE_FILE,
    channel_statistics,
    evenly_spaced_indices,
    read_cached_statistics,
    write_cached_statistics,
)


def test_channel_statistics_match_torch_over_mixed_sizes():
    torch.manual_seed(0)
    images = [torch.rand(3, 5, 7), torch.rand(2, 3, 4, 4)]
    mean, std = channel_statistics(images)
    pixels = torch.cat([images[0].reshape(3, -1), images[1].transpose(0, 1).reshape(3, -1)], dim=1)
    torch.testing.assert_close(torch.tensor(mean), pixels.mean(1), rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.tensor(std), pixels.std(1, unbiased=False), rtol=0, atol=1e-6)


def test_constant_channel_is_left_unscaled():
    image = torch.rand(3, 4, 4)
    image[1] = 0.5
    mean, std = channel_statistics([image])
    assert mean[1] == 0.5 and std[1] == 1.0


def test_evenly_spaced_indices():
    assert evenly_spaced_indices(5, 10) == [0, 1, 2, 3, 4]
    assert evenly_spaced_indices(10, 4) == [0, 2, 5, 7]


def test_cache_round_trip_and_invalidation(tmp_path):
    mean, std = (0.1, 0.2, 0.3), (0.4, 0.5, 0.6)
    assert write_cached_statistics(tmp_path, 32, "abc", mean, std, num_images=7)
    assert write_cached_statistics(tmp_path, 64, "abc", std, mean, num_images=7)
    assert read_cached_statistics(tmp_path, 32, "abc") == (mean, std)
    assert read_cached_statistics(tmp_path, 64, "abc") == (std, mean)
    assert read_cached_statistics(tmp_path, 32, "changed") is None
    assert read_cached_statistics(tmp_path, 48, "abc") is None
    saved = json.loads((tmp_path / STATS_CACHE_FILE).read_text())
    assert saved["entries"]["32"]["num_images"] == 7
    assert [p.name for p in tmp_path.iterdir()] == [STATS_CACHE_FILE]


def test_unreadable_cache_is_ignored_and_unwritable_folder_is_reported(tmp_path):
    (tmp_path / STATS_CACHE_FILE).write_text("{not json")
    assert read_cached_statistics(tmp_path, 32, "abc") is None
    assert not write_cached_statistics(tmp_path / "missing", 32, "abc", (0, 0, 0), (1, 1, 1), 1)
