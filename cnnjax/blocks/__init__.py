"""Reusable building blocks: Inception, Xception, attention, highway and residual blocks."""
