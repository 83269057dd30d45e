"""Super Mode: the rescue path that opens one door for a short list of administrator cards
while the main service is down (docs/rescue.md).

Its own process (`python -m gateway.rescue`, the unit `door-gateway-rescue.service`), with
none of the main daemon's moving parts: no web server, no SQLite, no upstream. It reads two
files the main daemon wrote (`gateway.rescue.files`) and drives one Wiegand reader and one
relay (`gateway.rescue.door`). Deliberately empty: importing the rescue loads nothing more.
"""
