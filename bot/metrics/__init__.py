"""What the bot measures for Prometheus: the queue's events as counters and histograms, the queue's
and workers' state read at each scrape, in one registry per process (``Metrics``)."""
