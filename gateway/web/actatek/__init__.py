"""The ACTAtek-compatible management REST API under /cgi-bin/restapi/.

Each section of the reference lives in its own module with an `add_routes(app)` function
(`routes` mounts them all); the helpers are split by what they do: `answers` (the answers'
shapes, the refusal and its middleware), `session` (sessions and roles), `context` (what
the handlers may use of the gateway), `inputs` (strict input), `sections` (store calls,
per-item answers, `add_section`)."""
