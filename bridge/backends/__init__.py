"""What verifies a credential: the built-in store, PAM, LDAP, Kerberos, peer credentials."""
