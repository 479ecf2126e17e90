"""covplan orchestration."""
