"""MQTT: the journal, the doors' state and Home Assistant discovery published to a broker,
and door commands taken from it (docs/fleet.md).

`topics` names every topic, `payloads` and `discovery` build what is published (pure),
`commands` decides and carries out what arrives, `publisher` sends the journal from its
durable cursor, and `session` keeps the connection (reconnecting with back-off) and runs
them. `gateway.app` builds it only when `[mqtt] url` is set.
"""
