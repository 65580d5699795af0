#!/usr/bin/env python3
"""A TCP proxy that adds latency: every chunk waits DELAY_MS/2 in each direction, so a request
and its answer cost DELAY_MS more, as on a long link. Throughput is not limited.

    python3 bench/latency.py LISTEN_PORT UPSTREAM_HOST:PORT DELAY_MS
"""
import asyncio
import sys
import time


async def pipe(reader, writer, delay):
    queue = asyncio.Queue()

    async def send():
        while True:
            at, data = await queue.get()
            if data is None:
                break
            wait = at + delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            await queue.put((time.monotonic(), data))
    except (ConnectionError, OSError):
        pass
    await queue.put((time.monotonic(), None))
    try:
        await sender
    except (ConnectionError, OSError):
        pass


async def main(port, upstream, delay):
    host, up_port = upstream.rsplit(":", 1)

    async def handle(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(up_port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pipe(client_reader, up_writer, delay),
            pipe(up_reader, client_writer, delay),
        )

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]) / 2000.0))
