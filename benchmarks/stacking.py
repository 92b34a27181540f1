"""Same-architecture members stacked with torch.func against the same members stepped in turn.

    python -m benchmarks.stacking [--members 4 --arch resnet8 --batch 64 --steps 30 --warmup 5]
                                  [--bn track|replace --device auto]

``--members`` students of one architecture (different initial weights), the same batch for all
and fixed random logits standing in for the teacher (CE + KD at T = 4, the trainer's resnet8 SGD:
lr 0.05, momentum 0.9, weight decay 5e-4, fused). (a) is the trainer's way: each member forward,
backward and its own SGD step in turn. (b) stacks the members (``torch.func.stack_module_state``):
one ``vmap(functional_call)`` forward over the stacked parameters and buffers, the losses summed,
one backward, one fused SGD step over the stacked leaves. Each step runs both ways (order
alternating) on the same batch; prints median ms per step (warm-up excluded), the ratio (b)/(a)
and how far (b)'s members drift from (a)'s after the first step and after all of them. CUDA is
used when present (``--device``).

Finding, 2 CPU cores (torch 2.14, quiet machine): stacking does not pay. Defaults, 4 x resnet8,
batch 64: (a) 175.9 ms/step, (b) 264.6 ms/step, ratio 1.505 (18.5 s wall; a rerun 1.458). With
``--members 2``
1.340 (93.0 vs 124.5 ms), ``--members 8`` 1.783 (377.6 vs 673.4 ms), ``--arch resnet8x4`` 1.823
(1390 vs 2534 ms): worse with more or wider members. The profile says why: vmap turns each conv
into one grouped conv (members folded into channels), whose oneDNN backward is slower than the
members' plain convs (494 vs 394 ms over 5 steps), and its batch-norm rule adds muls, adds and
copies (about 0.35 s over 5 steps) that the loop never runs. Not measured on CUDA here, where the
loop of small kernels is launch-bound and stacking may come out ahead; run it there to see.

BatchNorm: with the running stats stacked as buffers (``in_dims=0``) vmap updates them in place
per member, so nothing needs replacing (``--bn track``). Unstacked (shared) buffers raise
"Batch norm got a batched tensor as input while the running_mean or running_var, which will be
updated in place, were not batched". ``torch.func.replace_all_batch_norm_modules_`` (``--bn
replace``, applied to both ways) avoids that by dropping the running stats: training computes
the same (the parameter drift below is identical in both modes) and (b) is no faster (1.439,
183.9 vs 264.6 ms), but eval then normalises by the batch's own statistics, so the evaluated and
exported model is a different one: not acceptable for the service.

Exactness: (b) is not bit-identical to (a), so it would break the promise that a member trained
in a group equals the same job trained alone. After one step the parameters differ by up to
2.98e-08 and the BN running stats by 1.19e-07 (grouped conv, other summation order); the
difference grows with training to 0.0241 (parameters) and 0.0183 (running stats) after 35 steps
(resnet8x4: 0.0415 / 0.0458). It is the same in both BN modes. Further costs of adopting it: one
SGD step over stacked leaves has one lr, momentum and weight decay, and one ``found_inf``, where
members have their own schedules and skip their own non-finite steps; a member leaving the group
must be unstacked; the trainer's ``kd_rows`` uses ``F.kl_div``, which has no vmap batching rule
(vmap warns and loops over members), so the KD term here is written out for both ways alike.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, replace_all_batch_norm_modules_, stack_module_state, vmap

from benchmarks.paired import paired_ratio
from sdd_core.models import create_model

NUM_CLASSES, IMAGE_SIZE, TEMPERATURE = 10, 32, 4.0
SGD_ARGS = {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}  # the resnet8 defaults (sdd_core.methods)


def member_loss(logits: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """CE + KD against the fixed teacher logits (ce_weight = kd_weight = 1, T = 4), both ways alike.

    The KD term is ``sdd_core.losses.kd_rows``'s ``T^2 * KL(p_t || p_s)`` written without
    ``F.kl_div``, which has no vmap batching rule (vmap falls back to a per-member loop and warns).
    """
    log_p_s = F.log_softmax(logits / TEMPERATURE, dim=1)
    log_p_t = F.log_softmax(teacher / TEMPERATURE, dim=1)
    kd = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1) * TEMPERATURE**2
    return F.cross_entropy(logits, labels) + kd.mean()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Loop:
    """(a) The trainer's way: each member forward, backward and its own fused SGD step, in turn."""

    def __init__(self, models: list[nn.Module]) -> None:
        self.models = models
        self.optimizers = [torch.optim.SGD(m.parameters(), **SGD_ARGS, fused=True) for m in models]

    def step(self, images: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor) -> None:
        for model, optimizer in zip(self.models, self.optimizers, strict=True):
            optimizer.zero_grad(set_to_none=True)
            member_loss(model(images), labels, teacher).backward()
            optimizer.step()

    def state(self, member: int) -> dict[str, torch.Tensor]:
        model = self.models[member]
        return {**dict(model.named_parameters()), **dict(model.named_buffers())}


class Stacked:
    """(b) The members' parameters and buffers stacked along a leading dimension
    (``stack_module_state``); one ``vmap(functional_call)`` forward for all, the members' losses
    summed, one backward, one fused SGD step over the stacked leaves (elementwise, so the same
    update as each member's own SGD; one lr for all, though: a per-member schedule would need an
    lr tensor). BN running statistics are stacked buffers updated in place under vmap.
    """

    def __init__(self, models: list[nn.Module]) -> None:
        self.params, self.buffers = stack_module_state(models)  # copies: the models are not touched
        self.base = copy.deepcopy(models[0]).to("meta")  # the structure only
        self.optimizer = torch.optim.SGD(list(self.params.values()), **SGD_ARGS, fused=True)

        def one(params, buffers, images, labels, teacher):  # type: ignore[no-untyped-def]
            return member_loss(functional_call(self.base, (params, buffers), (images,)), labels, teacher)

        self.losses: Callable[..., torch.Tensor] = vmap(one, in_dims=(0, 0, None, None, None))

    def step(self, images: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.losses(self.params, self.buffers, images, labels, teacher).sum().backward()  # (N,) -> ()
        self.optimizer.step()

    def state(self, member: int) -> dict[str, torch.Tensor]:
        return {name: value[member] for name, value in {**self.params, **self.buffers}.items()}


def max_difference(loop: Loop, stacked: Stacked, members: int) -> tuple[float, float, bool]:
    """Max abs difference over parameters, over floating buffers (BN running stats), and whether
    every parameter and buffer of every member is bit-identical."""
    params = buffers = 0.0
    identical = True
    for member in range(members):
        a, b = loop.state(member), stacked.state(member)
        assert a.keys() == b.keys()
        for name, value in a.items():
            other = b[name].detach()
            identical = identical and torch.equal(value.detach(), other)
            if value.is_floating_point():
                diff = (value.detach() - other).abs().max().item()
                if name in stacked.params:
                    params = max(params, diff)
                else:
                    buffers = max(buffers, diff)
    return params, buffers, identical


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--arch", default="resnet8")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30, help="timed steps of each way")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps of each way first")
    parser.add_argument(
        "--bn",
        choices=["track", "replace"],
        default="track",
        help="track: BN running stats as stacked buffers (vmap updates them in place); replace: "
        "torch.func.replace_all_batch_norm_modules_ in both ways (no running stats: eval changes)",
    )
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)

    models = []
    for member in range(args.members):  # different initial weights, as members of a sweep have
        torch.manual_seed(member)
        model = create_model(args.arch, NUM_CLASSES).to(device).train()
        if args.bn == "replace":
            replace_all_batch_norm_modules_(model)
        models.append(model)
    stacked = Stacked(models)  # stacks copies of the initial state first
    loop = Loop(models)  # then trains the models themselves

    generator = torch.Generator().manual_seed(1234)
    total = args.warmup + args.steps
    batches = [  # the same batch for every member; a fresh one each step
        (
            torch.randn(args.batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator).to(device),
            torch.randint(0, NUM_CLASSES, (args.batch,), generator=generator).to(device),
            3 * torch.randn(args.batch, NUM_CLASSES, generator=generator).to(device),  # the "teacher"
        )
        for _ in range(total)
    ]

    times: dict[str, list[float]] = {"loop": [], "stacked": []}
    first: tuple[float, float, bool] | None = None
    for index, batch in enumerate(batches):
        ways = [("loop", loop), ("stacked", stacked)]
        for name, way in ways if index % 2 == 0 else ways[::-1]:  # alternate the order every step
            sync(device)
            started = time.perf_counter()
            way.step(*batch)
            sync(device)
            if index >= args.warmup:
                times[name].append(time.perf_counter() - started)
        if index == 0:
            first = max_difference(loop, stacked, args.members)
    assert first is not None
    params, buffers, identical = max_difference(loop, stacked, args.members)

    a, b = statistics.median(times["loop"]), statistics.median(times["stacked"])
    print(
        f"{args.members} x {args.arch}, batch {args.batch}, {IMAGE_SIZE}px, {device.type} "
        f"({torch.get_num_threads()} threads), bn={args.bn}, {args.steps} timed steps after {args.warmup}"
    )
    print(f"(a) loop     {a * 1e3:8.2f} ms/step  (median; mean {statistics.fmean(times['loop']) * 1e3:.2f})")
    print(f"(b) stacked  {b * 1e3:8.2f} ms/step  (median; mean {statistics.fmean(times['stacked']) * 1e3:.2f})")
    print(f"ratio (b)/(a) per alternated step: {paired_ratio(times['loop'], times['stacked']).describe()}")
    print(f"after 1 step: max |param diff| {first[0]:.3g}, max |BN stat diff| {first[1]:.3g}, bit-identical {first[2]}")
    print(
        f"after {total} steps: max |param diff| {params:.3g}, max |BN stat diff| {buffers:.3g}, "
        f"bit-identical {identical}"
    )


if __name__ == "__main__":
    main()
