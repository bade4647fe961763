"""Who a user is with respect to one request: requester, contact, EC team (several at once)."""

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connections, router

from upgrades.models import ProviderIdentity, UpgradeRequest
from upgrades.workflow import Role

EC_TEAM_GROUP = "EC team"
OPERATE = "upgrades.operate"


@cache
def _user_sql() -> str:
    """The user's columns and whether they hold OPERATE, directly or through a group, in one statement.
    A user who signs in through the OpenID Connect provider holds it only while the provider says
    they are EC team (`ProviderIdentity.ec_team`, set at each sign-in).

    Written out rather than built by the ORM: every request runs it, and composing the same query
    anew each time cost more than running it (PostgreSQL then plans it once per connection)."""
    user = get_user_model()
    tables = {
        "user": user._meta.db_table,
        "permission": Permission._meta.db_table,
        "content_type": ContentType._meta.db_table,
        "user_permissions": user.user_permissions.through._meta.db_table,
        "user_groups": user.groups.through._meta.db_table,
        "group_permissions": Group.permissions.through._meta.db_table,
        "identity": ProviderIdentity._meta.db_table,
    }
    columns = ", ".join(f'u."{field.column}"' for field in user._meta.concrete_fields)
    return """
        SELECT {columns}, EXISTS (
            SELECT 1 FROM {permission} p JOIN {content_type} ct ON ct.id = p.content_type_id
            WHERE ct.app_label = %s AND p.codename = %s AND (
                p.id IN (SELECT permission_id FROM {user_permissions} WHERE user_id = u.id)
                OR p.id IN (
                    SELECT gp.permission_id FROM {group_permissions} gp
                    JOIN {user_groups} ug ON ug.group_id = gp.group_id WHERE ug.user_id = u.id
                )
            )
        ) AND NOT EXISTS (
            SELECT 1 FROM {identity} i WHERE i.user_id = u.id AND NOT i.ec_team
        ) AS operates
        FROM {user} u WHERE u.id = %s
    """.format(columns=columns, **tables)  # noqa: S608 (names from the models, values as parameters)


@cache
def _converters(connection) -> list[tuple]:
    """(column index, converters, column) for the user's columns that need converting on this
    connection, as the ORM would (e.g. SQLite's datetimes, which come back without a time zone)."""
    model = get_user_model()
    found = []
    for index, field in enumerate(model._meta.concrete_fields):
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        if converters:
            found.append((index, converters, column))
    return found


class PortalBackend(ModelBackend):
    """Django's model backend, but the user of a request is loaded together with whether they may
    operate upgrades (the EC team's permission, held directly or through a group): one query per
    page instead of three, as every page asks."""

    def get_user(self, user_id):
        model = get_user_model()
        try:
            pk = model._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        database = router.db_for_read(model)
        connection = connections[database]
        app_label, codename = OPERATE.split(".")
        with connection.cursor() as cursor:
            cursor.execute(_user_sql(), [app_label, codename, pk])
            row = cursor.fetchone()
        if row is None:
            return None
        values = list(row[:-1])
        for index, converters, column in _converters(connection):
            for convert in converters:
                values[index] = convert(values[index], column, connection)
        user = model.from_db(database, [field.attname for field in model._meta.concrete_fields], values)
        user.operates = bool(row[-1])
        return user if self.user_can_authenticate(user) else None

    def has_perm(self, user_obj, perm, obj=None):
        if perm == OPERATE and obj is None and hasattr(user_obj, "operates"):
            return user_obj.is_active and bool(user_obj.operates)
        if perm == OPERATE and provider_denies_team(user_obj):
            return False
        return super().has_perm(user_obj, perm, obj)


def provider_denies_team(user) -> bool:
    """Whether the OpenID Connect provider said at the user's last sign-in that they are not EC team."""
    return ProviderIdentity.objects.filter(user_id=user.pk, ec_team=False).exists()


def ec_team_group() -> Group:
    """The EC team group with its `operate` permission (a migration creates it; this restores it)."""
    group, _ = Group.objects.get_or_create(name=EC_TEAM_GROUP)
    group.permissions.add(Permission.objects.get(codename="operate", content_type__app_label="upgrades"))
    return group


def is_ec_team(user) -> bool:
    return user.is_authenticated and user.has_perm(OPERATE)


def roles_for(user, request: UpgradeRequest) -> frozenset[Role]:
    """The user's roles on `request`; uses prefetched contacts when they are there."""
    if not user.is_authenticated:
        return frozenset()
    roles = set()
    if is_ec_team(user):
        roles.add(Role.EC_TEAM)
    if request.requester_id == user.pk:
        roles.add(Role.REQUESTER)
    email = (user.email or "").lower()
    if email and any(contact.email.lower() == email for contact in request.contacts.all()):
        roles.add(Role.CONTACT)
    return frozenset(roles)
