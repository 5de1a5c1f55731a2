"""The menu highlights the most specific entry: My day is not 'Customers' though both live under /customers/."""

from __future__ import annotations

import re

from django.urls import reverse


def _active_keys(html: str) -> set[str]:
    return set(re.findall(r'class="nav-link active"[^>]*data-menu="([^"]+)"', html))


def test_it_highlights_the_longest_matching_menu_entry(personas, client_for):
    client = client_for(personas.alice)
    assert _active_keys(client.get(reverse("my_day")).content.decode()) == {"customers.my_day"}
    assert _active_keys(client.get(reverse("customer_list")).content.decode()) == {"customers.customers"}
