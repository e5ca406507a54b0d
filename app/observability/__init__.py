"""What operators watch: Prometheus metrics and structured request logs."""
