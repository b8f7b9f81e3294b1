"""One door for refusals on pages: NotAllowed anywhere under a view answers 403 with its
reason; a form shows any other refusal on the field it names."""

import pytest
from django import forms
from django.test import RequestFactory

from environments.permissions import Decision
from portal.errors import Conflict, NotAllowed, Refused
from portal.http import refusal_message, refusal_on_form
from portal.middleware import RefusalMiddleware


class NameForm(forms.Form):
    name = forms.CharField()
    new_env_slug = forms.CharField(required=False)


def test_not_allowed_from_under_a_page_answers_403_with_its_reason(db):
    request = RequestFactory().get("/anything/")
    middleware = RefusalMiddleware(lambda r: None)
    response = middleware.process_exception(request, NotAllowed("Only Global admins may."))
    assert response.status_code == 403
    assert "Only Global admins may." in response.content.decode()
    assert middleware.process_exception(request, Conflict("busy")) is None  # not its door


def test_a_decision_raises_its_reason_when_it_refuses():
    Decision(True).require()
    with pytest.raises(NotAllowed, match="not yours"):
        Decision(False, "not yours").require()


def test_a_refusal_lands_on_the_field_it_names_else_on_the_page():
    form = NameForm({"name": "x"})
    assert form.is_valid()
    assert refusal_on_form(form, Refused("Taken.", field="name")) == ""
    assert form.errors["name"] == ["Taken."]
    assert refusal_on_form(form, Refused("Taken.", field="slug"), prefix="new_env_") == ""
    assert form.errors["new_env_slug"] == ["Taken."]
    assert refusal_on_form(form, Refused("No room.")) == "No room."
    assert refusal_on_form(form, Refused("Odd.", field="region")) == "Odd."


def test_not_allowed_never_lands_on_a_form():
    with pytest.raises(NotAllowed):
        refusal_on_form(NameForm({"name": "x"}), NotAllowed("no", field="name"))
    with pytest.raises(NotAllowed):
        refusal_message(NotAllowed("no"))
