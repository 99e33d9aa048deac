"""One module per measure; ``bench.registry`` lists them in the order they run."""
