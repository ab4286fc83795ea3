"""A mall's dataset folder: loading its tables for training and evaluation, and merging the
service's event log into a new dataset folder for the next training run."""
