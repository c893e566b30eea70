"""Every mapped model, imported once so `Base.metadata` is complete (Alembic, tests)."""

from app.auth import models as auth_models  # noqa: F401
from app.db import Base
from tenants import models as tenant_models  # noqa: F401

metadata = Base.metadata
