"""`make bench`: load tests of the API against a bare-Flask baseline."""
