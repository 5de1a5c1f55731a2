"""What the orders module adds to the shell: menu entries, search, home widgets, 360 sections, events."""

from django.utils.translation import gettext_lazy as _

from steelyard.core.events import declare as _declare_event

# --- domain events (published by orders services and the integration handlers) ---
_declare_event("contract.signed", _("Contract signed"), _("A contract with a customer was signed."))
_declare_event("order.created", _("Order created"), _("A new sales order arrived or was entered."))
_declare_event(
    "order.status_changed",
    _("Order status changed"),
    _("An order moved on its timeline (scheduled, in production, shipped, ...)."),
    customer_facing=True,
)
_declare_event(
    "shipment.shipped",
    _("Shipment sent"),
    _("Goods left the plant for the customer, with tracking."),
    customer_facing=True,
)
_declare_event("invoice.issued", _("Invoice issued"), _("An invoice was issued to a customer."))
_declare_event("payment.received", _("Payment received"), _("A customer's payment was received."))
# --- end domain events ---

# --- pages: menu, search, home widget, customer 360 sections ---
from django.urls import reverse as _reverse  # noqa: E402

from steelyard.core.registry import HomeWidget, MenuItem, SearchProvider, SearchResult, Section  # noqa: E402
from steelyard.core.registry import registry as _registry  # noqa: E402

_GROUP = _("Orders")
_CUSTOMER = "customers.customer"


def _view(name):  # type: ignore[no-untyped-def]
    """A section/widget context that imports the views lazily (registrations load before the URLconf)."""

    def context(*args):  # type: ignore[no-untyped-def]
        from steelyard.orders import views

        return getattr(views, name)(*args)

    context.__name__ = name
    return context


def _search_orders(user, q, limit):  # type: ignore[no-untyped-def]
    """Orders the searcher can see, by order number."""
    from steelyard.orders.selectors import order_search

    return [
        SearchResult(
            kind=_("Order"),
            title=o.number,
            url=_reverse("order_detail", args=[o.pk]),
            subtitle=" · ".join(s for s in (o.customer.legal_name, str(o.get_status_display())) if s),
        )
        for o in order_search(user=user, q=q, limit=limit)
    ]


def _search_contracts(user, q, limit):  # type: ignore[no-untyped-def]
    """Contracts the searcher can see, by number or title."""
    from steelyard.orders.selectors import contract_search

    return [
        SearchResult(
            kind=_("Contract"),
            title=c.number,
            url=_reverse("contract_detail", args=[c.pk]),
            subtitle=" · ".join(s for s in (c.title, c.customer.legal_name) if s),
        )
        for c in contract_search(user=user, q=q, limit=limit)
    ]


for _key, _label, _url, _icon, _order in (
    ("orders.orders", _("Orders"), "order_list", "receipt", 300),
    ("orders.contracts", _("Contracts"), "contract_list", "file-earmark-text", 310),
    ("orders.shipments", _("Shipments"), "shipment_list", "truck", 320),
    ("orders.invoices", _("Invoices"), "invoice_list", "receipt-cutoff", 330),
    ("orders.payments", _("Payments"), "payment_list", "cash-coin", 340),
):
    _registry.add_menu(MenuItem(_key, _label, _url, icon=_icon, group=_GROUP, order=_order))

_registry.add_search(SearchProvider("orders.orders", _("Orders"), _search_orders, order=40))
_registry.add_search(SearchProvider("orders.contracts", _("Contracts"), _search_contracts, order=45))
_registry.add_home(
    HomeWidget(
        "orders.recent_status",
        "orders/home_widget.html",
        _view("home_widget_context"),
        roles=("sales_rep", "sales_manager", "sales_director"),
        order=45,
    )
)
for _key, _label, _template, _ctx, _order in (
    ("balances", _("Balances"), "orders/_section_balances.html", "balances_section", 24),
    ("orders", _("Orders"), "orders/_section_orders.html", "orders_section", 25),
    ("contracts", _("Contracts"), "orders/_section_contracts.html", "contracts_section", 26),
    ("shipments", _("Shipments"), "orders/_section_shipments.html", "shipments_section", 40),
    ("invoices", _("Invoices"), "orders/_section_invoices.html", "invoices_section", 41),
    ("payments", _("Payments"), "orders/_section_payments.html", "payments_section", 42),
):
    _registry.add_section(_CUSTOMER, Section(_key, _label, _template, _view(_ctx), order=_order))
# --- end pages ---
