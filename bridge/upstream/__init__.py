"""The client side of the protocol toward the real server (the login, what a session asks
for, the pool, KILL), and the relay."""
