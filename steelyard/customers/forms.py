"""Forms of the customer pages: create/edit a customer, contacts, merge, saved views."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from steelyard.customers.models import Contact, Customer, Tag
from steelyard.customers.regions import PROVINCE_CHOICES
from steelyard.customers.validators import normalize_credit_code, validate_credit_code
from steelyard.org.models import User

ERR_UNKNOWN_GROUP = _("No customer with this number that you can see.")
ERR_CONTACT_NAME = _("Enter the contact's name.")


def apply_service_error(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: per field when it names fields, else on top."""
    if hasattr(error, "error_dict"):
        for field, errs in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errs)
    else:
        form.add_error(None, error)


class CustomerForm(forms.ModelForm):
    """The customer profile. The owner is only chosen on create (later changes go through reassignment)."""

    parent_no = forms.IntegerField(
        label=_("Group company (customer no.)"),
        required=False,
        min_value=1,
        help_text=_("The number of the parent group company, shown on its page; leave empty if none."),
    )
    owner = forms.ModelChoiceField(
        label=_("Owner"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("Route by territory rules"),
        help_text=_("Leave empty to let the territory rules pick an owner (or keep it in the pool)."),
    )
    tags = forms.ModelMultipleChoiceField(label=_("Tags"), queryset=Tag.objects.all(), required=False)
    contact_name = forms.CharField(label=_("First contact: name"), max_length=60, required=False)
    contact_title = forms.CharField(label=_("First contact: title"), max_length=80, required=False)
    contact_phone = forms.CharField(
        label=_("First contact: phone"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel"}),
    )
    allow_duplicate = forms.BooleanField(
        label=_("Create anyway: this is not one of the customers listed above"), required=False
    )

    class Meta:
        model = Customer
        fields = [
            "legal_name",
            "short_name",
            "credit_code",
            "industry",
            "province",
            "city",
            "address",
            "size",
            "status",
            "source",
            "tier",
            "is_key_account",
            "first_order_date",
            "visit_every_days",
        ]
        widgets = {"first_order_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def __init__(self, *args: Any, user: Any, creating: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.creating = creating
        self.fields["province"] = forms.ChoiceField(
            label=_("Province"), choices=[("", "—"), *PROVINCE_CHOICES], required=False
        )
        if creating:
            self.fields["owner"].queryset = (
                User.objects.visible_to(user)
                .filter(is_active=True)
                .order_by(  # type: ignore[attr-defined]
                    "display_name", "username"
                )
            )
        else:
            for name in ("owner", "allow_duplicate", "contact_name", "contact_title", "contact_phone"):
                del self.fields[name]
            self.fields["parent_no"].initial = self.instance.parent_id
            self.fields["tags"].initial = list(self.instance.tags.all()) if self.instance.pk else []
        if "allow_duplicate" in self.fields and self.data.get("allow_duplicate") not in ("on", "true", "1"):
            # Offered only once duplicates were shown (see ``offer_duplicate``).
            self.fields["allow_duplicate"].widget = forms.HiddenInput()
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select")
            elif not isinstance(widget, forms.HiddenInput):
                widget.attrs.setdefault("class", "form-control")
            if name == "credit_code":
                widget.attrs.update({"autocapitalize": "characters", "spellcheck": "false"})

    def offer_duplicate(self) -> None:
        """Show the "create anyway" checkbox (after duplicates were found)."""
        self.fields["allow_duplicate"].widget = forms.CheckboxInput(attrs={"class": "form-check-input"})

    def clean_credit_code(self) -> str:
        code = normalize_credit_code(self.cleaned_data.get("credit_code", ""))
        if code:
            validate_credit_code(code)
        return code

    def clean_parent_no(self) -> Customer | None:
        from steelyard.customers.selectors.customers import customer_base

        pk = self.cleaned_data.get("parent_no")
        if not pk:
            return None
        parent = customer_base(user=self.user).filter(pk=pk).first()
        if parent is None:
            raise ValidationError(ERR_UNKNOWN_GROUP)
        return parent

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if (data.get("contact_phone") or data.get("contact_title")) and not data.get("contact_name"):
            self.add_error("contact_name", ERR_CONTACT_NAME)
        return data

    def contacts(self) -> list[dict[str, Any]]:
        """The first contact typed on the create form, if any."""
        if not self.cleaned_data.get("contact_name"):
            return []
        return [
            {
                "name": self.cleaned_data["contact_name"],
                "title": self.cleaned_data.get("contact_title", ""),
                "phone": self.cleaned_data.get("contact_phone", ""),
                "is_primary": True,
            }
        ]

    def service_fields(self) -> dict[str, Any]:
        data = {name: self.cleaned_data[name] for name in self.Meta.fields}
        data["parent"] = self.cleaned_data.get("parent_no")
        return data


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ["name", "title", "phone", "email", "wechat_id", "decision_role", "is_primary", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            w = field.widget
            if isinstance(w, forms.CheckboxInput):
                w.attrs.setdefault("class", "form-check-input")
            elif isinstance(w, forms.Select):
                w.attrs.setdefault("class", "form-select")
            else:
                w.attrs.setdefault("class", "form-control")
        self.fields["phone"].widget.attrs.update({"type": "tel", "inputmode": "tel"})


class MergeForm(forms.Form):
    merge_no = forms.IntegerField(
        label=_("Duplicate to merge into this customer (customer no.)"),
        min_value=1,
        widget=forms.NumberInput(attrs={"class": "form-control"}),
    )
    reason = forms.CharField(
        label=_("Why are they the same company?"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
    )


class SavedViewForm(forms.Form):
    name = forms.CharField(
        label=_("View name"),
        max_length=60,
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm"}),
    )
    query = forms.CharField(required=False, max_length=1000, widget=forms.HiddenInput)
    is_shared = forms.BooleanField(
        label=_("Share with everyone"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
