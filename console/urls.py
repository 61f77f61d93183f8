"""The console's pages, tried before the admin's own patterns under ``/admin/``."""

from django.contrib import admin
from django.urls import path

from console import views

app_name = "console"

wrap = admin.site.admin_view

urlpatterns = [
    path("", wrap(views.home), name="home"),
    path("changes/", wrap(views.change_log), name="changes"),
    path("institutions/<str:code>/", wrap(views.institution_page), name="institution"),
    path(
        "calendars/calendar/<int:pk>/import-holidays/",
        wrap(views.calendar_import),
        name="calendar_import",
    ),
    path(
        "calendars/calendar/<int:pk>/year/<int:year>/toggle/",
        wrap(views.year_toggle),
        name="calendar_year_toggle",
    ),
    path(
        "configuration/configuration/check-value/",
        wrap(views.check_typed_value),
        name="check_typed_value",
    ),
    path(
        "configuration/configuration/<int:pk>/check-value/",
        wrap(views.check_value),
        name="check_value",
    ),
]
