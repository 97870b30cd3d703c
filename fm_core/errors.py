"""The one exception type for a user's mistake: the CLI prints its message on one line
and exits with code 2, never a traceback."""


class UserError(Exception):
    """A bad path, a malformed file, an unknown name: something the user can fix."""
