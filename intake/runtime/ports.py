"""Checks made before a server starts: is the address ours and the port free? Said in French, before any work."""

from __future__ import annotations

import errno
import socket


class PortError(Exception):
    """The server could not listen there; the message says why and what to do, in French."""


def check_port_free(host: str, port: int, *, what: str = "le serveur web", option: str = "--port") -> None:
    """Raise PortError when `what` could not listen on host:port (taken, privileged, or not this machine's)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise PortError(
            f"adresse d'écoute inconnue : {host!r} (--host 127.0.0.1, 0.0.0.0 ou le nom de la machine)"
        ) from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortError(
                    f"le port {port} est déjà utilisé sur {host} (Guichet déjà lancé, ou un autre "
                    f"serveur) : arrêtez-le ou choisissez un autre port pour {what} ({option})"
                ) from None
            if exc.errno == errno.EACCES:
                raise PortError(
                    f"pas le droit d'écouter sur le port {port} (ports sous 1024 réservés à root) : "
                    f"choisissez un port au-dessus de 1024 pour {what} ({option})"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise PortError(f"l'adresse {host} n'appartient pas à cette machine (--host)") from None
            raise PortError(f"impossible d'écouter sur {host}:{port} — {exc.strerror}") from None
