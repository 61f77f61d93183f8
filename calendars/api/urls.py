"""Calendars API routes.

The contract's spellings are the canonical ones (and the only ones in the schema); the
business-day answers and the import also answer with a trailing slash, since clients add one
out of habit.
"""

from django.urls import path
from rest_framework.routers import SimpleRouter

from calendars.api import views

router = SimpleRouter(trailing_slash=True)
router.register("calendars", views.CalendarViewSet, basename="calendar")

holiday_list = views.HolidayViewSet.as_view({"get": "list", "post": "create"})
holiday_detail = views.HolidayViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
)

BUSINESS_DAY_VIEWS = {
    "check": views.CheckView,
    "add": views.AddView,
    "adjust": views.AdjustView,
    "next": views.NextView,
    "previous": views.PreviousView,
    "count": views.CountView,
}

# The hot business-day routes first: URL resolution tries patterns in order.
urlpatterns = []
for _name, _view in BUSINESS_DAY_VIEWS.items():
    urlpatterns += [
        path(
            f"calendars/<str:codes>/business-days/{_name}",
            _view.as_view(),
            name=f"business-days-{_name}",
        ),
        path(f"calendars/<str:codes>/business-days/{_name}/", views.alias(_view).as_view()),
    ]
urlpatterns += [
    path(
        "calendars/<str:codes>/business-days",
        views.ListView.as_view(),
        name="business-days-list",
    ),
    path("calendars/<str:codes>/business-days/", views.alias(views.ListView).as_view()),
    path(
        "calendars/<str:code>/holidays/import",
        views.HolidayImportView.as_view(),
        name="calendar-holidays-import",
    ),
    path(
        "calendars/<str:code>/holidays/import/",
        views.alias(views.HolidayImportView).as_view(),
    ),
    path(
        "calendars/<str:code>/holidays.ics",
        views.HolidayFeedView.as_view(),
        name="calendar-holidays-ics",
    ),
    path("calendars/<str:code>/holidays/", holiday_list, name="calendar-holidays"),
    path("calendars/<str:code>/holidays/<str:date>/", holiday_detail, name="calendar-holiday"),
]
urlpatterns += router.urls
