"""OpenFeature Remote Evaluation Protocol, mounted under /ofrep/v1/."""

from django.urls import path

from flags.api.views import OFREPBulkView, OFREPFlagView

urlpatterns = [
    path("evaluate/flags", OFREPBulkView.as_view(), name="ofrep-evaluate-flags"),
    path("evaluate/flags/<str:key>", OFREPFlagView.as_view(), name="ofrep-evaluate-flag"),
]
