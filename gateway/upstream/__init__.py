"""Talking to servers: the Akuvox verify protocol for credentials the cache does not know
(`flow.UpstreamFlow`, built on `verify`, `breaker`, `cache`, `template`, `answer`) and the
anti-passback URLs sent after a grant (`antipassback.AntiPassbackNotifier`)."""
