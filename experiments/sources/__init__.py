"""Where a sweep's images come from: files, folders, lists and Hugging Face datasets."""

from experiments.sources.collect import *  # noqa: F403
from experiments.sources.opening import *  # noqa: F403
