"""A real IMAP server for the mail tests: Debian's Dovecot (installed by `make test`),
started as a private, unprivileged instance on a free port with its own config and
mail directory. Every test takes a fresh user (any name logs in with PASSWORD), so
tests never see each other's mail. Messages are put there with IMAP APPEND."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from imap_tools import MailBoxUnencrypted, MailMessageFlags

PASSWORD = "mail-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ImapServer:
    host: str
    port: int
    password: str = PASSWORD

    def user(self) -> str:
        return f"u{uuid.uuid4().hex[:12]}"

    def _box(self, user: str) -> MailBoxUnencrypted:
        return MailBoxUnencrypted(self.host, self.port, timeout=10).login(user, self.password, initial_folder=None)

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        with self._box(user) as box:
            if not box.folder.exists(folder):
                box.folder.create(folder)
            box.append(raw, folder, flag_set=())

    def create_folder(self, user: str, folder: str) -> None:
        with self._box(user) as box:
            if not box.folder.exists(folder):
                box.folder.create(folder)

    def unseen(self, user: str, folder: str = "INBOX") -> int:
        with self._box(user) as box:
            box.folder.set(folder)
            return len(box.uids("UNSEEN"))

    def count(self, user: str, folder: str = "INBOX") -> int:
        with self._box(user) as box:
            box.folder.set(folder)
            return len(box.uids("ALL"))

    def mark_all_unseen(self, user: str, folder: str = "INBOX") -> None:
        with self._box(user) as box:
            box.folder.set(folder)
            uids = box.uids("ALL")
            if uids:
                box.flag(uids, MailMessageFlags.SEEN, False)


_CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@pytest.fixture(scope="session")
def imap_server() -> Iterator[ImapServer]:
    dovecot = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
    if dovecot is None:
        pytest.fail("Debian's dovecot-imapd is not installed (make test installs it: apt-get install dovecot-imapd)")
    # Never as root: as root, the server runs as "nobody" in a directory it owns.
    account = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.getuid())
    root = Path(tempfile.mkdtemp(prefix="assist-dovecot-"))
    for sub in ("run", "state", "home"):
        (root / sub).mkdir()
    port = _free_port()
    group = subprocess.run(["id", "-gn", account.pw_name], capture_output=True, text=True, check=True).stdout.strip()
    (root / "dovecot.conf").write_text(
        _CONFIG.format(
            root=root,
            user=account.pw_name,
            group=group,
            uid=account.pw_uid,
            gid=account.pw_gid,
            port=port,
            password=PASSWORD,
        )
    )
    # setpriv --pdeathsig: the server stops with the test process, even a killed one (set
    # after any change of user, which would clear it).
    command = ["setpriv", "--pdeathsig=TERM", dovecot, "-F", "-c", str(root / "dovecot.conf")]
    if os.geteuid() == 0:
        for path in [root, *root.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)
        command = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups", *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    server = ImapServer("127.0.0.1", port)
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"* OK"):
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            pytest.fail(f"dovecot did not start: {output}\n{log}")
        time.sleep(0.05)
    yield server
    os.killpg(process.pid, 15)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()
    shutil.rmtree(root, ignore_errors=True)
