"""API: environments: list, get, create, delete and recover, change type, administration mode."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Status
from pydantic import StrictBool

from environments import permissions, services
from environments.lookups import deleted_environment, environment_for_admin, require_admin_center
from environments.models import Environment, EnvironmentState, EnvironmentType, slug_validator
from environments.services import RESERVED_SLUGS
from portal.api.errors import error_responses
from portal.api.schemas import ENVIRONMENT_REF, CamelSchema, Name, Stated, Text

# A new environment's URL name, as environments.models.slug_validator takes it (the service
# says what is wrong with one, 422); "new" and "deleted" are the portal's own pages.
Slug = Annotated[
    str,
    Field(max_length=63),
    Stated(pattern=slug_validator.regex.pattern, **{"not": {"enum": sorted(RESERVED_SLUGS)}}),
]


router = Router(tags=["environments"], by_alias=True)

EnvironmentTypeName = Literal[tuple(EnvironmentType.values)]  # type: ignore[valid-type]
RegionName = Literal[tuple(code for code, _ in settings.REGIONS)]  # type: ignore[valid-type]
StateName = Literal[tuple(EnvironmentState.values)]  # type: ignore[valid-type]
EnvRef = Path(..., description=ENVIRONMENT_REF, max_length=100)


class EnvironmentOut(CamelSchema):
    id: int
    slug: str = Field(description="The URL name: unique, usable wherever an environment is named.")
    name: str
    type: EnvironmentTypeName
    state: StateName
    region: RegionName
    url: str
    version: str
    security_group_id: str = Field(description="Empty when the environment has none.")
    admin_mode: bool
    background_operations: bool
    restorable_days: int = Field(description="Length of the restorable window (system backups).")
    created_date_time: datetime.datetime
    expiration_date_time: datetime.datetime | None = Field(
        description="A trial's end (30 days after it was made); null for other types."
    )
    deleted_date_time: datetime.datetime | None = Field(
        description="When it was deleted; null unless it is."
    )
    recoverable_until_date_time: datetime.datetime | None = Field(
        description="A deleted environment can be recovered until then (7 days)."
    )


def environment_out(env: Environment) -> dict:
    return {
        "id": env.pk,
        "slug": env.slug,
        "name": env.name,
        "type": env.type,
        "state": env.state,
        "region": env.region,
        "url": env.url,
        "version": env.version,
        "security_group_id": env.security_group,
        "admin_mode": env.admin_mode,
        "background_operations": env.background_operations,
        "restorable_days": env.retention.days,
        "created_date_time": env.created_at,
        "expiration_date_time": env.expires_at,
        "deleted_date_time": env.deleted_at,
        "recoverable_until_date_time": env.recoverable_until,
    }


class EnvironmentIn(CamelSchema):
    name: Name(100) = Field(
        description="Unique among environments that are not deleted, case and spacing aside "
        "(`Contoso  Sales` is `contoso sales`); a name in use is refused (422)."
    )
    slug: Slug = Field(
        description="The URL name: lowercase letters, digits and hyphens, starting and ending "
        "with a letter or digit; not `new` or `deleted`."
    )
    type: EnvironmentTypeName = Field(
        description="Trial environments expire after 30 days and are not backed up; a tenant "
        "has one Default environment."
    )
    region: RegionName
    security_group_id: Text(100) = ""


class EnvironmentFilter(CamelSchema):
    type: EnvironmentTypeName | None = None
    region: RegionName | None = None


class ChangeTypeIn(CamelSchema):
    # Any type name is taken, so that the service says why the others cannot be (422).
    type: Annotated[
        EnvironmentTypeName,
        Stated(enum=[EnvironmentType.SANDBOX.value, EnvironmentType.PRODUCTION.value]),
    ] = Field(description="`sandbox` or `production`; only those two convert to each other.")


class AdminModeIn(CamelSchema):
    enabled: StrictBool = Field(description="`true` or `false` (not 0, 1 or a string).")


@router.get(
    "/environments",
    response={200: list[EnvironmentOut], **error_responses(403)},
    summary="List the environments you manage",
)
def environment_list(request: HttpRequest, filters: Query[EnvironmentFilter]):
    require_admin_center(request.auth)
    environments = permissions.manageable_environments(request.auth).order_by("name")
    if filters.type:
        environments = environments.filter(type=filters.type)
    if filters.region:
        environments = environments.filter(region=filters.region)
    return [environment_out(env) for env in environments]


@router.post(
    "/environments",
    response={201: EnvironmentOut, **error_responses(403, 422)},
    summary="Create an empty environment",
    description="Global and Power Platform admins only. Refused (422) when the URL name is "
    "taken or reserved, when a Default environment exists already, or when less than 1 GB of "
    "the tenant's storage capacity would remain free.",
)
def environment_create(request: HttpRequest, payload: EnvironmentIn):
    require_admin_center(request.auth)
    env = services.environment_create(
        actor=request.auth,
        name=payload.name,
        slug=payload.slug,
        type=payload.type,
        region=payload.region,
        security_group=payload.security_group_id,
    )
    return Status(201, environment_out(env))


@router.get(
    "/environments/{environment}",
    response={200: EnvironmentOut, **error_responses(403, 404)},
    summary="Get one environment",
)
def environment_get(request: HttpRequest, environment: str = EnvRef):
    return environment_out(environment_for_admin(request.auth, environment))


@router.post(
    "/environments/{environment}/change-type",
    response={200: EnvironmentOut, **error_responses(403, 404, 409, 422, 429)},
    summary="Convert production to sandbox, or sandbox to production",
    description="Converting production to sandbox shortens the restorable window to "
    "7 days: moments older than that can no longer be restored.",
)
def environment_change_type(request: HttpRequest, payload: ChangeTypeIn, environment: str = EnvRef):
    env = environment_for_admin(request.auth, environment)
    env = services.environment_change_type(
        environment=env, new_type=payload.type, actor=request.auth
    )
    return environment_out(env)


@router.post(
    "/environments/{environment}/admin-mode",
    response={200: EnvironmentOut, **error_responses(403, 404, 409, 429)},
    summary="Turn administration mode on or off",
)
def environment_admin_mode(request: HttpRequest, payload: AdminModeIn, environment: str = EnvRef):
    env = environment_for_admin(request.auth, environment)
    env = services.environment_set_admin_mode(
        environment=env, enabled=payload.enabled, actor=request.auth
    )
    return environment_out(env)


class DeleteQuery(CamelSchema):
    confirm_production: bool = Field(
        False, description="Needed to delete a production environment: `true`."
    )


@router.delete(
    "/environments/{environment}",
    response={200: EnvironmentOut, **error_responses(403, 404, 409, 422, 429)},
    summary="Delete an environment (recoverable for 7 days)",
    description="It is out of sight at once; a Global or Power Platform admin can recover it "
    "for 7 days (`/deleted-environments`), then a purge removes it for good. A production "
    "environment needs `confirmProduction=true`; the Default environment cannot be deleted.",
)
def environment_delete(request: HttpRequest, query: Query[DeleteQuery], environment: str = EnvRef):
    env = environment_for_admin(request.auth, environment)
    env = services.environment_delete(
        environment=env,
        actor=request.auth,
        confirm_name=env.name,  # the name typed in the browser: the path names it here
        confirm_production=query.confirm_production,
    )
    return environment_out(env)


@router.get(
    "/deleted-environments",
    response={200: list[EnvironmentOut], **error_responses(403)},
    summary="List the deleted environments that can still be recovered",
)
def deleted_environment_list(request: HttpRequest):
    require_admin_center(request.auth)
    decision = permissions.can_recover_environments(request.auth)
    if not decision:
        raise PermissionDenied(decision.reason)
    return [environment_out(env) for env in services.recoverable_environments()]


class RecoverQuery(CamelSchema):
    name: Name(100) | None = Field(
        None,
        description="A new name, needed when a live environment took this one's name since it "
        "was deleted (names are unique among live environments, case and spacing aside).",
    )


@router.post(
    "/deleted-environments/{environment}/recover",
    response={200: EnvironmentOut, **error_responses(403, 404, 409, 422, 429)},
    summary="Recover a deleted environment, as it was (within 7 days)",
)
def environment_recover(
    request: HttpRequest, query: Query[RecoverQuery], environment: str = EnvRef
):
    require_admin_center(request.auth)
    env = deleted_environment(request.auth, environment)
    return environment_out(
        services.environment_recover(environment=env, actor=request.auth, name=query.name)
    )
