"""No dataclass shows a secret in its repr: a row or request logged whole (``log.info("%s", job)``, a
traceback's locals) must not carry a key, a token, a webhook secret or a URL that may hold one.

Every dataclass in the project is found by importing every module, so a new one is checked too."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re

# Named like a credential, or a URL a client gave (``?token=…``, ``user:pass@``, a presigned URL).
SECRET_NAME = re.compile(r"(^|_)(secret|token|password|passwd|credentials?|key|url)$")
PACKAGES = ("storage", "bot", "cogs")


def project_dataclasses() -> set[type]:
    found: set[type] = set()
    for package in PACKAGES:
        root = importlib.import_module(package)
        names = [package, *(m.name for m in pkgutil.walk_packages(root.__path__, f"{package}."))]
        for name in names:
            if name.endswith("__main__"):
                continue  # running it is the command line
            module = importlib.import_module(name)
            found.update(
                value
                for value in vars(module).values()
                if isinstance(value, type) and value.__module__ == name and dataclasses.is_dataclass(value)
            )
    return found


def test_no_secret_field_shows_in_a_repr() -> None:
    classes = project_dataclasses()
    names = {cls.__name__ for cls in classes}
    assert {"ApiKeyRow", "WebhookDelivery", "JobRow", "NewJob", "Destination", "NewKey", "Upload"} <= names
    shown = sorted(
        f"{cls.__module__}.{cls.__qualname__}.{field.name}"
        for cls in classes
        for field in dataclasses.fields(cls)
        if SECRET_NAME.search(field.name) and field.repr
    )
    assert shown == []


def test_a_row_repr_keeps_the_rest() -> None:
    from storage import ApiKeyRow, WebhookDelivery

    key = ApiKeyRow(7, 1, "ci", "lk_abcdefg", "whsec_c2VjcmV0", 1.0, None, None)
    hook = "https://h.example/hook?token=t0ken"
    delivery = WebhookDelivery(3, 9, "job.started", hook, "{}", 0, 1.0, "whsec_x")
    assert "whsec_" not in repr(key) and "id=7" in repr(key) and "prefix='lk_abcdefg'" in repr(key)
    assert "t0ken" not in repr(delivery) and "whsec_" not in repr(delivery) and "job_id=9" in repr(delivery)
