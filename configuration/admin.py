from django.contrib import admin

from cbpconfig.admin import ServiceModelAdmin
from configuration import services
from configuration.models import Institution


@admin.register(Institution)
class InstitutionAdmin(ServiceModelAdmin):
    list_display = ["code", "name", "country", "timezone", "calendar", "is_active", "version"]
    list_filter = ["is_active", "country", "calendar"]
    search_fields = ["code", "name"]
    ordering = ["code"]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "code"] if obj is not None else fields

    def service_create(self, obj, form):
        data = {
            f.name: getattr(obj, f.name)
            for f in obj._meta.concrete_fields
            if f.name in form.cleaned_data
        }
        return services.create_institution(data=data)

    def service_update(self, obj, form, expected_version):
        return services.update_institution(
            institution=obj, data=self.changed_data_of(obj, form), expected_version=expected_version
        )

    def service_delete(self, obj):
        services.delete_institution(institution=obj)
