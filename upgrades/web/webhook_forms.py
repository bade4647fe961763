"""The form that adds a webhook: URL, format and milestones. It parses; `subscriptions` decides."""

from django import forms

from upgrades import subscriptions
from upgrades.models import Webhook
from upgrades.notifications.webhook_urls import MAX_URL_LENGTH


class WebhookForm(forms.Form):
    url = forms.CharField(
        label="Webhook URL",
        max_length=MAX_URL_LENGTH,
        widget=forms.URLInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
        help_text="Where to POST each milestone, e.g. a chat's incoming webhook (https://…).",
    )
    format = forms.ChoiceField(
        label="Format",
        choices=Webhook.Format.choices,
        initial=Webhook.Format.JSON,
        widget=forms.RadioSelect,
        help_text="JSON signed with X-Ecportal-Signature, or a Slack-compatible message (text and blocks).",
    )
    events = forms.MultipleChoiceField(
        label="Milestones",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every milestone listed here.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["events"].choices = subscriptions.event_choices(user)
