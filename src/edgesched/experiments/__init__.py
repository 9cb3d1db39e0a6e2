"""Running many (scheduler, scenario, seed) cells, writing result tables, summaries and plots."""
