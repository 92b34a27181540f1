"""Channel shuffle (Zhang et al., ShuffleNet, 2018), shared by ShuffleNet V1 and V2."""

from __future__ import annotations

from torch import Tensor


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave the channels of ``groups`` equal groups so the next grouped conv mixes them."""
    batch, channels, height, width = x.shape
    x = x.view(batch, groups, channels // groups, height, width)  # (B, G, C/G, H, W)
    x = x.transpose(1, 2)  # (B, C/G, G, H, W)
    return x.reshape(batch, channels, height, width)  # (B, C, H, W)
