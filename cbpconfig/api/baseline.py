"""The yardstick of the HTTP benchmarks: a DRF view doing one cache (Redis) GET.

Mounted only when CBP_BENCH_ENDPOINTS is on (development only)."""

from django.core.cache import cache
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class RedisGetView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response({"value": cache.get("bench:baseline")})
