"""The load generator: a minimal asyncio HTTP/1.1 keep-alive client on raw sockets.

Each connection is an asyncio.Protocol that sends its next request from the callback
that completes the previous response: no coroutine per request, no header objects, no
body decoding. One core of Python drives thousands of requests a second this way,
which leaves the other core to the server under test.
"""

import asyncio
import collections
import dataclasses
import resource
import time


def http_request(method, path, body=b"", token=None, host="127.0.0.1"):
    """The bytes of one HTTP/1.1 keep-alive request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "User-Agent: jobsapi-bench"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body or method in ("POST", "PATCH", "PUT", "DELETE"):
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclasses.dataclass
class Result:
    count: int = 0
    elapsed: float = 0.0
    latencies: list = dataclasses.field(default_factory=list)
    statuses: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    last_body: bytes = b""
    client_cpu: float = 0.0  # CPU seconds this process used while generating the load

    @property
    def rate(self):
        return self.count / self.elapsed if self.elapsed else 0.0

    @property
    def errors(self):
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    def percentile(self, p):
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class _Run:
    def __init__(self, make_request, duration, count, keep_body):
        self.make_request = make_request
        self.deadline = None if duration is None else time.perf_counter() + duration
        self.count = count
        self.issued = 0
        self.keep_body = keep_body
        self.result = Result()

    def next_request(self):
        if self.count is not None and self.issued >= self.count:
            return None
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            return None
        request = self.make_request(self.issued)
        self.issued += 1
        return request


class _Connection(asyncio.Protocol):
    def __init__(self, run, done):
        self.run = run
        self.done = done
        self.buffer = bytearray()
        self.transport = None
        self.sent_at = 0.0
        self.reconnect = False

    def connection_made(self, transport):
        self.transport = transport
        self._send()

    def _send(self):
        request = self.run.next_request()
        if request is None:
            self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data):
        self.buffer += data
        while True:
            parsed = _parse(self.buffer)
            if parsed is None:
                return
            status, end, body_start, close = parsed
            result = self.run.result
            result.latencies.append(time.perf_counter() - self.sent_at)
            result.count += 1
            result.statuses[status] += 1
            if self.run.keep_body and 200 <= status < 300:
                result.last_body = bytes(self.buffer[body_start:end])
            del self.buffer[:end]
            if close:
                self.reconnect = True
                self.transport.close()
                return
            self._send()

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_result((self.reconnect, exc))


def _parse(buffer):
    """(status, end of response, start of body, server closes) or None if incomplete."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buffer[:head_end]).lower()
    status = int(head[9:12])
    body_start = head_end + 4
    close = b"\r\nconnection: close" in head
    marker = head.find(b"\r\ncontent-length:")
    if marker >= 0:
        line_end = head.find(b"\r\n", marker + 2)
        length = int(head[marker + 17:line_end if line_end >= 0 else None])
        end = body_start + length
        return (status, end, body_start, close) if len(buffer) >= end else None
    if b"\r\ntransfer-encoding: chunked" in head:
        position = body_start
        while True:
            size_end = buffer.find(b"\r\n", position)
            if size_end < 0:
                return None
            size = int(bytes(buffer[position:size_end]).split(b";")[0], 16)
            position = size_end + 2 + size + 2
            if len(buffer) < position:
                return None
            if size == 0:
                return status, position, body_start, close
    return status, body_start, body_start, close  # 204, 304: no body


async def _drive(port, make_request, connections, duration, count, keep_body):
    loop = asyncio.get_running_loop()
    run = _Run(make_request, duration, count, keep_body)
    started = time.perf_counter()

    ports = list(port) if isinstance(port, (list, tuple)) else [port]

    async def one_connection(n):
        while True:
            done = loop.create_future()
            await loop.create_connection(lambda: _Connection(run, done), "127.0.0.1",
                                         ports[n % len(ports)])
            reconnect, exc = await done
            if exc is not None:
                raise exc
            if not reconnect:
                return

    await asyncio.gather(*(one_connection(n) for n in range(connections)))
    run.result.elapsed = time.perf_counter() - started
    return run.result


def load(port, make_request, connections=1, duration=None, count=None, keep_body=False):
    """Send `make_request(i)` over `connections` keep-alive connections (spread in turn
    over the ports when `port` is a list of them), each waiting for its response before
    the next request, until `duration` seconds or `count` requests; return the Result."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = asyncio.run(_drive(port, make_request, connections, duration, count, keep_body))
    after = resource.getrusage(resource.RUSAGE_SELF)
    result.client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


DESCRIPTION = ("asyncio raw-socket HTTP/1.1 keep-alive client (bench/loadgen.py, "
               "one asyncio.Protocol per connection, no third-party HTTP library)")
