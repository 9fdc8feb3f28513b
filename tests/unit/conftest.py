"""Unit tests start no process and open no socket (no Redis, no HTTP): the guard below
fails a test that tries, naming the folder it belongs in instead."""

from tests.support.isolation import no_sockets_or_processes

__all__ = ["no_sockets_or_processes"]
