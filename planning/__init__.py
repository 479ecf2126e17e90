"""covplan planning."""
