"""A UDP server for the -p /udp test: answers every datagram with its bytes reversed, and ends
after answering one bigger than 1000 bytes (the client retries what gets no answer in time, so
the server cannot count on a number of datagrams)."""

import socket
import sys

port = int(sys.argv[1])
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("0.0.0.0", port))
print("listening", flush=True)
while True:
    data, client = server.recvfrom(65535)
    server.sendto(data[::-1], client)
    if len(data) > 1000:
        break
print("served", flush=True)
