"""The gunicorn worker: gevent's, stopping once its requests are answered rather than once its clients leave."""

from __future__ import annotations

import contextlib
import socket

from gevent import spawn
from gevent.monkey import get_original
from gunicorn.workers.ggevent import GeventWorker

# gevent's own shutdown() fails the greenlet waiting on the socket ("closed in another greenlet", logged as an
# error); the system call alone lets its read see the end, as when a client closes.
PlainSocket = get_original("socket", "socket")


class Worker(GeventWorker):
    """gunicorn's gevent worker, except that a stop waits for requests, not for idle keep-alive connections.

    gunicorn's worker exits when every connection it holds has ended (or at graceful_timeout); a connection
    between two requests waits for the next one up to `keepalive` (75 s). nginx keeps a pool of such
    connections, so every stop and restart behind it took a minute or more with nothing to finish. On a stop,
    the connections waiting for a request are closed at once; those in a request close after its answer
    (gunicorn's own rule once a worker is stopping), so open streams still finish.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.waiting: set[socket.socket] = set()  # connections between requests (or before their first)

    def handle(self, listener, client, addr) -> None:
        self.waiting.add(client)
        try:
            super().handle(listener, client, addr)
        finally:
            self.waiting.discard(client)

    def handle_request(self, listener_name, req, sock, addr) -> bool:
        self.waiting.discard(sock)
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            self.waiting.add(sock)

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        spawn(self.close_waiting)  # out of the signal handler, as gunicorn does for its own quit

    def close_waiting(self) -> None:
        """End the connections between requests as a client's close would: their next read sees the end."""
        for client in list(self.waiting):
            with contextlib.suppress(OSError):  # already gone
                plain = PlainSocket(fileno=client.fileno())
                try:
                    plain.shutdown(socket.SHUT_RD)
                finally:
                    plain.detach()  # the descriptor stays the connection's, to close
