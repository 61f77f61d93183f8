from rest_framework.routers import SimpleRouter

from configuration.api.views import InstitutionViewSet

router = SimpleRouter(trailing_slash=True)
router.register("institutions", InstitutionViewSet, basename="institution")
urlpatterns = router.urls
