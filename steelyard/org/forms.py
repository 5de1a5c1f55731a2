"""Forms of the organisation pages. They validate input; the services do the writing."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.scopes import Scope
from steelyard.org.models import (
    Language,
    OrgUnit,
    OrgUnitKind,
    Position,
    PositionCategory,
    Qualification,
    Role,
    User,
)

ERR_PASSWORDS_DIFFER = _("The two passwords do not match.")

#: Translated names of the data scopes (core.scopes.Scope stays free of translations).
SCOPE_CHOICES = [
    (Scope.OWN, _("Own records")),
    (Scope.TEAM, _("Own team")),
    (Scope.SUBTREE, _("Org subtree")),
    (Scope.ALL, _("Everything")),
]
SCOPE_LABELS = dict(SCOPE_CHOICES)

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def apply_service_error(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: on its field when the form has one."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


class _Styled:
    """Give every widget its Bootstrap class so ``includes/form_fields.html`` renders it right."""

    def style_fields(self) -> None:
        for field in self.fields.values():  # type: ignore[attr-defined]
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.CheckboxSelectMultiple):
                continue
            elif isinstance(widget, forms.Select | forms.SelectMultiple):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs.setdefault("class", css)


class OrgUnitForm(_Styled, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    code = forms.SlugField(
        label=_("Code"), max_length=40, help_text=_("Short and unique, letters, digits and dashes.")
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=OrgUnitKind.choices)
    parent = forms.ModelChoiceField(
        label=_("Parent unit"),
        queryset=OrgUnit.objects.none(),
        required=False,
        help_text=_("Moving a unit moves all of its sub-units with it."),
    )
    manager = forms.ModelChoiceField(label=_("Manager"), queryset=User.objects.none(), required=False)

    def __init__(self, *args: Any, user: User, unit: OrgUnit | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        parents = OrgUnit.objects.visible_to(user).filter(is_active=True).order_by("path")
        if unit is not None:
            parents = parents.exclude(path__startswith=unit.path)
        self.fields["parent"].queryset = parents  # type: ignore[attr-defined]
        self.fields["parent"].label_from_instance = lambda u: f"{'— ' * u.depth}{u.name}"  # type: ignore[attr-defined]
        self.fields["manager"].queryset = (  # type: ignore[attr-defined]
            User.objects.visible_to(user).filter(is_active=True).order_by("display_name", "username")
        )
        self.unit = unit
        self.style_fields()

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        clash = OrgUnit.objects.filter(code=code)
        if self.unit is not None:
            clash = clash.exclude(pk=self.unit.pk)
        if clash.exists():
            raise ValidationError(_("Another unit already uses this code."))
        return code


class UserForm(_Styled, forms.Form):
    """An administrator creating or editing a person."""

    username = forms.CharField(label=_("Username"), max_length=150)
    display_name = forms.CharField(label=_("Display name"), max_length=80, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
    title = forms.CharField(label=_("Job title"), max_length=80, required=False)
    org_unit = forms.ModelChoiceField(label=_("Primary org unit"), queryset=OrgUnit.objects.none())
    manager = forms.ModelChoiceField(label=_("Manager"), queryset=User.objects.none(), required=False)
    roles = forms.ModelMultipleChoiceField(
        label=_("Roles"),
        queryset=Role.objects.order_by("code"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    password1 = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to let the person sign in only after a password is set."),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, user: User, person: User | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.person = person
        self.fields["org_unit"].queryset = (  # type: ignore[attr-defined]
            OrgUnit.objects.visible_to(user).filter(is_active=True).order_by("path")
        )
        self.fields["org_unit"].label_from_instance = lambda u: f"{'— ' * u.depth}{u.name}"  # type: ignore[attr-defined]
        managers = User.objects.visible_to(user).filter(is_active=True).order_by("display_name", "username")
        if person is not None:
            managers = managers.exclude(pk=person.pk)
            del self.fields["password1"], self.fields["password2"]
        self.fields["manager"].queryset = managers  # type: ignore[attr-defined]
        self.style_fields()

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        clash = User.objects.filter(username__iexact=username)
        if self.person is not None:
            clash = clash.exclude(pk=self.person.pk)
        if clash.exists():
            raise ValidationError(_("This username is taken."))
        return username

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 or p2:
            if p1 != p2:
                self.add_error("password2", ERR_PASSWORDS_DIFFER)
            else:
                try:
                    validate_password(
                        p1, User(username=data.get("username", ""), email=data.get("email", ""))
                    )
                except ValidationError as e:
                    self.add_error("password1", e)
        return data


class PasswordSetForm(_Styled, forms.Form):
    password1 = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, person: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.person = person
        self.style_fields()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2:
            if p1 != p2:
                self.add_error("password2", ERR_PASSWORDS_DIFFER)
            else:
                try:
                    validate_password(p1, self.person)
                except ValidationError as e:
                    self.add_error("password1", e)
        return data


class ProfileForm(_Styled, forms.Form):
    """What a person may change about themselves."""

    display_name = forms.CharField(label=_("Display name"), max_length=80, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style_fields()


class RoleForm(_Styled, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    data_scope = forms.ChoiceField(
        label=_("Data scope"),
        choices=SCOPE_CHOICES,
        help_text=_(
            "Which records people with this role see: their own, their team's, their org subtree's, or all."
        ),
    )
    permissions = forms.ModelMultipleChoiceField(
        label=_("Permissions"),
        queryset=Permission.objects.select_related("content_type"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style_fields()


class RoleCreateForm(RoleForm):
    code = forms.SlugField(label=_("Code"), max_length=40)
    field_order = ["code", "name", "description", "data_scope", "permissions"]

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        if Role.objects.filter(code=code).exists():
            raise ValidationError(_("Another role already uses this code."))
        return code


class PositionForm(_Styled, forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=40)
    name = forms.CharField(label=_("Name"), max_length=120)
    category = forms.ChoiceField(label=_("Category"), choices=PositionCategory.choices)
    duties = forms.CharField(label=_("Duties"), widget=forms.Textarea(attrs={"rows": 4}), required=False)
    required_qualifications = forms.ModelMultipleChoiceField(
        label=_("Required qualifications"),
        queryset=Qualification.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, position: Position | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.position = position
        self.style_fields()

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        clash = Position.objects.filter(code=code)
        if self.position is not None:
            clash = clash.exclude(pk=self.position.pk)
        if clash.exists():
            raise ValidationError(_("Another position already uses this code."))
        return code


class QualificationForm(_Styled, forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=40)
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    validity_months = forms.IntegerField(
        label=_("Validity (months)"),
        min_value=1,
        required=False,
        help_text=_("Leave empty when it never expires."),
    )

    def __init__(self, *args: Any, qualification: Qualification | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.qualification = qualification
        self.style_fields()

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        clash = Qualification.objects.filter(code=code)
        if self.qualification is not None:
            clash = clash.exclude(pk=self.qualification.pk)
        if clash.exists():
            raise ValidationError(_("Another qualification already uses this code."))
        return code


class QualificationGrantForm(_Styled, forms.Form):
    qualification = forms.ModelChoiceField(
        label=_("Qualification"), queryset=Qualification.objects.order_by("name")
    )
    obtained_on = forms.DateField(label=_("Obtained on"), widget=DATE_INPUT)
    expires_on = forms.DateField(
        label=_("Expires on"),
        widget=DATE_INPUT,
        required=False,
        help_text=_("Leave empty to use the qualification's validity."),
    )
    certificate_no = forms.CharField(label=_("Certificate number"), max_length=60, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"obtained_on": timezone.localdate()})
        super().__init__(*args, **kwargs)
        self.style_fields()


class PositionAssignForm(_Styled, forms.Form):
    position = forms.ModelChoiceField(
        label=_("Position"), queryset=Position.objects.filter(is_active=True).order_by("name")
    )
    since = forms.DateField(label=_("Since"), widget=DATE_INPUT, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style_fields()
