"""The OFREP endpoints answered to the real OpenFeature Python SDK and its OFREP provider,
over HTTP against a live server (pytest-django's live_server, a real threaded WSGI server)."""

from __future__ import annotations

import uuid

import pytest
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from cbpconfig.models import APIKey
from configuration.services import create_institution
from flags import rollout, services

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _institution(code: str):
    return create_institution(
        data={"code": code, "name": code, "country": code[4:6], "timezone": "Europe/Berlin"}
    )


@pytest.fixture
def data():
    bank = _institution("DEUTDEFF")
    other = _institution("BNPAFRPP")
    services.create_flag(data={"name": "targeted", "institutions": [bank]})
    services.create_flag(data={"name": "killed", "everyone": False})
    services.create_flag(data={"name": "staged", "environment_overrides": {"development": True}})
    services.create_flag(data={"name": "gradual", "rollout_percent": "50"})
    return bank, other


def _key(name, institution=None):
    _, raw = APIKey.objects.create_key(name=name, institution=institution)
    return raw


@pytest.fixture
def client_with(live_server):
    domains: list[str] = []

    def make(raw_key: str):
        domain = f"cbp-{uuid.uuid4().hex}"
        provider = OFREPProvider(
            base_url=live_server.url,
            headers_factory=lambda: {"Authorization": f"Bearer {raw_key}"},
            timeout=10,
        )
        api.set_provider(provider, domain=domain)
        domains.append(domain)
        return api.get_client(domain=domain)

    yield make
    api.clear_providers()


def test_sdk__platform_key__values_and_reasons(client_with, data):
    client = client_with(_key("sdk"))
    bank = EvaluationContext(targeting_key="DEUTDEFF")
    other = EvaluationContext(targeting_key="BNPAFRPP")

    assert client.get_boolean_value("targeted", False, bank) is True
    assert client.get_boolean_value("targeted", True, other) is False

    details = client.get_boolean_details("targeted", False, bank)
    assert (details.value, details.reason, details.variant) == (True, Reason.TARGETING_MATCH, "on")
    assert details.error_code is None
    assert details.flag_metadata == {"version": 1}

    details = client.get_boolean_details("killed", True, bank)
    assert (details.value, details.reason, details.variant) == (False, Reason.STATIC, "off")

    details = client.get_boolean_details("staged", False, bank)
    assert (details.value, details.reason) == (True, Reason.STATIC)

    for code, context in (("DEUTDEFF", bank), ("BNPAFRPP", other)):
        details = client.get_boolean_details("gradual", False, context)
        expected = rollout.bucket("gradual", code) < 50
        assert details.value is expected
        assert details.reason == (Reason.SPLIT if expected else Reason.DEFAULT)


def _platform_details(client_with, flag: str, default: bool, targeting_key: str):
    """The evaluation details of ``flag`` for ``targeting_key``, asked with a platform key."""
    client = client_with(_key("sdk"))
    return client.get_boolean_details(flag, default, EvaluationContext(targeting_key=targeting_key))


def test_sdk__unknown_flag__default_with_flag_not_found(client_with, data):
    details = _platform_details(client_with, "no-such-flag", True, "DEUTDEFF")
    assert details.value is True
    assert details.error_code == ErrorCode.FLAG_NOT_FOUND
    assert details.reason == Reason.ERROR


def test_sdk__missing_targeting_key__default_with_targeting_key_missing(client_with, data):
    client = client_with(_key("sdk"))
    details = client.get_boolean_details("targeted", True, EvaluationContext(attributes={"x": 1}))
    assert details.value is True
    assert details.error_code == ErrorCode.TARGETING_KEY_MISSING


def test_sdk__unknown_institution__default_with_invalid_context(client_with, data):
    details = _platform_details(client_with, "targeted", True, "ZZZZZZZZ")
    assert details.value is True
    assert details.error_code == ErrorCode.INVALID_CONTEXT


def test_sdk__institution_key__own_institution_only(client_with, data):
    bank, _ = data
    client = client_with(_key("bank-sdk", institution=bank))
    details = client.get_boolean_details(
        "targeted", False, EvaluationContext(targeting_key="DEUTDEFF")
    )
    assert (details.value, details.reason) == (True, Reason.TARGETING_MATCH)
    refused = client.get_boolean_details(
        "targeted", False, EvaluationContext(targeting_key="BNPAFRPP")
    )
    assert refused.value is False
    assert refused.error_code == ErrorCode.GENERAL  # the provider's mapping of a 403
    assert refused.error_message == "forbidden"


def test_sdk__bad_key__default_with_error(client_with, data):
    client = client_with("not.a-key")
    details = client.get_boolean_details(
        "targeted", False, EvaluationContext(targeting_key="DEUTDEFF")
    )
    assert details.value is False
    assert details.error_code == ErrorCode.GENERAL
    assert details.error_message == "unauthorized"


def test_sdk__kill_switch__seen_on_next_evaluation(client_with, data):
    from flags.models import Flag

    client = client_with(_key("sdk"))
    context = EvaluationContext(targeting_key="DEUTDEFF")
    assert client.get_boolean_value("targeted", False, context) is True
    services.set_everyone(flag=Flag.objects.get(name="targeted"), everyone=False)
    details = client.get_boolean_details("targeted", True, context)
    assert (details.value, details.reason) == (False, Reason.STATIC)
