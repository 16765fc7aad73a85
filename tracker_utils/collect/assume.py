"""``sts:AssumeRole`` into a member account's role: a boto3 session whose credentials botocore refreshes.

The role is assumed with the caller's credentials (the standard chain, or ``profile``), under a fixed session name
(``ROLE_SESSION_NAME``, so CloudTrail names the kit) for ``DURATION_SECONDS``; botocore refreshes the credentials
before they expire (``RefreshableCredentials``), so a long collection never stops on an expired token.
"""
from __future__ import annotations

from typing import Any

ROLE_SESSION_NAME = "bedrock-usage-tracker"
DURATION_SECONDS = 3600          # the default maximum session duration of a role


def assumed_session(base: Any, role_arn: str, region: str, endpoint_url: str | None = None,
                    session_name: str = ROLE_SESSION_NAME, duration: int = DURATION_SECONDS) -> Any:
    """A boto3 Session in ``region`` with the credentials of ``role_arn``, assumed through ``base`` (a boto3
    Session) and refreshed by botocore when they near their expiry."""
    import boto3
    from botocore.credentials import RefreshableCredentials
    from botocore.session import get_session

    sts = base.client("sts", region_name=region, endpoint_url=endpoint_url)

    def refresh() -> dict:
        c = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=duration)["Credentials"]
        return {"access_key": c["AccessKeyId"], "secret_key": c["SecretAccessKey"], "token": c["SessionToken"],
                "expiry_time": c["Expiration"].isoformat()}

    creds = RefreshableCredentials.create_from_metadata(metadata=refresh(), refresh_using=refresh,
                                                        method="sts-assume-role")
    core = get_session()
    core._credentials = creds          # botocore's documented way to give a session refreshable credentials
    core.set_config_variable("region", region)
    return boto3.Session(botocore_session=core, region_name=region)
