"""Verbatim's selective forwarding unit on aiortc (docs/sfu.md)."""

from sfu.server import Sfu

__all__ = ["Sfu"]
