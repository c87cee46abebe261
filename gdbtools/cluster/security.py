"""Who may use a cluster: TLS with temporary credentials by default, and scheduler files that carry them.

A cluster started by gdbtools gets a fresh key and self-signed certificate (:meth:`distributed.security.
Security.temporary`), held in memory by this process and handed to its workers; the scheduler and every worker
require TLS with a certificate signed by that key (mutual TLS), so another user on the node cannot connect a
client, a worker or a plain ``tcp://`` connection. ``security: false`` (``--insecure``) turns this off.

Other processes of the owner (a notebook, a second script) connect through the scheduler file, which then
holds the credentials and is written readable by the owner only (mode 0600).
"""

from __future__ import annotations

import json
import os
from typing import Any

from .errors import ClusterError

__all__ = ["cluster_security", "wants_tls", "is_secure", "write_scheduler_file", "scheduler_file_security",
           "private_directory"]

#: the key of the scheduler file under which :func:`write_scheduler_file` stores the credentials
CREDENTIALS_KEY = "gdbtools-tls"


def cluster_security(s: dict[str, Any]):
    """The :class:`distributed.security.Security` of a new cluster from the setting ``security``, or ``None``
    for plain TCP (``security: false``).

    ``true`` (the default) makes temporary credentials; a ``Security`` object (Python only) is used as given.
    """
    from distributed.security import Security

    value = s.get("security", True)
    if isinstance(value, Security):
        return value
    if not wants_tls(s):
        return None
    try:
        return Security.temporary()
    except ImportError:
        raise ClusterError("a secured cluster (the default) needs the `cryptography` package for its temporary "
                           "TLS credentials, which is not installed",
                           fix="pip install cryptography (a gdbtools dependency), or security=False / "
                               "--insecure on a machine no one else uses") from None


def wants_tls(s: dict[str, Any]) -> bool:
    """Whether the setting ``security`` asks for TLS: ``true`` (default), or a ``Security`` that requires it;
    ``false`` / ``"false"`` / ``"insecure"`` do not."""
    value = s.get("security", True)
    if isinstance(value, str):
        return value.lower() not in ("false", "no", "off", "insecure")
    return bool(value) and getattr(value, "require_encryption", True) is not False


def is_secure(security) -> bool:
    """Whether ``security`` (a ``Security`` or ``None``) makes the cluster require TLS."""
    return security is not None and bool(security.require_encryption)


def private_directory(path: str) -> str:
    """``path`` (``~`` and ``$VARS`` expanded) created if needed, readable by the owner only (mode 0700)."""
    path = os.path.abspath(os.path.expandvars(os.path.expanduser(path)))
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
    except OSError as exc:
        raise ClusterError(f"cannot create the private credentials directory {path}: {exc}",
                           fix="set security_directory= to a directory of yours on a file system the compute "
                               "nodes share (e.g. under your home)") from None
    return path


def write_scheduler_file(client, path: str) -> None:
    """Write the scheduler file of ``client`` (Dask's JSON: address, ...) to ``path``; when the cluster uses TLS,
    with its client credentials, and readable by the owner only (mode 0600, also when the file existed)."""
    info = client.scheduler_info(n_workers=0)
    info = {"address": client.scheduler.address, **{k: v for k, v in info.items() if k != "workers"}}
    security = getattr(client, "security", None)
    if security is not None and is_secure(security):
        info[CREDENTIALS_KEY] = {key: value for key, value in security.get_tls_config_for_role("client").items()
                                 if value is not None}
    path = os.path.expanduser(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f, indent=2)


def scheduler_file_security(info: dict[str, Any]):
    """The client :class:`~distributed.security.Security` for a scheduler file's contents (``None`` when the
    file carries no credentials: a scheduler without TLS, or one secured by the site's Dask TLS config)."""
    creds = info.get(CREDENTIALS_KEY)
    if not creds:
        return None
    from distributed.security import Security

    return Security(tls_ca_file=creds.get("ca_file"), tls_client_cert=creds.get("cert"),
                    tls_client_key=creds.get("key"), tls_ciphers=creds.get("ciphers"), require_encryption=True)
