"""Reference twins: models, layouts and device simulators for demos and tests."""
