"""Android runtime permissions through python-for-android's ``android.permissions``.

:class:`AndroidPermissions` implements the controller's ``Permissions`` interface; *which*
permissions are asked for and what a refusal means is the controller's rule
(:mod:`edge_app.app.controller`). The ``android`` module exists only inside an APK, so it is
imported on first use, or handed in (tests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)


class AndroidPermissions:
    """Check and request permissions by name (``"CAMERA"``, ``"READ_MEDIA_IMAGES"``).

    Names this Android version does not know (``READ_MEDIA_IMAGES`` before Android 13) are
    skipped.

    Args:
        api: the ``android.permissions`` module (default: imported on first use).
    """

    def __init__(self, api: Any = None) -> None:
        self._api = api

    def _module(self) -> Any:
        if self._api is None:
            from android import permissions

            self._api = permissions
        return self._api

    def _known(self, names: Sequence[str]) -> list[str]:
        permission = self._module().Permission
        return [getattr(permission, n) for n in names if hasattr(permission, n)]

    def granted(self, names: Sequence[str]) -> bool:
        """Whether one of ``names`` is granted already."""
        check = self._module().check_permission
        return any(check(p) for p in self._known(names))

    def request(self, names: Sequence[str], answered: Callable[[list[bool]], None]) -> None:
        """Show Android's dialog; ``answered(grants)`` is called (from Android's thread) with
        one bool per permission asked, an empty list when none is known here."""
        wanted = self._known(names)
        if not wanted:
            log.warning("none of %s exists on this Android version", ", ".join(names))
            answered([])
            return
        self._module().request_permissions(wanted, lambda _names, grants: answered(list(grants)))
