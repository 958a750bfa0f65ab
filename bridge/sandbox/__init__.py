"""Throwaway servers under a temp dir (MariaDB, a test CA, and later OpenLDAP, a KDC and a
PAM stack) for the demo and the integration tests. Not used by the service itself."""
