"""The runners, run from a checkout as `python -m experiments.<name>` (not installed with cnnjax).

Importing this package calls `cnnjax.runtime.configure()`: Python imports a package before any of
its modules, so every runner gets cnnjax's default XLA flags before its imports reach JAX.
"""

from cnnjax import runtime

runtime.configure()
