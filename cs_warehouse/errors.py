"""Exceptions whose message is meant for the user: `csw` prints it without a traceback."""


class CswError(Exception):
    """A problem the user can fix; the message names the file, row or column and what to do."""


class LandingError(CswError):
    """A landing file breaks the landing contract in a way that cannot be quarantined row by row."""
