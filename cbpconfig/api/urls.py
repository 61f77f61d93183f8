from rest_framework.routers import SimpleRouter

from cbpconfig.api.views import AuditLogViewSet

router = SimpleRouter(trailing_slash=True)
router.register("audit-log", AuditLogViewSet, basename="audit-log")
urlpatterns = router.urls
