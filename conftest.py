"""Project-level pytest wiring: the thin fixtures that hand facts and profile slices to checks."""
pytest_plugins = ["fixtures.params", "fixtures.facts", "fixtures.hardware", "fixtures.ops", "fixtures.network",
                  "fixtures.access"]
