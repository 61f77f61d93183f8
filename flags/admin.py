"""Flags in the admin console: institutions, environment overrides, the rollout's reach, and
waffle's own fields for Django users. Every save, action and delete goes through services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.translation import ngettext

from cbpconfig.admin import ServiceModelAdmin, VersionedAdminForm
from flags import rollout, selectors, services
from flags.models import Flag

_STATE_CHOICES = [("", "— not overridden —"), ("on", "on"), ("off", "off")]
_STATE = {"": None, "on": True, "off": False}


def _override_field(env: str) -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=_STATE_CHOICES,
        required=False,
        label=f"{env.capitalize()} override",
        help_text=f"Forces the flag on or off for every institution in {env}.",
    )


class FlagAdminForm(VersionedAdminForm):
    """environment_overrides as one on/off/unset choice per environment, not raw JSON."""

    override_development = _override_field("development")
    override_staging = _override_field("staging")
    override_production = _override_field("production")

    class Meta:
        model = Flag
        exclude = ["environment_overrides"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.environment_overrides if self.instance.pk else {}
        stored = stored if isinstance(stored, dict) else {}
        for env in rollout.ENVIRONMENTS:
            state = stored.get(env)
            self.fields[f"override_{env}"].initial = (
                "" if state is None else ("on" if state else "off")
            )

    def environment_overrides(self) -> dict[str, bool]:
        states = {
            env: _STATE[self.cleaned_data.get(f"override_{env}") or ""]
            for env in rollout.ENVIRONMENTS
        }
        return {env: state for env, state in states.items() if state is not None}

    def overrides_changed(self) -> bool:
        return any(f"override_{env}" in self.changed_data for env in rollout.ENVIRONMENTS)


@admin.action(description="Switch selected flags ON for everyone", permissions=["change"])
def enable_for_everyone(modeladmin, request, queryset):
    modeladmin.set_everyone(request, queryset, True)


@admin.action(
    description="Switch selected flags OFF for everyone (kill switch)", permissions=["change"]
)
def disable_for_everyone(modeladmin, request, queryset):
    modeladmin.set_everyone(request, queryset, False)


@admin.action(
    description="Return selected flags to their rules (everyone: unknown)", permissions=["change"]
)
def reset_everyone(modeladmin, request, queryset):
    modeladmin.set_everyone(request, queryset, None)


@admin.register(Flag)
class FlagAdmin(ServiceModelAdmin):
    form = FlagAdminForm
    list_display = [
        "name",
        "everyone",
        "rollout_percent",
        "institution_count",
        "overrides_display",
        "note",
        "version",
        "modified",
    ]
    list_filter = ["everyone"]
    search_fields = ["name", "note"]
    ordering = ["name"]
    autocomplete_fields = ["institutions"]
    filter_horizontal = ["groups"]
    raw_id_fields = ["users"]
    actions = [enable_for_everyone, disable_for_everyone, reset_everyone]
    fieldsets = [
        (None, {"fields": ["name", "note", "everyone"]}),
        (
            "Institutions",
            {
                "fields": ["rollout_percent", "rollout_reach", "institutions"],
                "description": (
                    "Evaluation for an institution, first rule that applies wins: "
                    "CBP_FLAG_OVERRIDES, the environment override, everyone, the listed "
                    "institutions, then the rollout percentage."
                ),
            },
        ),
        (
            "Environment overrides",
            {"fields": [f"override_{env}" for env in rollout.ENVIRONMENTS]},
        ),
        (
            "Django users (waffle)",
            {
                "classes": ["collapse"],
                "fields": [
                    "percent",
                    "testing",
                    "superusers",
                    "staff",
                    "authenticated",
                    "languages",
                    "rollout",
                    "groups",
                    "users",
                ],
            },
        ),
        (None, {"fields": ["version", "created", "modified", "expected_version"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        fields = [
            *super().get_readonly_fields(request, obj),
            "rollout_reach",
            "created",
            "modified",
        ]
        return [*fields, "name"] if obj is not None else fields

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_institution_count=Count("institutions"))

    @admin.display(description="institutions", ordering="_institution_count")
    def institution_count(self, obj):
        return getattr(obj, "_institution_count", None)

    @admin.display(description="environment overrides")
    def overrides_display(self, obj):
        overrides = obj.environment_overrides or {}
        return (
            ", ".join(f"{env}: {'on' if state else 'off'}" for env, state in overrides.items())
            or "—"
        )

    @admin.display(description="Rollout reach")
    def rollout_reach(self, obj):
        """Share of active institutions the stored rules turn on (everyone, the listed
        institutions and the percentage; before environment and deployment overrides)."""
        if obj is None or obj.pk is None:
            return "— (save the flag to see its reach)"
        share, active = selectors.rollout_share_of_active(obj)
        reached = round(share * active)
        return (
            f"{share:.1%} of active institutions ({reached} of {active}), before environment "
            "and CBP_FLAG_OVERRIDES overrides"
        )

    # -- saving through services ------------------------------------------------------------

    def _data(self, obj, form, *, changed_only: bool) -> dict:
        if changed_only:
            data = self.changed_data_of(obj, form)
        else:
            names = {f.name for f in obj._meta.concrete_fields}
            data = {n: getattr(obj, n) for n in form.cleaned_data if n in names}
        for name in services.M2M_FIELDS:
            if name in form.cleaned_data and (not changed_only or name in form.changed_data):
                data[name] = list(form.cleaned_data[name])
        if not changed_only or form.overrides_changed():
            data["environment_overrides"] = form.environment_overrides()
        return data

    def service_create(self, obj, form):
        return services.create_flag(data=self._data(obj, form, changed_only=False))

    def service_update(self, obj, form, expected_version):
        return services.update_flag(
            flag=obj,
            data=self._data(obj, form, changed_only=True),
            expected_version=expected_version,
        )

    def service_delete(self, obj):
        services.delete_flag(flag=obj)

    def save_related(self, request, form, formsets, change):
        # The service has set the many-to-many fields already (audited, invalidated).
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def set_everyone(self, request, queryset, everyone):
        count = 0
        for flag in queryset:
            services.set_everyone(flag=flag, everyone=everyone)
            count += 1
        state = {True: "on for everyone", False: "off for everyone", None: "back to the rules"}
        self.message_user(
            request,
            ngettext("%(n)d flag switched %(s)s.", "%(n)d flags switched %(s)s.", count)
            % {"n": count, "s": state[everyone]},
            messages.SUCCESS,
        )
