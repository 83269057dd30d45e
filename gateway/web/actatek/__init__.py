"""The ACTAtek-compatible management REST API under /cgi-bin/restapi/.

Each section of the reference lives in its own module with an `add_routes(app)` function;
`common` holds what every endpoint shares (sessions, roles, the common error shape,
strict JSON)."""
