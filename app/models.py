"""Every mapped model, imported once so `Base.metadata` is complete (Alembic, tests)."""

from app import idempotency  # noqa: F401
from app.accounts import models as account_models  # noqa: F401
from app.agents import models as agent_models  # noqa: F401
from app.auth import models as auth_models  # noqa: F401
from app.campaigns import models as campaign_models  # noqa: F401
from app.contacts import models as contact_models  # noqa: F401
from app.db import Base
from app.events import models as event_models  # noqa: F401
from app.quality import models as quality_models  # noqa: F401
from app.queues import models as queue_models  # noqa: F401
from app.reports import models as report_models  # noqa: F401
from app.sla import models as sla_models  # noqa: F401
from app.web import models as web_models  # noqa: F401
from app.webhooks import models as webhook_models  # noqa: F401
from billing import models as billing_models  # noqa: F401
from tenants import models as tenant_models  # noqa: F401

metadata = Base.metadata
