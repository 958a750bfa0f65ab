"""Throwaway servers under a temp dir (MariaDB, a test CA, OpenLDAP, an MIT KDC, a Samba AD
domain controller, a PAM stack via pam_wrapper) and bridge processes, for the demo, the tests
and the benchmarks. A top-level package beside bench/: it is not installed with the service,
which never imports it."""
