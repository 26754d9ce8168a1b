from django.urls import re_path

from accounts import apis

# Paths work with and without a trailing slash (the seeds' mobile app sends both).
urlpatterns = [
    re_path(r"^auth/sign-up/?$", apis.SignUpApi.as_view(), name="auth-sign-up"),
    re_path(r"^auth/sign-in/?$", apis.SignInApi.as_view(), name="auth-sign-in"),
    re_path(r"^auth/token/refresh/?$", apis.TokenRefreshApi.as_view(), name="auth-token-refresh"),
    re_path(r"^auth/sign-out/?$", apis.SignOutApi.as_view(), name="auth-sign-out"),
    re_path(r"^auth/me/?$", apis.MeApi.as_view(), name="auth-me"),
    re_path(r"^business/members/?$", apis.MembersApi.as_view(), name="business-members"),
]
