"""Jobs: spec validation, the durable store, the state table and the runner."""
