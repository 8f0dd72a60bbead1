"""`mlstack`: one command in front of every piece; containers run the same commands.

Each subcommand lives beside its service (`services/<name>/cli.py`) and imports its heavy
dependencies inside the function, so `mlstack serve` never pays for the trainer's imports.
"""

from __future__ import annotations

import typer

# Plain help (no rich panels): at 80 columns rich cut the long option names, and it read
# "[env NAME]" in the help texts as markup and dropped it.
app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, rich_markup_mode=None)

# Register each subcommand here, one line per service.
from services.serving.cli import serve  # noqa: E402

app.command("serve")(serve)
from services.demo.cli import demo  # noqa: E402
from services.local.cli import down, status, up  # noqa: E402

app.command("demo")(demo)
app.command("up")(up)
app.command("down")(down)
app.command("status")(status)
from services.trainer.cli import promote, score, train  # noqa: E402

app.command("train")(train)
app.command("score")(score)
app.command("promote")(promote)
from services.tracking.cli import SETTINGS, db_upgrade, tracking  # noqa: E402

app.command("tracking", context_settings=SETTINGS)(tracking)
app.command("db-upgrade")(db_upgrade)
