"""Superset settings for covplan's BI tests and for trying the dashboard bundle on one machine.

Metadata in SQLite under COVPLAN_SUPERSET_HOME (no Redis, no Celery): enough for the REST API and a
local look; a team's Superset keeps its own config and only imports the bundle (README, "BI tools").
"""

import os

_HOME = os.environ.get("COVPLAN_SUPERSET_HOME") or os.path.join(os.path.dirname(__file__), ".superset_home")

SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY", "covplan-local-superset-not-for-production")
SQLALCHEMY_DATABASE_URI = f"sqlite:///{os.path.join(_HOME, 'superset.db')}"
DATA_DIR = _HOME
# The API is driven with a JWT from /api/v1/security/login; no browser forms to protect here.
WTF_CSRF_ENABLED = False
TALISMAN_ENABLED = False
# Off-line machine: no telemetry, no example data, no thumbnails.
FEATURE_FLAGS = {"THUMBNAILS": False}
SUPERSET_LOG_VIEW = False
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
