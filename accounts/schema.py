from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class TenantJWTScheme(SimpleJWTScheme):
    """Documents TenantJWTAuthentication as the bearer JWT it is."""

    target_class = "accounts.authentication.TenantJWTAuthentication"
    name = "jwtAuth"
