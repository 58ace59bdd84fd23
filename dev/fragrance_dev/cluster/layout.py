"""Where the local control plane keeps its tools, state and logs."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path


def project_root() -> Path:
    """The checkout holding ``hack/tools`` (the control plane is a development tool)."""
    override = os.environ.get("FRAGRANCE_ROOT")
    if override:
        return Path(override).resolve()
    for parent in Path(__file__).resolve().parents:
        if (parent / "hack" / "tools").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    raise RuntimeError(
        "cannot find the project checkout (hack/tools); set FRAGRANCE_ROOT to its path"
    )


@dataclass(frozen=True)
class Layout:
    root: Path
    state_dir: Path | None = None  # a second cluster beside the default one (tests)

    @classmethod
    def default(cls) -> Layout:
        return cls(project_root())

    @property
    def tools_src(self) -> Path:
        return self.root / "hack" / "tools"

    @property
    def tools_dir(self) -> Path:
        """Built binaries, cached between runs (outside .cluster so cluster-down keeps them)."""
        override = os.environ.get("FRAGRANCE_TOOLS_DIR")
        return Path(override) if override else self.root / ".cache" / "tools"

    @property
    def state(self) -> Path:
        return self.state_dir or self.root / ".cluster"

    @property
    def bin(self) -> Path:
        return self.state / "bin"

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.state / "cluster.json"

    @property
    def crds(self) -> Path:
        return self.root / "crds"

    def clear(self, keep_logs: bool = False) -> None:
        """Empty the state directory (the logs kept when asked)."""
        if not self.state.is_dir():
            return
        for child in self.state.iterdir():
            if keep_logs and child == self.logs:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
