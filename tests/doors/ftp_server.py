"""An FTP server on loopback (pyftpdlib) with one account, for the FTP input action."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

PASSWORD = "Ftp-s3cret-77"


@dataclass
class FtpSite:
    """A loopback FTP server with one account ("door") whose home is `root`."""

    root: Path
    port: int

    def url(self, password: str = PASSWORD, path: str = "/events/") -> str:
        return f"ftp://door:{password}@127.0.0.1:{self.port}{path}"

    def stored(self) -> list[Path]:
        """The files stored in /events/ so far."""
        return sorted((self.root / "events").iterdir())


@contextmanager
def serve_ftp(root: Path) -> Iterator[FtpSite]:
    """Serve `root` (with an empty events/ in it) until the block ends."""
    (root / "events").mkdir(parents=True)
    authorizer = DummyAuthorizer()
    authorizer.add_user("door", PASSWORD, str(root), perm="elrw")
    # auth_failed_timeout: answer a wrong password at once (the default waits 3 s)
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "auth_failed_timeout": 0})
    server = FTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.05})
    thread.start()
    try:
        yield FtpSite(root, server.address[1])
    finally:
        server.close_all()
        thread.join(timeout=5)
