"""Experiments: the closed loop against a running service, the page value it should show, the
logging-policy control, A/B and interleaving analysis, and off-policy estimates from logs."""
