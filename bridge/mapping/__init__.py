"""Accounts and proxy users: pure functions over immutable data."""
