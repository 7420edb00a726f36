"""The first start of a Radicale instance: its admin, with the generated
password hashed with bcrypt, in the htpasswd file Radicale reads."""
import os

import bcrypt

path = "/var/lib/radicale/users"
os.makedirs("/var/lib/radicale/collections", exist_ok=True)
if not os.path.exists(path):
    user = os.environ["ADMIN_USER"]
    hashed = bcrypt.hashpw(os.environ["ADMIN_PASSWORD"].encode(), bcrypt.gensalt()).decode()
    with open(path + ".tmp", "w") as f:
        f.write(f"{user}:{hashed}\n")
    os.chmod(path + ".tmp", 0o600)
    os.rename(path + ".tmp", path)
print(f"Radicale ready; its user is '{os.environ['ADMIN_USER']}'")
