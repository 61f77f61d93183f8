from django.urls import path
from rest_framework.routers import SimpleRouter

from flags.api.views import FlagEvaluationView, FlagViewSet

router = SimpleRouter(trailing_slash=True)
router.register("flags", FlagViewSet, basename="flag")

# The evaluation path has no trailing slash, so it never shadows a flag's detail URL
# (`flags/<name>/`), not even one named "evaluate".
urlpatterns = [
    path("flags/evaluate", FlagEvaluationView.as_view(), name="flag-evaluate"),
    *router.urls,
]
