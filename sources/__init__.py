"""covplan sources."""
