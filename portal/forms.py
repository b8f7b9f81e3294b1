from django import forms


class TokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text='What will use it, e.g. "nightly backup script". Only you see it.',
    )
