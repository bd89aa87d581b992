"""Modern LeNet-5 (ReLU, max pooling) on MNIST, with +-2 pixel random shifts."""

from cnnjax.config import base_config


def get_config():
    c = base_config()
    c.dataset.name = "mnist"  # 60,000 train (5,000 held out for validation) / 10,000 test
    c.dataset.val_size = 5000
    c.dataset.augment.crop_padding = 2  # pixels: random shifts of up to 2 in each direction
    c.model = "lenet5"
    c.epochs = 20
    c.batch_size = 128
    c.optimizer.name = "momentum"
    c.optimizer.learning_rate = 0.05
    c.schedule.name = "cosine"
    return c
