"""covplan ml."""
