"""The health check of calibre's content server: the library's information,
asked as the admin (every page needs a user), must come back as JSON."""
import base64
import json
import os
import urllib.request

auth = base64.b64encode(f"{os.environ['ADMIN_USER']}:{os.environ['ADMIN_PASSWORD']}".encode()).decode()
req = urllib.request.Request(f"http://127.0.0.1:{os.environ['PORT']}/ajax/library-info",
                             headers={"Authorization": "Basic " + auth})
with urllib.request.urlopen(req, timeout=8) as r:
    json.load(r)["library_map"]
