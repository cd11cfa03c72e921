"""The projections worker's web views: /health and /metrics (no viewer data here)."""

from streams.app import app, settings
from streams.health import ProgressWatch, install_operational_views

watch = ProgressWatch(app, settings.worker_stall_after_s)
install_operational_views(app, watch)
