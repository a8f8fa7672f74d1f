"""Start-up provisioning of InfluxDB: database/bucket, retention and (2.x) the DBRP mapping that
lets InfluxQL on ``/query`` find the bucket. Each step only creates what is missing, so it is safe
to run from every minewatch process at every start."""

from __future__ import annotations

import logging

import urllib3.exceptions
from influxdb_client import BucketRetentionRules, InfluxDBClient
from influxdb_client.domain.dbrp_create import DBRPCreate
from influxdb_client.rest import ApiException
from influxdb_client.service.dbr_ps_service import DBRPsService

from minewatch.config.storage import InfluxSettings
from minewatch.store.base import StoreUnavailable
from minewatch.store.influx_http import InfluxQL, StoreAuthError, auth_error
from minewatch.store.lineproto import quote_ident

log = logging.getLogger(__name__)


def ensure_v1(ql: InfluxQL, settings: InfluxSettings, retention_days: int) -> None:
    """Database (with ``retention_days`` on its default policy) and the named policy, if missing."""
    dbs = _values(ql.run("SHOW DATABASES", with_db=False))
    db = quote_ident(settings.database)
    if settings.database not in dbs:
        if not settings.create:
            raise StoreUnavailable(
                f"InfluxDB database {settings.database!r} does not exist and "
                f"storage.influxdb.create is false"
            )
        _admin(ql, f"CREATE DATABASE {db} WITH DURATION {retention_days}d", settings)
        log.info(
            "created InfluxDB database %s (retention %d days)", settings.database, retention_days
        )
    rp = settings.retention_policy
    if rp and rp not in _values(ql.run(f"SHOW RETENTION POLICIES ON {db}", with_db=False)):
        if not settings.create:
            raise StoreUnavailable(
                f"InfluxDB retention policy {rp!r} on {settings.database!r} does not exist "
                f"and storage.influxdb.create is false"
            )
        _admin(
            ql,
            f"CREATE RETENTION POLICY {quote_ident(rp)} ON {db} DURATION {retention_days}d "
            "REPLICATION 1",
            settings,
        )
        log.info(
            "created InfluxDB retention policy %s on %s (%d days)",
            rp,
            settings.database,
            retention_days,
        )


def _admin(ql: InfluxQL, statement: str, settings: InfluxSettings) -> None:
    try:
        ql.run(statement, with_db=False)
    except (StoreAuthError, ValueError) as exc:
        raise StoreAuthError(
            f"InfluxDB at {settings.url}: cannot run {statement!r}: {exc}. Create it by hand "
            f"or use a user with admin rights"
        ) from exc


def ensure_v2(client: InfluxDBClient, settings: InfluxSettings, retention_days: int) -> None:
    """Bucket with an expiry of ``retention_days`` and a default DBRP mapping database/rp →
    bucket."""
    try:
        orgs = client.organizations_api().find_organizations(org=settings.org)
        if not orgs:
            raise StoreUnavailable(
                f"InfluxDB organisation {settings.org!r} does not exist at {settings.url}"
            )
        org_id = orgs[0].id
        buckets = client.buckets_api()
        bucket = buckets.find_bucket_by_name(settings.bucket)
        if bucket is None:
            if not settings.create:
                raise StoreUnavailable(
                    f"InfluxDB bucket {settings.bucket!r} does not exist and "
                    f"storage.influxdb.create is false"
                )
            rules = BucketRetentionRules(type="expire", every_seconds=retention_days * 86400)
            bucket = buckets.create_bucket(
                bucket_name=settings.bucket, org_id=org_id, retention_rules=rules
            )
            log.info(
                "created InfluxDB bucket %s (retention %d days)", settings.bucket, retention_days
            )
        rp = settings.retention_policy or "autogen"
        dbrps = DBRPsService(client.api_client)
        if not dbrps.get_dbr_ps(org_id=org_id, db=settings.database, rp=rp).content:
            dbrps.post_dbrp(
                DBRPCreate(
                    org_id=org_id,
                    bucket_id=bucket.id,
                    database=settings.database,
                    retention_policy=rp,
                    default=True,
                )
            )
            log.info(
                "created DBRP mapping %s/%s -> bucket %s", settings.database, rp, settings.bucket
            )
    except ApiException as exc:
        if exc.status in (401, 403):
            raise auth_error(settings, exc.status, str(exc.body or exc.reason)) from exc
        raise StoreUnavailable(
            f"InfluxDB set-up at {settings.url}: HTTP {exc.status}: {exc.body!r}"
        ) from exc
    except urllib3.exceptions.HTTPError as exc:
        raise StoreUnavailable(
            f"InfluxDB set-up at {settings.url}: {type(exc).__name__}: {exc}"
        ) from exc


def _values(results: list[dict]) -> set[str]:
    """First column of every row of a SHOW statement."""
    return {row[0] for r in results for s in r.get("series", []) for row in s.get("values", [])}
