"""Android runtime permissions through python-for-android's ``android.permissions``.

:class:`AndroidPermissions` implements the controller's ``Permissions`` interface, and
:func:`when_granted` asks through it; *which* permissions are asked for and what a refusal means
is the controller's rule (:mod:`edge_app.app.controller`). The ``android`` module exists only
inside an APK, so it is imported on first use, or handed in (tests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from edge_app.app.ports import Permissions

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


def when_granted(
    permissions: Permissions | None,
    names: Sequence[str],
    then: Callable[[], None],
    *,
    on_ui: Callable[[Callable[..., None]], Callable[..., None]],
    on_refused: Callable[[], None] | None = None,
    any_of: bool = False,
) -> None:
    """Run ``then`` once ``names`` are granted (``any_of``: one of them is enough).

    Args:
        permissions: where to ask; None where there are none to ask (all granted).
        names: the permissions wanted.
        then: what needs them; runs now when granted already.
        on_ui: hops the answer (which comes from any thread) back onto the UI thread.
        on_refused: what to do when refused; None: ``then`` anyway (the photo chooser).
    """
    if permissions is None or permissions.granted(names):
        then()
        return

    def answered(grants: list[bool]) -> None:
        ok = any(grants) if any_of else bool(grants) and all(grants)
        (then if ok or on_refused is None else on_refused)()

    permissions.request(list(names), on_ui(answered))
