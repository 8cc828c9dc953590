"""The operator console at /console: the pool at a glance, in the browser (views.bp)."""
