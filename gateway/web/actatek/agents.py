"""Section 9: agents, HTTP endpoints the journal is pushed to (capability "agents").

- `POST agent/{sessionid}` {"url", "agentVersion" ("1.2"), "magic" (""), "initSync"
  (false)}: registers the agent, or updates the one with the same URL. A new agent gets
  the events from now on; with `initSync` every event still in the journal is sent first
  (as the reference says: "all logs will be sent to agent after register"). Pushing
  starts at once (`Forwarder.agents_changed`).
- `DELETE agent/{sessionid}?url=`: unregisters it (the URL with or without its
  user:password@ part).
- `GET agent/{sessionid}`: the registered agents, with the reference's fields and ours
  (`gateway.store.agents.Agent.as_reference`). A URL's user:password@ is never shown or
  journaled, and neither is `magic`.

The agent store and the forwarder are `gateway.store.agents` and `gateway.upstream.forward`;
docs/forwarding.md describes what an agent receives.
"""

from __future__ import annotations

from aiohttp import web

from gateway.store.validate import MAX_URL_LENGTH
from gateway.web.actatek.answers import ActatekError, success
from gateway.web.actatek.context import context_of
from gateway.web.actatek.inputs import boolean, read_object, short, text
from gateway.web.actatek.session import endpoint, session_of

CAPABILITY = "agents"
PATH = "/cgi-bin/restapi/agent/{sessionid}"
FIELDS = frozenset({"url", "agentVersion", "magic", "initSync"})


@endpoint(CAPABILITY)
async def register(request: web.Request) -> web.Response:
    """POST agent/{sessionid}."""
    body = await read_object(request, FIELDS, "agent")
    url = text(body, "url", MAX_URL_LENGTH, required=True)
    version = text(body, "agentVersion", 16)
    magic = text(body, "magic", 256)
    init_sync = boolean(body, "initSync") or False
    assert url is not None
    ctx = context_of(request)
    agent = await ctx.forwarder.register(
        url, agent_version=version, magic=magic, init_sync=init_sync
    )
    detail = f"url={agent.public_url} init_sync={init_sync}"
    ctx.record_api("agent_registered", session_of(request).username, detail)
    return success("agent registered")


@endpoint(CAPABILITY)
async def unregister(request: web.Request) -> web.Response:
    """DELETE agent/{sessionid}?url=."""
    url = _url_param(request)
    ctx = context_of(request)
    agent = await ctx.forwarder.unregister(url)
    ctx.record_api("agent_unregistered", session_of(request).username, f"url={agent.public_url}")
    return success("Unregistration Agent Success")


def _url_param(request: web.Request) -> str:
    """The one `url` query parameter (a URL may be longer than other query values)."""
    extra = sorted(set(request.query) - {"url"})
    if extra:
        raise ActatekError(f"unknown query parameter {short(extra[0])}; expected url")
    values = request.query.getall("url", [])
    if len(values) != 1:
        raise ActatekError("url: required, once")
    url = values[0]
    if not url or len(url) > MAX_URL_LENGTH or not url.isprintable():
        raise ActatekError(f"url: expected a URL of at most {MAX_URL_LENGTH} characters")
    return url


@endpoint(CAPABILITY)
async def list_agents(request: web.Request) -> web.Response:
    """GET agent/{sessionid}."""
    if request.query:
        raise ActatekError("this endpoint takes no query parameters")
    agents = await context_of(request).forwarder.list_agents()
    return web.json_response([agent.as_reference() for agent in agents])


def add_routes(app: web.Application) -> None:
    app.router.add_post(PATH, register)
    app.router.add_delete(PATH, unregister)
    app.router.add_get(PATH, list_agents)
