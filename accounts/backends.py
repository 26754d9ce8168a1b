from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    """Email login, case-insensitive. Runs the hasher for unknown emails too, so the response
    time does not reveal whether an account exists."""

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        login = email or username or kwargs.get(get_user_model().USERNAME_FIELD)
        if not login or password is None:
            return None
        user_model = get_user_model()
        try:
            user = user_model.objects.get(email__iexact=login.strip())
        except user_model.DoesNotExist:
            user_model().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
