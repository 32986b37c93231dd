"""Forms of the project package's own pages."""

from __future__ import annotations

from django import forms

from tsops.models import UserPreference


class PreferencesForm(forms.ModelForm):
    """A member's workspace preferences (saved through ``tsops.services.preferences_update``)."""

    class Meta:
        model = UserPreference
        fields = ["decide_and_next", "media_blur", "media_grayscale"]
        labels = {
            "decide_and_next": "Decide and next",
            "media_blur": "Blur of sensitive images",
            "media_grayscale": "Sensitive images in grayscale",
        }
        widgets = {"media_blur": forms.RadioSelect}
