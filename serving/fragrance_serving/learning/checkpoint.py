"""Checkpoints written atomically and verified on load.

One file per checkpoint: a header line (magic, SHA-256 of the payload, payload length) and
the payload (``torch.save`` of the learner's state). Written to a temporary file, fsynced,
renamed into place, and the directory fsynced: a writer killed at any point leaves either
the previous set of checkpoints or the new one complete. A missing, truncated or corrupted
file is reported with its path and reason and skipped for the next older one.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

MAGIC = b"FRAGRANCE-CKPT-1"
_NAME = re.compile(r"^ckpt-(\d{10})\.pt$")


class CheckpointError(Exception):
    pass


@dataclass(frozen=True)
class Loaded:
    step: int
    state: dict[str, Any]
    path: Path


class CheckpointStore:
    def __init__(self, directory: Path, keep: int = 10) -> None:
        self.directory, self.keep = Path(directory), keep
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, step: int) -> Path:
        return self.directory / f"ckpt-{step:010d}.pt"

    def steps(self) -> list[int]:
        found = (_NAME.match(p.name) for p in self.directory.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def save(self, step: int, state: dict[str, Any]) -> Path:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        payload = buffer.getvalue()
        digest = hashlib.sha256(payload).hexdigest().encode()
        header = MAGIC + b" " + digest + b" " + str(len(payload)).encode() + b"\n"
        final = self.path(step)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as out:
            out.write(header)
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
        self._fsync_directory()
        for old in self.steps()[: -self.keep]:
            self.path(old).unlink(missing_ok=True)
        return final

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, step: int) -> dict[str, Any]:
        path = self.path(step)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CheckpointError(f"{path}: cannot be read ({error.strerror})") from error
        header, _, payload = data.partition(b"\n")
        parts = header.split(b" ")
        if len(parts) != 3 or parts[0] != MAGIC:
            raise CheckpointError(f"{path}: not a checkpoint of this project (bad header)")
        if not parts[2].isdigit() or len(payload) != int(parts[2]):
            raise CheckpointError(
                f"{path}: truncated ({len(payload)} of {parts[2].decode(errors='replace')} bytes)"
            )
        if hashlib.sha256(payload).hexdigest().encode() != parts[1]:
            raise CheckpointError(f"{path}: corrupted (checksum mismatch)")
        try:
            state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        except Exception as error:  # a payload that passed its checksum but not torch
            raise CheckpointError(f"{path}: unreadable payload ({type(error).__name__})") from error
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: payload is not a state mapping")
        return state

    def latest_good(self, before: int | None = None) -> tuple[Loaded | None, list[str]]:
        """The newest checkpoint that verifies (older than ``before`` if given), and the
        "path: reason" of each newer one that did not."""
        skipped: list[str] = []
        for step in reversed(self.steps()):
            if before is not None and step >= before:
                continue
            try:
                return Loaded(step, self.read(step), self.path(step)), skipped
            except CheckpointError as error:
                skipped.append(str(error))
        return None, skipped
