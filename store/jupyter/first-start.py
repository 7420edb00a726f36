"""The first start of a Jupyter instance: the notebooks' directory, and
the hash of the generated password that the notebook server checks."""
import os

from notebook.auth import passwd

os.makedirs("/var/lib/jupyter/notebooks", exist_ok=True)
path = "/var/lib/jupyter/password"
if not os.path.exists(path):
    with open(path + ".tmp", "w") as f:
        f.write(passwd(os.environ["ADMIN_PASSWORD"]) + "\n")
    os.chmod(path + ".tmp", 0o600)
    os.rename(path + ".tmp", path)
print("Jupyter Notebook ready")
