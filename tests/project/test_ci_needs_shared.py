"""Tests that need ../shared skip on a machine without it, but fail under CI (CI=true)."""

from __future__ import annotations

import pytest

from tests.conftest import missing


def test_missing_shared_data_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not found"):
        missing("shared folder not found at /nowhere")


def test_missing_shared_data_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        missing("shared folder not found at /nowhere")


def test_a_missing_dev_package_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import require_module

    assert require_module("json").dumps([1]) == "[1]"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"pip install -e '\.\[dev\]'"):
        require_module("robustlens_no_such_package")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_module("robustlens_no_such_package")
