"""heiti.core.addresses: which listening addresses count as reachable from this machine only
(the server and the tcp-audio flow source let those go without a token)."""

from __future__ import annotations

import pytest

from heiti.core.addresses import is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_and_names(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "no-such-host.invalid"])
def test_any_other_address_or_an_unresolved_name_is_not(host):
    assert not is_loopback(host)
