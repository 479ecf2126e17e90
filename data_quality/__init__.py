"""covplan data_quality."""
