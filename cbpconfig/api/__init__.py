"""Shared DRF plumbing: API keys, scope, ETag/If-Match, errors, pagination, parameters."""
