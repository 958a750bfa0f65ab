"""mysql-auth-bridge: an external authentication gateway for MySQL and MariaDB."""

__version__ = "0.1.0"
