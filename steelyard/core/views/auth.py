from __future__ import annotations

from django.contrib.auth import views as auth_views

from steelyard.core import access
from steelyard.core.forms import LoginForm

login_view = access.public(
    auth_views.LoginView.as_view(
        template_name="registration/login.html",
        authentication_form=LoginForm,
        redirect_authenticated_user=True,
    )
)
logout_view = access.authenticated(auth_views.LogoutView.as_view())
password_change_view = access.authenticated(
    auth_views.PasswordChangeView.as_view(template_name="registration/password_change.html")
)
password_change_done_view = access.authenticated(
    auth_views.PasswordChangeDoneView.as_view(template_name="registration/password_change_done.html")
)
