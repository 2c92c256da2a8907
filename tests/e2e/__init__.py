"""End-to-end runs of plancheck's commands on the repository's own files, as a user starts them:
`python -m plancheck.gate` against a git ref, pytest in a child process with spaced options, the HTML
report in a headless browser. Hermetic like tests/unit (no deployment, no Docker engine, no network
beyond loopback), but each starts processes, so they are kept out of the fast in-process unit suite;
`make test` runs them after it."""
