"""Platform code the capabilities build on: settings, database, errors, parsing, routing."""
