"""The ``shelfrank`` command line: composes the training, serving and evaluation commands."""
