"""The main job: a small CNN on scikit-learn's 8x8 digits (embedded, works offline)."""

from cnnjax.config import base_config


def get_config():
    c = base_config()
    c.dataset.name = "digits"  # 1,437 train / 360 test images, 8x8x1
    c.dataset.val_size = 150
    c.model = "small_cnn"
    c.model_args.small_cnn.update(widths=(32, 64), hidden=128, dropout_rate=0.25)
    c.epochs = 30
    c.batch_size = 64
    c.optimizer.name = "momentum"
    c.optimizer.learning_rate = 0.05
    c.schedule.name = "cosine"
    return c
