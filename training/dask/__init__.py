"""Feature building and LambdaRank training on a Dask cluster, the cards left on the workers."""
