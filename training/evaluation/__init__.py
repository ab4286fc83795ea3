"""Offline evaluation of a bundle: ranking metrics, the evaluation against baselines and the
oracle, its report, and the position-debias study."""
