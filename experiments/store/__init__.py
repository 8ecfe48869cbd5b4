"""The run store (being split into modules)."""

from experiments.store.csv_file import *  # noqa: F403
