"""The client side of the protocol toward the real server, and the relay."""
