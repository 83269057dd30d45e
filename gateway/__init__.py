"""door-gateway: an asyncio door access controller for a Raspberry Pi."""

__version__ = "0.1.0"
