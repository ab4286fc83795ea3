"""Test helpers for a real service process (the implementation lives in shelfrank.local_service)."""

from shelfrank.local_service import free_port, start_service, stop_service

__all__ = ["free_port", "start_service", "stop_service"]
