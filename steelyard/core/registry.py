"""Extension points that later modules register into from their ``AppConfig.ready``.

- ``menu``: entries of the sidebar / phone menu, each gated by roles.
- ``search``: global search providers; each returns scoped results for a query.
- ``sections``: sections of a record's 360 page (e.g. the customer page), added by other modules.
- ``home``: home-page widgets per role.
Approval kinds and notification channels have their own registries in
``core.services.approvals`` and ``core.services.notifications``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from steelyard.core.access import user_has_role


@dataclass(frozen=True)
class MenuItem:
    key: str
    label: Any  # lazy translation
    url_name: str
    icon: str = "circle"
    roles: tuple[str, ...] = ()  # empty: every signed-in user
    group: Any = ""
    order: int = 100
    bottom_nav: bool = False  # shown in the phone's bottom bar

    def visible_for(self, user: Any) -> bool:
        return not self.roles or user_has_role(user, *self.roles)


@dataclass(frozen=True)
class SearchResult:
    kind: Any
    title: str
    url: str
    subtitle: str = ""


@dataclass(frozen=True)
class SearchProvider:
    key: str
    label: Any
    search: Callable[[Any, str, int], list[SearchResult]]  # (user, query, limit) -> scoped results
    order: int = 100


@dataclass(frozen=True)
class Section:
    key: str
    label: Any
    template: str
    context: Callable[[Any, Any], dict[str, Any]]  # (request, record) -> context; must scope its reads
    order: int = 100
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class HomeWidget:
    key: str
    template: str
    context: Callable[[Any], dict[str, Any]]  # (request) -> context
    roles: tuple[str, ...] = ()
    order: int = 100
    width: str = "col-12 col-lg-6"


@dataclass
class Registry:
    menu: dict[str, MenuItem] = field(default_factory=dict)
    search: dict[str, SearchProvider] = field(default_factory=dict)
    sections: dict[str, dict[str, Section]] = field(default_factory=lambda: defaultdict(dict))
    home: dict[str, HomeWidget] = field(default_factory=dict)

    def add_menu(self, item: MenuItem) -> None:
        self.menu[item.key] = item

    def add_search(self, provider: SearchProvider) -> None:
        self.search[provider.key] = provider

    def add_section(self, record_type: str, section: Section) -> None:
        self.sections[record_type][section.key] = section

    def add_home(self, widget: HomeWidget) -> None:
        self.home[widget.key] = widget

    def menu_for(self, user: Any) -> list[MenuItem]:
        return sorted((m for m in self.menu.values() if m.visible_for(user)), key=lambda m: (m.order, m.key))

    def sections_for(self, record_type: str, user: Any) -> list[Section]:
        items = self.sections.get(record_type, {}).values()
        return sorted(
            (s for s in items if not s.roles or user_has_role(user, *s.roles)), key=lambda s: (s.order, s.key)
        )

    def home_for(self, user: Any) -> list[HomeWidget]:
        return sorted(
            (w for w in self.home.values() if not w.roles or user_has_role(user, *w.roles)),
            key=lambda w: (w.order, w.key),
        )


registry = Registry()
