"""`make run`'s first step: refuse at once, and say how to pick another, when the
address the server would listen on is taken (rather than starting everything else
and losing the web server's "address already in use" in the log)."""

from __future__ import annotations

import errno
import socket
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Check that HOST:PORT is free to listen on; fail with how to choose another."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("host")
        parser.add_argument("port", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"PORT={port} is not a port number: use 1 to 65535, e.g. `make run PORT=8001`.")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As uvicorn binds: a port left in TIME_WAIT by a stopped server is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise CommandError(
                        f"Port {port} on {host} is already in use (another server?). Stop it, or pick "
                        f"another port with PORT, e.g. `make run PORT={port + 1}` (HOST picks the address)."
                    ) from None
                raise CommandError(f"Cannot listen on {host}:{port}: {exc.strerror}. Set HOST and PORT.") from None
