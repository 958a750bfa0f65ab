"""Sans-IO MySQL client/server protocol: bytes in, dataclasses out, and back.

Nothing in this package imports asyncio or socket.
"""
