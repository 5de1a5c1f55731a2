"""The roles Steelyard ships with. Administrators may edit their scopes and permissions."""

from __future__ import annotations

from django.utils.translation import gettext_noop

ADMINISTRATOR = "administrator"
EXECUTIVE = "executive"
SALES_DIRECTOR = "sales_director"
SALES_MANAGER = "sales_manager"
SALES_REP = "sales_rep"
MARKETING = "marketing"
SOLUTION_ENGINEER = "solution_engineer"
FINANCE = "finance"
PRODUCTION_PLANNER = "production_planner"
SERVICE_MANAGER = "service_manager"
SERVICE_DISPATCHER = "service_dispatcher"
TECHNICIAN = "technician"
INTEGRATION = "integration"

MANAGERS = (SALES_DIRECTOR, SALES_MANAGER, SERVICE_MANAGER, EXECUTIVE)

# code, name, data scope, machine role, description
SEEDED_ROLES: list[tuple[str, str, str, bool, str]] = [
    (
        ADMINISTRATOR,
        gettext_noop("Administrator"),
        "all",
        False,
        gettext_noop("Configures the system: people, roles, policies. Sees everything."),
    ),
    (
        EXECUTIVE,
        gettext_noop("Executive"),
        "all",
        False,
        gettext_noop("COO/CIO and general managers: dashboards across the group."),
    ),
    (
        SALES_DIRECTOR,
        gettext_noop("Sales director"),
        "subtree",
        False,
        gettext_noop("Heads a region or branch: sees every team below."),
    ),
    (
        SALES_MANAGER,
        gettext_noop("Sales manager"),
        "team",
        False,
        gettext_noop("Leads a sales team: assigns customers, reviews pipeline, approves discounts."),
    ),
    (
        SALES_REP,
        gettext_noop("Sales rep"),
        "own",
        False,
        gettext_noop("Works own customers and opportunities, often from a phone."),
    ),
    (
        MARKETING,
        gettext_noop("Marketing"),
        "subtree",
        False,
        gettext_noop("Intelligence, campaigns and leads."),
    ),
    (
        SOLUTION_ENGINEER,
        gettext_noop("Solution engineer"),
        "own",
        False,
        gettext_noop("Configures solutions on the opportunities they are a team member of."),
    ),
    (FINANCE, gettext_noop("Finance"), "all", False, gettext_noop("Credit limits, risk rules, receivables.")),
    (
        PRODUCTION_PLANNER,
        gettext_noop("Production planner"),
        "all",
        False,
        gettext_noop("Reads the rolling demand forecast; publishes capacity."),
    ),
    (
        SERVICE_MANAGER,
        gettext_noop("Service manager"),
        "subtree",
        False,
        gettext_noop("Runs a service center or station network."),
    ),
    (
        SERVICE_DISPATCHER,
        gettext_noop("Service dispatcher"),
        "subtree",
        False,
        gettext_noop("Dispatches service tickets to technicians."),
    ),
    (
        TECHNICIAN,
        gettext_noop("Technician"),
        "own",
        False,
        gettext_noop("Works own service tickets on site."),
    ),
    (
        INTEGRATION,
        gettext_noop("Integration"),
        "all",
        True,
        gettext_noop("Machine user for ERP/APS/MES/SRM; acts only through the API."),
    ),
]
