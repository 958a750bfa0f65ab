"""A PAM stack that touches nothing in /etc: pam_wrapper's libpam_wrapper.so, its
pam_matrix module with a passdb file, and service files in a temp dir."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path


def _find(pattern: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/*/{pattern}") + glob.glob(f"/usr/lib/{pattern}"))
    if not found:
        raise FileNotFoundError(f"{pattern} not found (apt-get install libpam-wrapper)")
    return found[0]


@dataclass(frozen=True)
class PamSandbox:
    directory: Path
    library: str  # libpam_wrapper.so: the bridge loads it instead of libpam
    matrix: str  # pam_matrix.so

    @classmethod
    def create(cls, directory: Path, users: list[tuple[str, str, str]]) -> PamSandbox:
        """`users`: (user, password, service) entries for pam_matrix; the 'mysql' service
        exists from the start."""
        (directory / "services").mkdir(parents=True, exist_ok=True)
        sandbox = cls(directory, _find("libpam_wrapper.so"), _find("pam_wrapper/pam_matrix.so"))
        sandbox.set_users(users)
        sandbox.add_service("mysql")
        return sandbox

    @property
    def passdb(self) -> Path:
        return self.directory / "passdb"

    def set_users(self, users: list[tuple[str, str, str]]) -> None:
        self.passdb.write_text("".join(f"{u}:{p}:{s}\n" for u, p, s in users))

    def add_service(self, name: str, extra_auth: list[str] | None = None) -> None:
        """auth and account by pam_matrix (then any extra auth lines, e.g. a second factor)."""
        matrix = f"{self.matrix} passdb={self.passdb}"
        lines = [f"auth required {matrix}", *(extra_auth or []), f"account required {matrix}"]
        (self.directory / "services" / name).write_text("\n".join(lines) + "\n")

    def env(self) -> dict[str, str]:
        """What the bridge's process needs in its environment to use this stack."""
        return {"PAM_WRAPPER": "1", "PAM_WRAPPER_SERVICE_DIR": str(self.directory / "services")}

    def config(self) -> dict[str, str]:
        return {"library": self.library, "service": "mysql"}
