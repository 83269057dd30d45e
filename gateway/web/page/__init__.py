"""The technician status page: server-rendered HTML on the daemon's own web server.

`add_page_routes` sets up the frame (`site.py`: templates, static files, navigation, the
login guard) and the pages; docs/status-page.md says how to add one. The page reads the
daemon only through the web layer's protocols, like the JSON API, and is served on the
event loop beside it, never on the decision path (a decision does not wait for a page).
"""

from __future__ import annotations

from aiohttp import web

from gateway.web.page import dashboard, login, site


def add_page_routes(app: web.Application) -> None:
    """The frame, the login pages and the dashboard; a feature's page module adds its own
    routes with `site.add_page` (one line in `gateway.web.server.build_app`)."""
    site.setup_site(app)
    login.add_login_routes(app)
    dashboard.add_dashboard_routes(app)
