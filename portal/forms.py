from django import forms
from django.forms.renderers import TemplatesSetting


class TokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text='What will use it, e.g. "nightly backup script". Only you see it.',
    )


class PortalFormRenderer(TemplatesSetting):
    """Every field renders through one project template (label, required mark, widget, help,
    errors): `{{ form.field.as_field_group }}`."""

    field_template_name = "includes/field.html"
