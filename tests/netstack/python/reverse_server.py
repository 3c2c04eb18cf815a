"""A guest TCP server for the -p tests: each connection's bytes, read to the end, come back
reversed; a line on stdout says it listens, and it serves as many connections as argv[2]."""
import socket
import sys

port, connections = int(sys.argv[1]), int(sys.argv[2])
server = socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True)
print("listening", flush=True)
for _ in range(connections):
    connection, _ = server.accept()
    with connection:
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
        connection.sendall(data[::-1])
print("served", connections, flush=True)
