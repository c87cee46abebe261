"""Where a cluster listens: the scheduler on a private address, the dashboard on localhost.

- ``local`` / ``local-cuda``: scheduler and workers on 127.0.0.1.
- ``slurm``: the scheduler on the address of ``interface`` when set, else on this node's address that routes
  to the SLURM controller (the cluster network the compute nodes share), never on all interfaces.
- the dashboard: ``127.0.0.1:<port>`` unless the setting names another host explicitly; a port alone
  (``":8787"``) binds 127.0.0.1 too. It is reached by an SSH tunnel or JupyterLab's proxy
  (docs/SUPERCOMPUTER.md).
"""

from __future__ import annotations

import re
import socket
import subprocess
from typing import Any

from .errors import ClusterError

__all__ = ["LOCALHOST", "dashboard_address", "slurm_controller", "route_address", "slurm_scheduler_host"]

LOCALHOST = "127.0.0.1"
_CTLD = re.compile(r"^\s*(?:SlurmctldHost\[\d+\]|ControlMachine|ControlAddr)\s*=\s*([^\s(]+)(?:\(([^)]+)\))?",
                   re.MULTILINE)


def dashboard_address(s: dict[str, Any]) -> str:
    """The dashboard (and the scheduler's HTTP server) address from ``dashboard-address``: a bare port binds
    127.0.0.1; ``null`` (no dashboard) still needs a port for the HTTP server: any free one on 127.0.0.1."""
    value = s.get("dashboard-address")
    if value is None:
        return f"{LOCALHOST}:0"
    text = str(value).strip()
    if text.isdigit():
        return f"{LOCALHOST}:{text}"
    host, sep, port = text.rpartition(":")
    if sep and not host:
        return f"{LOCALHOST}:{port}"
    return text


def slurm_controller() -> str | None:
    """The SLURM controller's address (``SlurmctldHost`` of ``scontrol show config``), or ``None``."""
    try:
        proc = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _CTLD.search(proc.stdout) if proc.returncode == 0 else None
    if match is None:
        return None
    return match.group(2) or match.group(1)


def route_address(target: str) -> str:
    """This host's IP address on the route to ``target`` (a host name or address); no packet is sent."""
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(target, 1, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect(sockaddr)
            return str(sock.getsockname()[0])
    except OSError as exc:
        raise ClusterError(f"cannot find this node's address towards the SLURM controller {target}: {exc}",
                           fix="set interface= to the network interface the compute nodes reach (`ip -br addr`, "
                               "e.g. ib0), or scheduler_options={host: ADDRESS}") from None


def slurm_scheduler_host(s: dict[str, Any]) -> dict[str, str]:
    """The scheduler option that fixes where a SLURM cluster's scheduler listens: ``{"interface": ...}``,
    ``{"host": ...}`` from ``scheduler-options``, or ``{"host": <the address towards slurmctld>}``."""
    options = dict(s.get("scheduler-options") or {})
    if options.get("host") or options.get("interface"):
        return {}
    if s.get("interface"):
        return {"interface": str(s["interface"])}
    controller = slurm_controller()
    if controller is None:
        raise ClusterError("cannot tell which network the compute nodes share: `scontrol show config` names no "
                           "SlurmctldHost", fix="set interface= (e.g. ib0) or scheduler_options={host: ADDRESS}")
    return {"host": route_address(controller)}
