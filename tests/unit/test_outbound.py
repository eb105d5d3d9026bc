"""The outbound policy: which addresses user-chosen URLs may reach, at save and at connect."""

from __future__ import annotations

import ipaddress

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from chatbot.http.outbound import address_allowed, guarded_connector, host_address, url_problem


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "0.0.0.0", "10.1.2.3", "172.31.0.1", "192.168.0.1", "169.254.169.254",
        "100.64.0.1", "224.0.0.251", "240.0.0.1", "255.255.255.255", "::", "::1", "fe80::1",
        "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:a00:1::",
        "2001:db8::1",
    ],
)  # fmt: skip
def test_non_global_addresses_are_refused(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_global_addresses_are_allowed(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("api.example.com", None),
        ("cafe", None),
    ],
)
def test_ip_literals_are_read_in_every_form_a_resolver_accepts(
    host: str, address: str | None
) -> None:
    expected = None if address is None else ipaddress.ip_address(address)
    assert host_address(host) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://[::ffff:127.0.0.1]:8000/v1",
        "http://localhost/v1",
        "http://LocalHost./v1",
        "http://0x7f.1/v1",
    ],
)
async def test_url_problem_names_the_refused_host(url: str) -> None:
    problem = await url_problem(url)
    assert problem is not None
    assert "not a public internet address" in problem


async def test_a_name_that_does_not_resolve_is_left_to_the_connection_check() -> None:
    assert await url_problem("https://nothing-here.invalid/v1") is None


@pytest.fixture
async def local_server(aiohttp_server: object) -> TestServer:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="inside")

    app = web.Application()
    app.router.add_get("/", hello)
    server: TestServer = await aiohttp_server(app)  # type: ignore[operator]
    return server


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_the_guarded_connector_refuses_local_addresses_at_connect(
    local_server: TestServer, host: str
) -> None:
    url = f"http://{host}:{local_server.port}/"
    async with aiohttp.ClientSession(connector=guarded_connector(False)) as http:
        with pytest.raises(aiohttp.ClientConnectionError, match=r"not a public|non-public"):
            await http.get(url)
    async with (
        aiohttp.ClientSession(connector=guarded_connector(True)) as http,
        http.get(url) as response,
    ):
        assert await response.text() == "inside"
