"""The model card moved to `destila.card` (below the workflows that write and publish it); this old import path
names the same module."""

import sys

from destila import card

sys.modules[__name__] = card
