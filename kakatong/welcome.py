"""What the log says when the appliance starts serving: where to open it from another device.

A new owner reads the first lines of `make run` or `docker logs`, so they name the box's
addresses on the shop's network (never 0.0.0.0): the owner's first-run page while no owner
password is set, else the back office's sign-in; the terminal page; and, while the demo cards
are in the database, their numbers (their PINs stay in the README, never in a log).
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from pathlib import Path

from .cli import DEMO_CSV, DEMO_INACTIVE
from .config import Config
from .domain import staff
from .store.models import Card
from .web.https import fingerprint

SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address
WILDCARDS = ("", "0.0.0.0", "::")


def lan_addresses() -> list[str]:
    """The IPv4 addresses of this box's network interfaces, loopback and link-local left out.

    Read from each interface (Linux), so a box without a default route (a shop's LAN without
    internet) still names its address; where that cannot be read, the address the default
    route would use."""
    found: list[str] = []
    try:
        interfaces = socket.if_nameindex()
    except OSError:
        interfaces = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in interfaces:
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, request)
            except OSError:
                continue  # down, or no IPv4 address
            found.append(socket.inet_ntoa(answer[20:24]))
        if not found:
            try:
                probe.connect(("192.0.2.1", 9))  # nothing is sent: UDP only picks a route
                found.append(probe.getsockname()[0])
            except OSError:
                pass
    usable = []
    for text in found:
        address = ipaddress.ip_address(text)
        hidden = address.is_loopback or address.is_link_local or address.is_unspecified
        if not hidden and text not in usable:
            usable.append(text)
    return usable


def hosts(config: Config) -> list[str]:
    """The host names to put in the URLs: the LAN addresses when serving on every interface."""
    if config.host in WILDCARDS:
        # The names given for the certificate first: in a container with mapped ports they
        # are the box's, where the container's own address is reachable by no tablet.
        given = [n.strip() for n in config.tls_names.split(",") if n.strip()]
        found = [a for a in lan_addresses() if a not in given]
        return [*given, *found] or ["127.0.0.1"]
    return [config.host]


def demo_cards() -> tuple[list[str], list[str]]:
    """The demo cards still in the database (a shop that imported its own has none): the
    active ones, and the card stock ready to activate."""
    active = [line.split(",", 1)[0] for line in DEMO_CSV.strip().splitlines()[1:]]
    present = {
        c.card_no
        for c in Card.select(Card.card_no).where(Card.card_no.in_([*active, DEMO_INACTIVE]))
    }
    stock = [DEMO_INACTIVE] if DEMO_INACTIVE in present else []
    return [number for number in active if number in present], stock


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def lines(config: Config, https_port: int | None = None) -> list[str]:
    """The lines to log once the server listens (`https_port`: where HTTPS serves, if it
    does)."""
    names = hosts(config)
    out = []
    loopback_only = config.host not in WILDCARDS and _loopback(config.host)
    if loopback_only:
        out.append(
            f"Listening on {config.host} only: other devices cannot reach it "
            "(set KAKATONG_HOST=0.0.0.0 to serve the shop's network)"
        )
        urls = [f"http://{host}:{config.port}" for host in names]
    elif https_port:
        # Other devices use HTTPS; each trusts the shop's certificate once, from this page.
        out += [
            f"Each tablet or phone trusts the shop's certificate once: http://{host}:{config.port}/tls"
            for host in names
        ]
        ca = Path(config.data_dir) / "tls" / "ca.crt"
        if ca.exists():
            sha256 = fingerprint(ca.read_bytes())
            out.append(f"The shop's certificate, SHA-256 (compare on each device): {sha256}")
        urls = [f"https://{host}:{https_port}" for host in names]
    elif config.tls:
        # HTTPS failed to start (the error is above): only this box's own browser is served.
        out.append(
            "Other devices get no page until HTTPS starts; on this box: "
            f"http://127.0.0.1:{config.port}/terminal"
        )
        urls = [f"http://127.0.0.1:{config.port}"]
    else:
        urls = [f"http://{host}:{config.port}" for host in names]
    if staff.owner_password_set():
        out += [f"Back office: {url}/login" for url in urls]
    else:
        out.append("No owner password yet: open the first-run page to set it")
        out += [f"First run (owner): {url}/setup" for url in urls]
    out += [f"Terminal page: {url}/terminal" for url in urls]
    active, stock = demo_cards()
    if config.demo and active:
        out.append(f"Demo cards (their PINs are in the README): {', '.join(active)}")
    if config.demo and stock:
        out.append(f"Demo card stock, ready to activate: {', '.join(stock)}")
    return out
