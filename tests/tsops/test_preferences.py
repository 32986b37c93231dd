"""/preferences/: every console member edits their own workspace preferences, and only those."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tsops.models import UserPreference
from tsops.selectors import preferences_for

pytestmark = pytest.mark.django_db

URL = reverse("preferences")


def test_the_page_shows_the_defaults_before_anything_is_saved(analyst, client):
    client.force_login(analyst)
    response = client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="decide_and_next"' in html and "checked" in html
    assert "Full (shapes only)" in html
    assert not UserPreference.objects.exists()


def test_saving_changes_only_the_member_s_own_preferences(analyst, senior, client):
    UserPreference.objects.create(user=senior, media_blur=8)
    client.force_login(analyst)

    response = client.post(URL, {"media_blur": "48", "media_grayscale": "on"}, follow=True)

    assert response.status_code == 200
    assert "Preferences saved." in response.content.decode()
    mine = UserPreference.objects.get(user=analyst)
    assert (mine.decide_and_next, mine.media_blur, mine.media_grayscale) == (False, 48, True)
    assert UserPreference.objects.get(user=senior).media_blur == 8
    # A user field in the form is ignored: nobody edits someone else's.
    client.post(URL, {"media_blur": "24", "user": senior.pk})
    assert UserPreference.objects.get(user=senior).media_blur == 8
    assert preferences_for(senior).media_blur == 8


@pytest.mark.parametrize("value", ["7", "strong", ""])
def test_a_bad_value_is_answered_400_naming_the_field(analyst, client, value):
    client.force_login(analyst)

    response = client.post(URL, {"media_blur": value})

    assert response.status_code == 400
    assert "media_blur" in response.context["form"].errors
    assert not UserPreference.objects.exists()


def test_someone_without_a_console_role_is_refused(outsider, client):
    client.force_login(outsider)

    assert client.get(URL).status_code == 403
    assert client.post(URL, {"media_blur": "8"}).status_code == 403
    assert not UserPreference.objects.exists()


def test_the_header_links_to_the_preferences(analyst, client):
    client.force_login(analyst)

    assert f'href="{URL}"' in client.get(reverse("home")).content.decode()
