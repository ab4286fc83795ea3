"""Learning to rank: the point-in-time dataset and its labels, the funnel and LambdaRank models,
position bias, and ``train_bundle``, which turns a mall's logs into a bundle."""
