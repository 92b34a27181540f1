"""A terminal progress bar fed by the trainer's callbacks (used by ``sdd train``)."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm


class ProgressBar:
    """One bar per epoch: batches done, loss parts; the last val top-1 after each epoch."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bar: tqdm | None = None
        self.epoch = 0
        self.last_top1: float | None = None

    def on_batch_end(self, epoch: int, batch: int, batches: int, parts: dict[str, float]) -> None:
        if not self.enabled:
            return
        if self.bar is None or epoch != self.epoch:
            self.close()
            self.epoch = epoch
            self.bar = tqdm(total=batches, desc=f"epoch {epoch}", unit="batch", leave=False, dynamic_ncols=True)
        if parts:  # the loss parts come at report points only (see TrainCallbacks.on_batch_end)
            postfix = {k: f"{v:.3f}" for k, v in parts.items()}
            if self.last_top1 is not None:
                postfix["val_top1"] = f"{self.last_top1:.2f}"
            self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def on_epoch_end(self, metrics: dict[str, Any]) -> None:
        self.last_top1 = metrics["val_top1"]
        self.close()
        line = (
            f"epoch {metrics['epoch']}/{metrics['epochs']}  loss {metrics['train_loss']:.4f} "
            f"(ce {metrics['train_ce']:.4f}, kd {metrics['train_kd']:.4f})  "
            f"val top-1 {metrics['val_top1']:.2f}%  top-5 {metrics['val_top5']:.2f}%  "
            f"{metrics['images_per_s']:.0f} img/s"
        )
        if metrics.get("complementary_share") is not None:
            line += f"  complementary {100 * metrics['complementary_share']:.1f}%"
        tqdm.write(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
