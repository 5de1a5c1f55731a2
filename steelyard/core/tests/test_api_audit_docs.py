"""The audit-log endpoint's filters, and the OpenAPI schema and docs page served locally."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from steelyard.api import api
from steelyard.core.services.audit import audit_record
from steelyard.core.services.tokens import api_token_create


@pytest.fixture
def admin_client(personas) -> Client:
    plain = api_token_create(actor=personas.admin, name="t", expires_in_days=5).plain
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}", HTTP_ACCEPT_LANGUAGE="en")


def test_it_filters_the_audit_log(personas, admin_client):
    audit_record(actor=personas.alice, action="action", verb="x.one", obj=personas.bob)
    audit_record(actor=personas.bob, action="action", verb="x.two")
    by_actor = admin_client.get(f"/api/v1/audit?actor={personas.bob.pk}").json()["items"]
    assert {i["verb"] for i in by_actor} == {"x.two"}
    by_verb = admin_client.get("/api/v1/audit?verb=x.one").json()["items"]
    assert [i["object_type"] for i in by_verb] == ["org.user"]
    by_object = admin_client.get(
        f"/api/v1/audit?object_type=org.user&object_id={personas.bob.pk}&action=action"
    ).json()["items"]
    assert [i["verb"] for i in by_object] == ["x.one"]
    today = timezone.localdate()
    in_range = admin_client.get(f"/api/v1/audit?date_from={today}&date_to={today}&verb=x.two").json()
    assert len(in_range["items"]) == 1
    future = today + dt.timedelta(days=1)
    assert admin_client.get(f"/api/v1/audit?date_from={future}").json()["items"] == []


def test_it_explains_bad_audit_filters(personas, admin_client):
    response = admin_client.get("/api/v1/audit?object_type=nope.nothing")
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["field"] == "query.object_type"
    response = admin_client.get("/api/v1/audit?date_from=2025-02-01&date_to=2025-01-01")
    assert response.status_code == 400
    response = admin_client.get("/api/v1/audit?action=explode")
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "query.action"


@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "dora"])
def test_it_keeps_the_audit_log_from_non_administrators(personas, client_for, who):
    response = client_for(getattr(personas, who)).get("/api/v1/audit")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_it_serves_the_openapi_schema_with_every_operation(personas, client_for):
    response = client_for(personas.alice).get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    listed = {(path, method) for path, ops in schema["paths"].items() for method in ops}
    expected = set()
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for op in path_view.operations:
                if not op.include_in_schema:
                    continue
                for method in op.methods:
                    expected.add(("/api/v1/" + (prefix.strip("/") + path).strip("/"), method.lower()))
    normalise = lambda p: re.sub(r"\{[^}]*\}", "{}", p).rstrip("/")  # noqa: E731
    assert {(normalise(p), m) for p, m in expected} <= {(normalise(p), m) for p, m in listed}
    assert ("/api/v1/tokens", "post") in listed
    assert {"TokenAuth", "SessionAuth"} <= set(schema["components"]["securitySchemes"])


def test_it_serves_the_schema_to_a_token_and_refuses_strangers(personas, admin_client):
    assert admin_client.get("/api/v1/openapi.json").status_code == 200
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get("/api/v1/openapi.json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_it_serves_the_docs_from_local_files_without_inline_script(personas, client_for):
    response = client_for(personas.alice).get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts, "the docs page loads swagger-ui"
    for attrs, body in scripts:
        assert 'src="/static/' in attrs
        assert body.strip() == ""
    urls = " ".join(re.findall(r'(?:src|href)="([^"]+)"', html)).lower()
    assert "cdn" not in urls  # (not the whole page: a random CSRF token may contain "cdn")
    assert "//" not in re.sub(
        r"https?://testserver", "", " ".join(re.findall(r'(?:src|href)="([^"]+)"', html))
    )
    assert " style=" not in html
    assert 'data-openapi-url="/api/v1/openapi.json"' in html
    csp = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp


def test_it_sends_strangers_to_the_login_page_from_the_docs(db):
    response = Client().get("/api/v1/docs")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_finds_the_swagger_files_in_static(personas):
    from django.contrib.staticfiles import finders

    for name in ("ninja/swagger-ui-bundle.js", "ninja/swagger-ui.css", "js/api-docs.js", "css/api-docs.css"):
        assert finders.find(name), name
