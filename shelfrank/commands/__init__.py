"""Subcommands of ``shelfrank``, one module per area; each has ``register(app)``."""
