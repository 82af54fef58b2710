"""`pocketshop serve` of whichever pocketshop comes first on the path, without migrating.

The benchmark's baseline (`run.py --baseline REV`) runs an older revision's code on the
database the newer code migrated and seeded: its own `serve` would try to migrate that
database down its own history and stop. The older code reads only the columns it knows.

    PYTHONPATH=/tmp/old/src python benchmarks/serve_as_is.py --port 8765
"""

import sys

from pocketshop import cli, migrate


def _already_migrated(*_args: object, **_kwargs: object) -> None:
    """The database is the newer code's, migrated by it."""


if __name__ == "__main__":
    migrate.upgrade = _already_migrated
    sys.exit(cli.main(["serve", *sys.argv[1:]]))
