import inspect
import math

import pytest
import torch
import torch.nn.functional as F

from sdd_core.losses import (
    base_loss_rows,
    complementary_mask,
    dkd_loss,
    dkd_rows,
    kd_loss,
    kd_rows,
    nkd_loss,
    nkd_rows,
    scale_decoupled_loss,
)

B, K, N = 6, 10, 5
BASE_PARAMS = {"temperature": 4.0, "dkd_alpha": 1.0, "dkd_beta": 8.0, "nkd_gamma": 1.5, "nkd_mode": "paper"}


def _logits(*shape: int, scale: float = 3.0, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator) * scale


def _global(base: str, s: torch.Tensor, t: torch.Tensor, y: torch.Tensor, nkd_mode: str = "paper") -> torch.Tensor:
    if base == "kd":
        return kd_loss(s, t, temperature=4.0)
    if base == "dkd":
        return dkd_loss(s, t, y, temperature=4.0, dkd_alpha=1.0, dkd_beta=8.0)
    return nkd_loss(s, t, y, temperature=4.0, nkd_gamma=1.5, nkd_mode=nkd_mode)


def test_kd_matches_hinton_definition():
    s, t = _logits(B, K), _logits(B, K, seed=1)
    p_t = F.softmax(t / 4, dim=1)
    expected = (p_t * (p_t.log() - F.log_softmax(s / 4, dim=1))).sum(1).mean() * 16
    torch.testing.assert_close(kd_loss(s, t, temperature=4.0), expected)


def test_dkd_matches_direct_probability_form():
    s, t = _logits(B, K), _logits(B, K, seed=1)
    y = torch.arange(B) % K
    T = 2.0

    def parts(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = F.softmax(logits / T, dim=1)
        p_y = p.gather(1, y[:, None])
        binary = torch.cat([p_y, 1 - p_y], dim=1)
        others = torch.stack([torch.cat([row[:c], row[c + 1 :]]) for row, c in zip(logits / T, y, strict=True)])
        return binary, F.softmax(others, dim=1)

    (b_s, q_s), (b_t, q_t) = parts(s), parts(t)
    tckd = (b_t * (b_t.log() - b_s.log())).sum(1)
    nckd = (q_t * (q_t.log() - q_s.log())).sum(1)
    expected = ((0.5 * tckd + 3.0 * nckd) * T * T).mean()
    torch.testing.assert_close(dkd_loss(s, t, y, temperature=T, dkd_alpha=0.5, dkd_beta=3.0), expected)


def test_nkd_paper_and_code_modes_differ_only_by_the_target_class():
    s, t = _logits(B, K), _logits(B, K, seed=1)
    y = torch.arange(B) % K
    T, gamma = 4.0, 1.5
    target_term = -(F.softmax(t, 1).gather(1, y[:, None]) * F.log_softmax(s, 1).gather(1, y[:, None])).squeeze(1)
    keep = torch.ones(B, K, dtype=torch.bool).scatter_(1, y[:, None], False)
    s_nt, t_nt = (s / T)[keep].view(B, K - 1), (t / T)[keep].view(B, K - 1)
    paper = target_term - gamma * T * T * (F.softmax(t_nt, 1) * F.log_softmax(s_nt, 1)).sum(1)
    code = target_term - gamma * T * T * (F.softmax(t / T, 1) * F.log_softmax(s / T, 1)).sum(1)
    torch.testing.assert_close(nkd_loss(s, t, y, temperature=T, nkd_gamma=gamma, nkd_mode="paper"), paper.mean())
    torch.testing.assert_close(nkd_loss(s, t, y, temperature=T, nkd_gamma=gamma, nkd_mode="code"), code.mean())
    assert not torch.allclose(paper.mean(), code.mean())


@pytest.mark.parametrize("base", ["kd", "dkd", "nkd"])
def test_single_region_equals_the_global_loss(base):
    s, t = _logits(B, K), _logits(B, K, seed=1)
    y = torch.arange(B) % K
    sd = scale_decoupled_loss(s[:, :, None], t[:, :, None], y, base=base, beta=3.0, **BASE_PARAMS)
    torch.testing.assert_close(sd, _global(base, s, t, y))


@pytest.mark.parametrize("base", ["kd", "dkd", "nkd"])
def test_beta_one_is_the_plain_mean_over_regions(base):
    s, t = _logits(B, K, N), _logits(B, K, N, seed=1)
    y = torch.arange(B) % K
    sd = scale_decoupled_loss(s, t, y, base=base, beta=1.0, **BASE_PARAMS)
    per_region = torch.stack([_global(base, s[:, :, n], t[:, :, n], y) for n in range(N)])
    torch.testing.assert_close(sd, per_region.mean())


def test_complementary_regions_weigh_beta():
    y = torch.tensor([0, 1])
    t = torch.full((2, 3, 3), -5.0)
    # sample 0: global right, region 1 right, region 2 wrong  -> region 2 complementary
    t[0, 0, 0], t[0, 0, 1], t[0, 2, 2] = 5.0, 5.0, 5.0
    # sample 1: global wrong, region 1 right, region 2 wrong -> region 1 complementary
    t[1, 0, 0], t[1, 1, 1], t[1, 2, 2] = 5.0, 5.0, 5.0
    mask = complementary_mask(t, y)
    assert mask.tolist() == [[False, False, True], [False, True, False]]

    s = _logits(2, 3, 3)
    beta = 2.5
    rows = torch.stack(
        [
            torch.stack([kd_loss(s[b : b + 1, :, n], t[b : b + 1, :, n], temperature=4.0) for n in range(3)])
            for b in range(2)
        ]
    )  # (B, N)
    weights = torch.tensor([[1.0, 1.0, beta], [1.0, beta, 1.0]])
    expected = (weights * rows).sum() / 6
    torch.testing.assert_close(scale_decoupled_loss(s, t, y, base="kd", beta=beta), expected)


@pytest.mark.parametrize("base", ["kd", "dkd", "nkd"])
@pytest.mark.parametrize("nkd_mode", ["paper", "code"])
def test_finite_values_and_gradients_for_huge_logits(base, nkd_mode):
    s = _logits(B, K, N, scale=1e3).requires_grad_(True)
    t = _logits(B, K, N, scale=1e3, seed=1)
    y = torch.arange(B) % K
    params = dict(BASE_PARAMS, nkd_mode=nkd_mode)
    loss = scale_decoupled_loss(s, t, y, base=base, **params)
    loss.backward()
    assert math.isfinite(loss.item())
    assert torch.isfinite(s.grad).all()


def test_non_finite_input_is_not_hidden():
    s, t = _logits(B, K, N), _logits(B, K, N, seed=1)
    s[0, 0, 0] = float("nan")
    y = torch.arange(B) % K
    assert not torch.isfinite(scale_decoupled_loss(s, t, y))


def test_teacher_receives_no_gradient():
    s = _logits(B, K, N).requires_grad_(True)
    t = _logits(B, K, N, seed=1).requires_grad_(True)
    y = torch.arange(B) % K
    for base in ("kd", "dkd", "nkd"):
        scale_decoupled_loss(s, t, y, base=base).backward()
    assert t.grad is None
    assert s.grad is not None


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="B, K, N"):
        scale_decoupled_loss(_logits(B, K, N), _logits(B, K, N - 1), torch.zeros(B, dtype=torch.long))


@pytest.mark.parametrize(
    "loss", [kd_rows, kd_loss, dkd_rows, dkd_loss, nkd_rows, nkd_loss, base_loss_rows, scale_decoupled_loss]
)
def test_every_loss_takes_tensors_by_position_then_the_temperature_first_by_keyword(loss):
    parameters = list(inspect.signature(loss).parameters.values())
    tensors = [p.name for p in parameters if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    numbers = [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert tensors in (["student_logits", "teacher_logits"], ["student_logits", "teacher_logits", "labels"])
    assert numbers[0] == "temperature" and len(tensors) + len(numbers) == len(parameters)


def test_beta_zero_keeps_the_consistent_regions_only():
    """beta = 0: complementary regions weigh nothing; the sum over consistent regions is / (B * N)."""
    torch.manual_seed(3)
    s, t = torch.randn(4, 5, 3), torch.randn(4, 5, 3)
    y = torch.randint(0, 5, (4,))
    consistent = ~complementary_mask(t, y)  # (B, N)
    per_row = kd_rows(s.permute(0, 2, 1).reshape(-1, 5), t.permute(0, 2, 1).reshape(-1, 5), temperature=4.0)
    expected = (per_row.reshape(4, 3) * consistent).sum() / (4 * 3)
    torch.testing.assert_close(scale_decoupled_loss(s, t, y, base="kd", beta=0.0, temperature=4.0), expected)


def test_split_target_gathers_what_the_mask_selects():
    from sdd_core.losses.non_target import non_target_mask, split_target

    torch.manual_seed(1)
    logits, labels = torch.randn(7, 5), torch.tensor([0, 4, 2, 2, 1, 3, 4])
    mask = non_target_mask(logits, labels)
    target, others = split_target(logits, labels, mask)
    assert torch.equal(others, logits[mask].view(7, 4)) and torch.equal(target, logits[torch.arange(7), labels])
