"""The persistent Optuna storage of a sweep (``hydra.sweeper.storage`` in ``conf/hparams_search/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def optuna_storage(url: str) -> Any:
    """A persistent Optuna ``RDBStorage`` for ``url`` (e.g. ``sqlite:///<sweep dir>/optuna.db``).

    Why not the plain URL string: optuna 2.10 (the version hydra-optuna-sweeper 1.3 pins) cannot
    create a new RDB storage under SQLAlchemy 2 — it stamps the alembic version on a connection
    that is never committed, then fails its own schema check (``AssertionError``) or hits
    "database is locked". We create the tables and stamp the version in a committed transaction
    first; afterwards optuna's own code finds an initialised database. Idempotent: an existing
    study database is opened unchanged, which is what makes an interrupted study continue.
    """
    import optuna
    import sqlalchemy
    from alembic.migration import MigrationContext
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _VersionManager

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sqlalchemy.create_engine(url)
    try:
        models.BaseModel.metadata.create_all(engine)
        manager = _VersionManager.__new__(_VersionManager)  # only for its alembic script helpers
        manager.url, manager.engine = url, engine
        with engine.begin() as conn:
            context = MigrationContext.configure(conn)
            if context.get_current_revision() is None:
                context.stamp(manager._create_alembic_script(), manager.get_head_version())
    finally:
        engine.dispose()
    return optuna.storages.RDBStorage(url)
