"""The one contract every model of the zoo keeps.

A classifier of the zoo is "feature map -> global average pool -> one ``nn.Linear``". It exposes
the two halves separately so that Scale Decoupled Distillation can pool the feature map at other
scales and reuse the same head, without any model surgery (the timm convention):

- ``forward_features(x)`` returns the final feature map ``(B, C, H, W)``, the exact tensor the
  model globally averages;
- ``get_classifier()`` returns the ``nn.Linear`` head;
- ``forward(x)`` returns the global logits ``(B, K)`` and is written once, here, from the two.

So ``m(x) == m.get_classifier()(m.forward_features(x).mean((2, 3)))`` holds by construction (in
eval mode; a model may apply dropout to the pooled vector while training, see ``pre_logits``).
"""

from __future__ import annotations

from torch import Tensor, nn


class PooledLinearClassifier(nn.Module):
    """Base class: subclasses implement ``forward_features`` and ``get_classifier`` only.

    ``sd_unsupported_reason`` is None for every model whose head really is pooling plus one
    Linear; the few torchvision wrappers whose head is not set it to a one-sentence reason.
    """

    sd_unsupported_reason: str | None = None

    def forward_features(self, x: Tensor) -> Tensor:
        """The final feature map ``(B, C, H, W)`` that ``forward`` globally average-pools."""
        raise NotImplementedError

    def get_classifier(self) -> nn.Linear:
        """The linear head mapping a pooled ``(B, C)`` vector to ``(B, K)`` logits."""
        raise NotImplementedError

    def pre_logits(self, pooled: Tensor) -> Tensor:
        """Hook between pooling and the head; identity unless a model uses head dropout."""
        return pooled

    def forward(self, x: Tensor) -> Tensor:
        """Global logits ``(B, K)``: average the feature map, then apply the linear head."""
        features = self.forward_features(x)  # (B, C, H, W)
        pooled = features.mean(dim=(2, 3))  # (B, C)
        return self.get_classifier()(self.pre_logits(pooled))  # (B, K)


def init_conv_bn_linear_(model: nn.Module) -> None:
    """Initialise a freshly built CNN in place, the way the CRD benchmark's models are.

    Convolutions: Kaiming normal (fan-out, ReLU); batch norms: weight 1, bias 0; linear layers:
    PyTorch's default initialisation, which is kept.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
