"""The one exception type for a user's mistake: the CLI prints its message on one line
and exits with code 2, never a traceback. A ``ValueError``, as scikit-learn's input
errors are, so that code catching bad values catches it too."""


class UserError(ValueError):
    """A bad path, a malformed file, an unknown name: something the user can fix."""
