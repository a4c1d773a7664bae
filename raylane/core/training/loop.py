"""The per-worker training loop (Ray Train) and the per-trial loop (Ray Tune).

Workers read their Ray Data shard (cached embeddings for the frozen base, texts for the
fine-tuned one, tokenized per batch), train the head (or encoder and head together), evaluate on
the held-out split, and checkpoint every epoch (model and optimizer). After a worker dies, Ray
Train restarts the group and each worker resumes from ``ray.train.get_checkpoint()``: the epochs
already done are not repeated. Events (steps, epochs, resumes) go to the driver through a queue
actor, so only the driver writes to the database.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from raylane.core.training.classifier import Head, evaluate, predict_classes, train_epoch
from raylane.schemas.training import FINETUNED

CHECKPOINT_FILE = "head.safetensors"  # the fine-tuned base's holds the encoder too
STEP_EVENT_INTERVAL_S = 0.25  # per-step metrics are sampled: a queue put per step costs more


def _emit(queue: Any, event: dict[str, Any]) -> None:
    if queue is not None:
        queue.put_nowait(event)


def _optimizer(head: torch.nn.Module, config: dict[str, Any]) -> torch.optim.Optimizer:
    return torch.optim.AdamW(
        head.parameters(), lr=config["learning_rate"], weight_decay=config["weight_decay"]
    )


def _save(path: str, head: torch.nn.Module, optimizer: torch.optim.Optimizer, epoch: int) -> None:
    from safetensors.torch import save_file

    # Optimizer state flattened into tensors: the checkpoint stays safetensors, never a pickle.
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in head.state_dict().items()}
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{name}"] = value.detach().contiguous().reshape(-1)
    save_file(tensors, os.path.join(path, CHECKPOINT_FILE), metadata={"epoch": str(epoch)})


def _restore(path: str, head: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Load a checkpoint; returns the last finished epoch."""
    from safetensors import safe_open

    with safe_open(os.path.join(path, CHECKPOINT_FILE), framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iter)
    head.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state = optimizer.state_dict()
    # The optimizer numbers parameters across its groups in order (the fine-tuned base has two).
    params = dict(enumerate(p for group in optimizer.param_groups for p in group["params"]))
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            shape = params[int(index)].shape if name != "step" else value.shape
            state["state"].setdefault(int(index), {})[name] = value.reshape(shape)
    optimizer.load_state_dict(state)
    return int(meta.get("epoch", "0"))


def _batches(shard: Any, batch_size: int) -> Any:
    for batch in shard.iter_torch_batches(
        batch_size=batch_size, dtypes={"vector": torch.float32, "y": torch.int64}
    ):
        yield batch["vector"], batch["y"]


def train_worker(config: dict[str, Any]) -> None:
    """Ray Train's ``train_loop_per_worker``."""
    import ray.train

    torch.manual_seed(config["seed"])
    if config.get("base") == FINETUNED:
        _finetune_worker(config)
        return
    head = Head(config["dim"], config["classes"], config["hidden"], config["dropout"])
    val_x, val_y = config["heldout"]
    shard = ray.train.get_dataset_shard("train")
    _epochs(
        config,
        head,
        _optimizer(head, config),
        lambda: _batches(shard, config["batch_size"]),
        lambda: _held_out(head, val_x, val_y, config["classes"]),
    )


def _finetune_worker(config: dict[str, Any]) -> None:
    """The fine-tuned base: the bundled MiniLM and the head trained together on token batches."""
    import ray.train
    import ray.train.torch

    from raylane.core.training import finetune

    model = finetune.build(config["classes"], hidden=config["hidden"], dropout=config["dropout"])
    model.to(ray.train.torch.get_device())
    optimizer = finetune.optimizer(
        model,
        learning_rate=config["learning_rate"],
        encoder_learning_rate=config["encoder_learning_rate"],
        weight_decay=config["weight_decay"],
    )
    val_texts, val_y = config["heldout"]
    shard = ray.train.get_dataset_shard("train")

    def held_out() -> dict[str, Any]:
        if len(val_y) == 0:
            return {}
        vectors = finetune.embed(model.encoder, val_texts, max_length=config["max_length"])
        model.head.eval()
        with torch.no_grad():
            x = torch.as_tensor(vectors, device=next(model.head.parameters()).device)
            predicted = model.head(x).argmax(-1).cpu().numpy()
        return _scores(val_y, predicted, config["classes"])

    _epochs(
        config,
        model,
        optimizer,
        lambda: _token_batches(shard, config["batch_size"], config["max_length"]),
        held_out,
    )


def _token_batches(
    shard: Any, batch_size: int, max_length: int
) -> Iterable[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    import ray.train.torch

    from raylane.core.training import finetune

    device = ray.train.torch.get_device()
    for batch in shard.iter_batches(batch_size=batch_size, batch_format="numpy"):
        features = finetune.tokenize(
            [str(t) for t in batch["text"]], max_length=max_length, device=device
        )
        yield features, torch.as_tensor(batch["y"], dtype=torch.int64, device=device)


def _epochs(
    config: dict[str, Any],
    module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Callable[[], Iterable[tuple[Any, torch.Tensor]]],
    held_out: Callable[[], dict[str, Any]],
) -> None:
    """The epochs both bases share: resume from the last checkpoint, train, report per-step and
    per-epoch metrics, checkpoint (model and optimizer) every epoch."""
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    rank, queue = ctx.get_world_rank(), config.get("queue")
    start = 1
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as path:
            start = _restore(path, module, optimizer) + 1
        if rank == 0:
            _emit(queue, {"type": "resume", "from_epoch": start})
    model = ray.train.torch.prepare_model(module)
    last_emit = 0.0
    for epoch in range(start, config["epochs"] + 1):
        losses = []
        for loss in train_epoch(model, optimizer, batches()):
            losses.append(loss)
            now = time.monotonic()
            if rank == 0 and now - last_emit >= STEP_EVENT_INTERVAL_S:
                last_emit = now
                _emit(queue, {"type": "step", "epoch": epoch, "loss": loss, "at": time.time()})
        metrics = {"epoch": epoch, "loss": float(np.mean(losses)) if losses else 0.0}
        metrics |= held_out()
        with tempfile.TemporaryDirectory() as tmp:
            saved = None
            if rank == 0:
                _save(tmp, module, optimizer, epoch)
                saved = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(
                {k: v for k, v in metrics.items() if k != "confusion_matrix"}, checkpoint=saved
            )
        if rank == 0:
            _emit(queue, {"type": "epoch", "steps": len(losses), **metrics})


def _held_out(head: Head, x: np.ndarray, y: np.ndarray, classes: int) -> dict[str, Any]:
    if len(y) == 0:
        return {}
    return _scores(y, predict_classes(head, x), classes)


def _scores(y: np.ndarray, predicted: np.ndarray, classes: int) -> dict[str, Any]:
    scores = evaluate(y, predicted, classes)
    return {
        "val_accuracy": scores["accuracy"],
        "val_macro_f1": scores["macro_f1"],
        "confusion_matrix": scores["confusion_matrix"],
    }


def tune_trial(config: dict[str, Any], data: Any) -> None:
    """One Tune trial: the head trained in the trial's process over the cached embeddings,
    reporting each epoch so the scheduler (ASHA) can stop it early."""
    from ray import tune

    torch.manual_seed(config["seed"])
    train_x, train_y, val_x, val_y = data
    head = Head(config["dim"], config["classes"], config["hidden"], config["dropout"])
    optimizer = _optimizer(head, config)
    g = torch.Generator().manual_seed(config["seed"])
    x, y = torch.as_tensor(train_x), torch.as_tensor(train_y)
    for epoch in range(1, config["epochs"] + 1):
        order = torch.randperm(len(y), generator=g)
        batches = (
            (x[order[i : i + config["batch_size"]]], y[order[i : i + config["batch_size"]]])
            for i in range(0, len(y), config["batch_size"])
        )
        losses = list(train_epoch(head, optimizer, batches))
        scores = _held_out(head, val_x, val_y, config["classes"])
        scores.pop("confusion_matrix", None)
        tune.report({"epoch": epoch, "loss": float(np.mean(losses)), **scores})
