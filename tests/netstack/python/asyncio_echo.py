"""An asyncio echo server and five clients over ::1, then a unix socket server."""
import asyncio
import os
async def handle(reader, writer):
    while data := await reader.readline():
        writer.write(b"echo " + data)
        await writer.drain()
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "::1", 0)
    port = server.sockets[0].getsockname()[1]
    async def client(n):
        reader, writer = await asyncio.open_connection("::1", port)
        out = []
        for i in range(3):
            writer.write(f"client {n} line {i}\n".encode())
            await writer.drain()
            out.append(await reader.readline())
        writer.close()
        await writer.wait_closed()
        return out
    results = await asyncio.gather(*(client(n) for n in range(5)))
    print(all(r == [f"echo client {n} line {i}\n".encode() for i in range(3)] for n, r in enumerate(results)))
    server.close()
    await server.wait_closed()
    # a unix socket server too
    userver = await asyncio.start_unix_server(handle, path=os.path.join(os.environ.get("TMPDIR", "/tmp"), "echo.sock"))
    reader, writer = await asyncio.open_unix_connection(os.path.join(os.environ.get("TMPDIR", "/tmp"), "echo.sock"))
    writer.write(b"over unix\n")
    print((await reader.readline()).decode().strip())
    writer.close()
    userver.close()
asyncio.run(main())
