from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

ERR_MACHINE_LOGIN = _("This is a machine account. It can only use the API, with an API token.")


class LoginForm(AuthenticationForm):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "username", "autocapitalize": "none"}
        ),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def confirm_login_allowed(self, user) -> None:  # type: ignore[no-untyped-def]
        super().confirm_login_allowed(user)
        # Integration (machine) users act only through API tokens, never the browser UI.
        if getattr(user, "is_machine", False):
            raise forms.ValidationError(ERR_MACHINE_LOGIN, code="machine_user")


class ApiTokenCreateForm(forms.Form):
    """Name and lifetime of a new personal API token."""

    name = forms.CharField(
        label=_("Name"),
        max_length=80,
        help_text=_("What the token is for, e.g. 'ERP sync' or 'my laptop script'."),
    )
    expires_in_days = forms.IntegerField(
        label=_("Expires after (days)"),
        min_value=1,
        max_value=730,
        help_text=_("Between 1 and 730 days. Shorter is safer."),
    )
