"""A run small enough for subprocess tests: digits, a 32-unit MLP, many short epochs."""

from cnnjax.config import base_config


def get_config():
    c = base_config()
    c.dataset.name = "digits"
    c.dataset.val_size = 100
    c.dataset.augment.crop_padding = 1
    c.model = "mlp"
    c.model_args.mlp.update(hidden_sizes=(32,), dropout_rate=0.2)
    c.epochs = 12
    c.batch_size = 16
    c.steps_per_sync = 5
    c.optimizer.learning_rate = 0.05
    return c
