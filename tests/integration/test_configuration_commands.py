"""export_configuration / import_configuration: round trip, diff, all-or-nothing refusals."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from cbpconfig.models import AuditEntry
from configuration import selectors, services
from configuration.models import Configuration, ConfigurationValue
from tests.factories import make_institution

pytestmark = pytest.mark.django_db


def T(month: int, day: int = 1) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC)


@pytest.fixture
def banks(db):
    return make_institution("DEUTDEFF"), make_institution("BNPAFRPP")


@pytest.fixture
def populated(banks):
    bank, other = banks
    limit = services.create_configuration(
        data={
            "key": "payments.limit",
            "description": "Largest payment",
            "value_type": "decimal",
            "schema": {"type": "string", "maxLength": 40},
            "default": "1000.00",
        }
    )
    for value, institution, at in [
        ("2000.00", None, T(1)),
        ("123456789012345678901234.000000001", None, T(6)),
        ("5000.50", bank, T(3)),
        ("7.000", other, T(9)),
    ]:
        services.create_value(
            configuration=limit,
            data={"value": value, "institution": institution, "effective_from": at},
        )
    rules = services.create_configuration(
        data={"key": "routing.rules", "value_type": "json", "default": {"a": [1, 2.5, None]}}
    )
    services.create_value(
        configuration=rules,
        data={"value": {"yes": "no", "on": True, "nested": {"x": []}}, "effective_from": T(2)},
    )
    secret = services.create_configuration(
        data={"key": "gateway.secret", "value_type": "string", "is_sensitive": True}
    )
    services.create_value(
        configuration=secret,
        data={"value": "hush", "institution": bank, "effective_from": T(1, 15)},
    )
    services.create_configuration(data={"key": "feature.on", "value_type": "boolean"})
    return banks


def answers(codes, instants) -> dict:
    """Resolved answers for each institution and instant (clear), from the uncached selector."""
    from configuration.models import Institution

    result = {}
    for code in codes:
        institution = Institution.objects.get(code=code)
        for at in instants:
            resolved = selectors.resolve_institution_uncached(institution=institution, at=at)
            result[(code, at)] = {
                key: (entry.value, entry.source, entry.effective_from)
                for key, entry in resolved.resolved.items()
            }
    return result


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


INSTANTS = [T(1), T(2, 15), T(5), T(7), T(12)]


def test_export_then_import_into_empty_database__same_resolved_answers(populated, tmp_path):
    before = answers(["DEUTDEFF", "BNPAFRPP"], INSTANTS)
    path = tmp_path / "conf.yaml"
    printed = run("export_configuration", "--output", str(path))
    assert str(path) in printed
    document = yaml.safe_load(path.read_text())
    assert document["format"] == "cbp-configuration/1"
    assert [c["key"] for c in document["configurations"]] == [
        "feature.on",
        "gateway.secret",
        "payments.limit",
        "routing.rules",
    ]
    # Empty the configuration (institutions stay), then import.
    for configuration in Configuration.objects.all():
        services.delete_configuration(configuration=configuration)
    assert not ConfigurationValue.objects.exists()
    output = run("import_configuration", str(path))
    assert "+ configuration payments.limit (decimal)" in output
    assert "applied: 4 configurations created, 6 values created" in output
    assert answers(["DEUTDEFF", "BNPAFRPP"], INSTANTS) == before
    assert Configuration.objects.get(key="gateway.secret").is_sensitive
    # Every digit of the decimal survived the trip.
    assert ConfigurationValue.objects.filter(value="123456789012345678901234.000000001").exists()
    # The import is audited as the command; the secret is masked in the audit and the output.
    entries = AuditEntry.objects.filter(actor_name="system:import_configuration")
    assert entries.count() == 10
    assert "hush" not in output
    assert "hush" not in str([e.changes for e in entries])
    # A second import of the same file changes nothing.
    assert "no changes" in run("import_configuration", str(path))


def test_export__to_stdout_is_yaml(populated):
    text = run("export_configuration")
    document = yaml.safe_load(text)
    limit = next(c for c in document["configurations"] if c["key"] == "payments.limit")
    assert limit["default"] == "1000.00"
    assert {
        "institution": "DEUTDEFF",
        "effective_from": "2026-03-01T00:00:00Z",
        "value": "5000.50",
    } in (limit["values"])


def _write(tmp_path, document) -> str:
    path = tmp_path / "in.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return str(path)


def test_import__dry_run_prints_difference_changes_nothing(populated, tmp_path):
    document = yaml.safe_load(run("export_configuration"))
    limit = next(c for c in document["configurations"] if c["key"] == "payments.limit")
    limit["description"] = "Changed"
    limit["values"] = [v for v in limit["values"] if v["institution"] != "BNPAFRPP"]
    limit["values"][0]["value"] = "2500.00"
    limit["values"].append(
        {"institution": "BNPAFRPP", "effective_from": "2026-12-01T00:00:00Z", "value": "1.00"}
    )
    path = _write(tmp_path, document)
    versions = {c.key: c.version for c in Configuration.objects.all()}
    values = ConfigurationValue.objects.count()
    output = run("import_configuration", path, "--dry-run")
    assert "~ configuration payments.limit: description" in output
    assert "- value payments.limit [BNPAFRPP] from 2026-09-01T00:00:00Z" in output
    assert '~ value payments.limit [global] from 2026-01-01T00:00:00Z: "2000.00" -> "2500.00"' in (
        output
    )
    assert "+ value payments.limit [BNPAFRPP] from 2026-12-01T00:00:00Z" in output
    assert "dry run:" in output
    assert "nothing changed" in output
    assert {c.key: c.version for c in Configuration.objects.all()} == versions
    assert ConfigurationValue.objects.count() == values
    applied = run("import_configuration", path)
    assert "1 configurations updated, 1 values created, 1 values updated, 1 values deleted" in (
        applied
    )
    assert Configuration.objects.get(key="payments.limit").description == "Changed"


def test_import__type_change_with_changed_values__applied(populated, tmp_path):
    document = yaml.safe_load(run("export_configuration"))
    limit = next(c for c in document["configurations"] if c["key"] == "payments.limit")
    limit.update({"value_type": "integer", "schema": None, "default": 1000})
    limit["values"] = [
        {"institution": None, "effective_from": "2026-01-01T00:00:00Z", "value": 2000},
        {"institution": "DEUTDEFF", "effective_from": "2026-03-01T00:00:00Z", "value": 5000},
    ]
    run("import_configuration", _write(tmp_path, document))
    configuration = Configuration.objects.get(key="payments.limit")
    assert configuration.value_type == "integer"
    assert sorted(configuration.values.values_list("value", flat=True)) == [2000, 5000]


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            lambda c: c["values"].append(
                {"institution": "NOPEDEFF", "effective_from": "2026-01-01T00:00:00Z", "value": "1"}
            ),
            "payments.limit) values[4] (NOPEDEFF): unknown institution NOPEDEFF",
        ),
        (lambda c: c["values"][0].update(value=12.5), "JSON strings"),
        (lambda c: c["values"][0].update(value="1" * 50), "schema"),
        (lambda c: c.update(value_type="float"), "value_type must be one of"),
        (lambda c: c.update(schema={"type": 12}), "not a valid JSON Schema"),
        (lambda c: c.update(default="1" * 41), "default does not satisfy the schema"),
        (lambda c: c.update(key="Payments"), "not a valid key"),
        (
            lambda c: c["values"][0].update(effective_from="2026-01-01T00:00:00"),
            "Z or a UTC offset",
        ),
        (lambda c: c["values"].append(dict(c["values"][0])), "a second value for global"),
        (lambda c: c.update(colour="red"), "unknown field(s) colour"),
    ],
)
def test_import__invalid_entry__whole_file_refused_nothing_changed(
    populated, tmp_path, mutate, fragment
):
    document = yaml.safe_load(run("export_configuration"))
    # A valid new configuration first: it must not be applied either.
    document["configurations"].insert(0, {"key": "aaa.new", "value_type": "string"})
    limit = next(c for c in document["configurations"] if c["key"] == "payments.limit")
    mutate(limit)
    path = _write(tmp_path, document)
    entries = AuditEntry.objects.count()
    with pytest.raises(CommandError) as error:
        run("import_configuration", path)
    message = str(error.value)
    assert "\n" not in message
    assert fragment in message, message
    assert not Configuration.objects.filter(key="aaa.new").exists()
    assert AuditEntry.objects.count() == entries


def test_import__not_yaml_or_missing_file__refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("configurations: [unclosed")
    with pytest.raises(CommandError, match="not valid YAML"):
        run("import_configuration", str(bad))
    with pytest.raises(CommandError, match="cannot read"):
        run("import_configuration", str(tmp_path / "missing.yaml"))
