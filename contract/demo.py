"""The Streamlit demo (`mlstack demo`): its spec and variables (services/demo/ reads them)."""

from __future__ import annotations

from types import MappingProxyType

from contract.api import TOKEN_ENV
from contract.env import given
from contract.service import ALL_INTERFACES, ServiceSpec

DEMO_PORT = 8501

DEMO = ServiceSpec(
    name="demo",
    image="mlstack-demo",
    extra="demo",
    args=("mlstack", "demo", "--host", "$(DEMO_HOST)"),  # its own host: the default is loopback
    port=DEMO_PORT,
    env=MappingProxyType({"DEMO_HOST": ALL_INTERFACES, "DEMO_PORT": str(DEMO_PORT)}),
    ready_path="/_stcore/health",
    live_path="/_stcore/health",
)


def demo_env(
    *,
    api_url: str,
    history: str | None = None,
    host: str | None = None,
    port: int | None = None,
    token: str | None = None,
) -> dict[str, str]:
    """`mlstack demo`'s variables (services/demo/). `history` (`DEMO_HISTORY`): a CSV drawn
    instead of the served version's own history, which the API gives."""
    return given(
        DEMO_HOST=host, DEMO_PORT=port, API_URL=api_url, DEMO_HISTORY=history, **{TOKEN_ENV: token}
    )
