from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from raylane.infra.db.base import Entity, TenantScoped


class UsageDaily(TenantScoped, Entity):
    """LLM usage of one organization on one UTC day."""

    __tablename__ = "usage_daily"

    day: Mapped[date] = mapped_column(Date)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (UniqueConstraint("organization_id", "day"),)
