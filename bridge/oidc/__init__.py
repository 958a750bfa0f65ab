"""OpenID Connect: ID token verification (tokens.py) and the providers' signing keys
(keys.py). The backend that uses them is bridge/backends/oidc.py."""
