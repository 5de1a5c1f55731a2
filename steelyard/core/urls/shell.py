from __future__ import annotations

from django.urls import path

from steelyard.core.views import auth, shell

urlpatterns = [
    path("", shell.home, name="home"),
    path("accounts/login/", auth.login_view, name="login"),
    path("accounts/logout/", auth.logout_view, name="logout"),
    path("accounts/password/", auth.password_change_view, name="password_change"),
    path("accounts/password/done/", auth.password_change_done_view, name="password_change_done"),
    path("accounts/language/", shell.set_language, name="set_language"),
    path("manifest.webmanifest", shell.manifest, name="manifest"),
    path("sw.js", shell.service_worker, name="service_worker"),
    path("offline/", shell.offline, name="offline"),
    path("healthz", shell.healthz, name="healthz"),
]
