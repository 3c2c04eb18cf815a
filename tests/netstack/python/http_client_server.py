"""python3 -m http.server's server and a urllib client in one process, over 127.0.0.1."""
import http.server
import threading
import urllib.request


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
port = server.server_address[1]
threading.Thread(target=server.serve_forever, daemon=True).start()
for path in ("/", "/etc/", "/no/such/file"):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as answer:
            print(path, answer.status, answer.read()[:15])
    except urllib.error.HTTPError as error:
        print(path, error.code)
server.shutdown()
