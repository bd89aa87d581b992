"""CIFAR ResNet-20 (option A, 269,722 parameters) on CIFAR-10 in 15 epochs.

The short-schedule recipe of the README's results table: all 50,000 training images (no
held-out split; the test figure is the final model's, never a selection on test), crop+flip,
a one-cycle Nesterov schedule and L2 on the kernels. The summary reports the test accuracy of
one view (`test_accuracy`, 85.5% over 3 seeds) and with test-time flips
(`test_accuracy_flip`, 86.4%). Batch 64 or 32 at the linearly scaled learning rate, or peak
0.4, trained no better in 15 epochs; label smoothing 0.1 together with zero-initialised
residual branches did worse (82.42%): see the README.
"""

from experiments.configs import cifar10


def get_config():
    c = cifar10.get_config()
    c.dataset.val_size = 0  # train on all 50,000 images; the test split is only reported
    c.model = "resnet20"
    c.epochs = 15
    c.batch_size = 128
    c.optimizer.name = "nesterov"
    c.optimizer.learning_rate = 0.2  # peak of the one-cycle schedule, per batch of 128
    c.schedule.name = "onecycle"
    c.schedule.pct_start = 0.25  # 3.75 epochs of warm-up from lr / 25
    c.loss.l2 = 5e-4  # on convolution and dense kernels
    c.eval_flip_average = True  # also report test accuracy with test-time horizontal flips
    return c
