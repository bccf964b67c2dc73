"""Helpers for fault-scenario tests.

Each helper runs its own private instance (RabbitMQ node, PostgreSQL server, TCP proxy) so a
test can kill, stop or partition it without touching the shared services on 5672 / 5432.
"""

from .private_postgres import PrivatePostgres
from .private_rabbit import PrivateRabbitNode
from .tcp_proxy import SilentDropProxy

__all__ = ["PrivatePostgres", "PrivateRabbitNode", "SilentDropProxy"]
