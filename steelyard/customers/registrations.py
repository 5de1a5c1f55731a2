"""What the customers module adds to the shell: menu entries, search, home widgets, 360 sections."""

from django.utils.translation import gettext_lazy as _  # noqa: E402

# --- territories ---
from steelyard.core.registry import MenuItem as _TMenuItem  # noqa: E402
from steelyard.core.registry import Section as _TSection  # noqa: E402
from steelyard.core.registry import registry as _t_registry  # noqa: E402


def _territory_assignment_context(request, customer):  # type: ignore[no-untyped-def]
    from steelyard.customers.views.territories import assignment_section_context

    return assignment_section_context(request, customer)


_t_registry.add_menu(
    _TMenuItem(
        "customers.territories",
        _("Territories"),
        "territory_list",
        icon="map",
        roles=("sales_director",),
        group=_("Customers"),
        order=270,
    )
)
_t_registry.add_menu(
    _TMenuItem(
        "customers.reassign",
        _("Move a rep's customers"),
        "reassign_bulk",
        icon="arrow-left-right",
        roles=("sales_manager", "sales_director", "executive"),
        group=_("Customers"),
        order=280,
    )
)
_t_registry.add_section(
    "customers.customer",
    _TSection(
        "assignment",
        _("Assignment"),
        "customers/territory_customer_section.html",
        _territory_assignment_context,
        order=15,
        roles=("sales_manager", "sales_director", "executive"),
    ),
)
# --- end territories ---

# --- activities ---

from steelyard.core.registry import MenuItem as _AMenuItem  # noqa: E402
from steelyard.core.registry import Section as _ASection  # noqa: E402
from steelyard.core.registry import registry as _a_registry  # noqa: E402


def _activities_section_context(request, customer):  # type: ignore[no-untyped-def]
    from steelyard.customers.views.activities import section_context

    return section_context(request, customer)


_a_registry.add_menu(
    _AMenuItem(
        "customers.my_day",
        _("My day"),
        "my_day",
        icon="sun",
        group=_("Sales"),
        order=205,
        bottom_nav=True,
    )
)
_a_registry.add_menu(
    _AMenuItem(
        "customers.activities",
        _("Activities"),
        "activity_list",
        icon="calendar-check",
        group=_("Sales"),
        order=210,
    )
)
_a_registry.add_menu(
    _AMenuItem(
        "customers.visits_overdue",
        _("Overdue visits"),
        "visits_overdue",
        icon="alarm",
        group=_("Sales"),
        order=215,
    )
)
_a_registry.add_section(
    "customers.customer",
    _ASection(
        "activities",
        _("Activities"),
        "customers/_section_activities.html",
        _activities_section_context,
        order=30,
    ),
)
# --- end activities ---

# --- customers ---
from django.urls import reverse as _c_reverse  # noqa: E402

from steelyard.core.registry import MenuItem as _CMenuItem  # noqa: E402
from steelyard.core.registry import SearchProvider as _CSearchProvider  # noqa: E402
from steelyard.core.registry import SearchResult as _CSearchResult  # noqa: E402
from steelyard.core.registry import Section as _CSection  # noqa: E402
from steelyard.core.registry import registry as _c_registry  # noqa: E402


def _c_profile(request, customer):  # type: ignore[no-untyped-def]
    from steelyard.customers.views.customers import profile_section

    return profile_section(request, customer)


def _c_contacts(request, customer):  # type: ignore[no-untyped-def]
    from steelyard.customers.views.customers import contacts_section

    return contacts_section(request, customer)


def _c_ownership(request, customer):  # type: ignore[no-untyped-def]
    from steelyard.customers.views.customers import ownership_section

    return ownership_section(request, customer)


def _c_search_customers(user, q, limit):  # type: ignore[no-untyped-def]
    """Customers the searcher can see, by name, short name, pinyin, initials or credit code."""
    from steelyard.customers.selectors.customers import customer_base, search_q

    rows = (
        customer_base(user=user)
        .filter(search_q(q))
        .select_related("owner")
        .order_by("legal_name", "pk")[:limit]
    )
    return [
        _CSearchResult(
            kind=_("Customer"),
            title=c.legal_name,
            url=_c_reverse("customer_detail", args=[c.pk]),
            subtitle=" · ".join(s for s in (c.short_name, c.city, str(c.owner or _("Pool"))) if s),
        )
        for c in rows
    ]


def _c_search_contacts(user, q, limit):  # type: ignore[no-untyped-def]
    """Contacts of customers the searcher can see, by name or phone."""
    from django.db.models import Q

    from steelyard.customers.models import Contact
    from steelyard.customers.normalize import phone_key
    from steelyard.customers.selectors.customers import customer_base

    cond = Q(name__icontains=q)
    key = phone_key(q)
    if len(key) >= 4:
        cond |= Q(phone_key__contains=key)
    rows = (
        Contact.objects.filter(cond, customer__in=customer_base(user=user))
        .select_related("customer")
        .order_by("name", "pk")[:limit]
    )
    return [
        _CSearchResult(
            kind=_("Contact"),
            title=c.name,
            url=_c_reverse("customer_detail", args=[c.customer_id]) + "#contacts",
            subtitle=" · ".join(s for s in (c.title, c.phone, str(c.customer)) if s),
        )
        for c in rows
    ]


_c_registry.add_menu(
    _CMenuItem(
        "customers.customers",
        _("Customers"),
        "customer_list",
        icon="building",
        group=_("Sales"),
        order=200,
        bottom_nav=True,
    )
)
_c_registry.add_search(_CSearchProvider("customers", _("Customers"), _c_search_customers, order=20))
_c_registry.add_search(_CSearchProvider("contacts", _("Contacts"), _c_search_contacts, order=25))
_c_registry.add_section(
    "customers.customer",
    _CSection("profile", _("Profile"), "customers/_section_profile.html", _c_profile, order=10),
)
_c_registry.add_section(
    "customers.customer",
    _CSection("contacts", _("Contacts"), "customers/_section_contacts.html", _c_contacts, order=20),
)
_c_registry.add_section(
    "customers.customer",
    _CSection(
        "ownership",
        _("Ownership history"),
        "customers/_section_ownership.html",
        _c_ownership,
        order=50,
    ),
)
# --- end customers ---

# --- pool ---

from steelyard.core.registry import HomeWidget as _PHomeWidget  # noqa: E402
from steelyard.core.registry import MenuItem as _PMenuItem  # noqa: E402
from steelyard.core.registry import Section as _PSection  # noqa: E402
from steelyard.core.registry import registry as _p_registry  # noqa: E402


def _pool_clock_context(request, customer):  # type: ignore[no-untyped-def]
    from steelyard.customers.views.pool import section_context

    return section_context(request, customer)


def _pool_home_context(request):  # type: ignore[no-untyped-def]
    from steelyard.customers.views.pool import home_widget_context

    return home_widget_context(request)


_p_registry.add_menu(
    _PMenuItem(
        "customers.pool",
        _("Public pool"),
        "pool_list",
        icon="water",
        group=_("Sales"),
        order=220,
    )
)
_p_registry.add_section(
    "customers.customer",
    _PSection(
        "pool_clock",
        _("Pool clock"),
        "customers/_section_pool_clock.html",
        _pool_clock_context,
        order=5,
    ),
)
_p_registry.add_home(
    _PHomeWidget(
        "customers.pool_about_to_return",
        "customers/pool_home_widget.html",
        _pool_home_context,
        roles=("sales_rep", "sales_manager"),
        order=40,
    )
)
# --- end pool ---

# --- imports ---

from steelyard.core.registry import MenuItem as _IMenuItem  # noqa: E402
from steelyard.core.registry import registry as _i_registry  # noqa: E402

_i_registry.add_menu(
    _IMenuItem(
        "customers.import",
        _("Import customers"),
        "customer_import",
        icon="upload",
        roles=("sales_manager", "sales_director", "marketing"),
        group=_("Sales"),
        order=225,
    )
)
# --- end imports ---

# --- domain events ---
from steelyard.core.events import declare as _declare_event  # noqa: E402

_declare_event("customer.created", _("Customer created"), _("A new customer was entered or imported."))
